//! Rooms, direct messages, unread badges, mentions and typing, as two people use them:
//! headless Chromium against the real server and the release build of the client.

use e2e::{enter, Harness};

const PASSWORD: &str = "correct horse";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_create_a_room_join_it_and_talk() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    let bob = h.browser().await;
    ada.register("Ada", PASSWORD).await;
    bob.sign_in("Bob").await;

    ada.create_room("Design", false).await;
    ada.wait_for_path("/r/design").await;
    bob.join_room("Design").await;
    bob.wait_for_path("/r/design").await;
    ada.wait_for_log_text("Bob joined #design.").await;

    bob.type_into("Message", "hello design").await;
    bob.type_into("Message", &enter()).await;
    ada.wait_for_line_by("Bob", "hello design", &["Ada"]).await;
    ada.open_room("general").await;
    assert!(
        !ada.log_text()
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
            .contains("hello design"),
        "a room's lines stay in that room"
    );

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_starts_from_the_online_list() {
    let h = Harness::start().await;
    let (ada, bob) = h.two_signed_in("Ada", "Bob").await;

    ada.message_user("Bob").await;
    assert!(
        ada.path().await.starts_with("/dm/"),
        "a DM has its own address"
    );
    ada.type_into("Message", "just between us").await;
    ada.type_into("Message", &enter()).await;

    bob.wait_for_room_badge("Ada", Some("1 unread message"))
        .await;
    bob.open_room("Ada").await;
    bob.wait_for_line_by("Ada", "just between us", &["Bob"])
        .await;
    bob.wait_for_room_badge("Ada", None).await;

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_badge_shows_for_a_room_not_open_and_clears_when_opened() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    let bob = h.browser().await;
    ada.register("Ada", PASSWORD).await;
    bob.sign_in("Bob").await;
    ada.create_room("Ops", false).await;
    bob.join_room("Ops").await;
    bob.open_room("general").await;

    for text in ["deploy at noon", "and a second thing"] {
        ada.type_into("Message", text).await;
        ada.type_into("Message", &enter()).await;
    }
    bob.wait_for_room_badge("Ops", Some("2 unread messages"))
        .await;
    assert_eq!(bob.title().await, "(2) Chat", "the tab's title counts them");

    bob.open_room("Ops").await;
    bob.wait_for_log_text("and a second thing").await;
    bob.wait_for_room_badge("Ops", None).await;
    bob.wait_for_log_text("New messages").await;

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_is_counted_on_the_room_and_highlighted_in_it() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    let bob = h.browser().await;
    ada.register("Ada", PASSWORD).await;
    bob.sign_in("Bob").await;
    ada.create_room("Ops", false).await;
    bob.join_room("Ops").await;
    ada.open_room("general").await;

    bob.type_into("Message", "@Ad").await;
    bob.type_into("Message", "\u{e004}").await; // Tab picks the suggestion.
    assert_eq!(
        bob.value_of("Message").await,
        "@Ada ",
        "the name was completed"
    );
    bob.type_into("Message", "can you look").await;
    bob.type_into("Message", &enter()).await;

    ada.wait_for_room_badge("Ops", Some("1 mention")).await;
    ada.open_room("Ops").await;
    ada.wait_for_line_by("Bob", "mentions you", &["Ada joined"])
        .await;

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_shows_who_types_and_clears_when_the_message_arrives() {
    let h = Harness::start().await;
    let (ada, bob) = h.two_signed_in("Ada", "Bob").await;

    ada.type_into("Message", "thinking").await;
    bob.wait_for_typing("Ada is typing\u{2026}").await;
    ada.type_into("Message", &enter()).await;
    bob.wait_for_log_text("thinking").await;
    bob.wait_for_typing("").await;

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_links_to_a_room_and_a_dm_survive_a_reload() {
    let h = Harness::start().await;
    let (ada, bob) = h.two_signed_in("Ada", "Bob").await;
    ada.message_user("Bob").await;
    let dm = ada.path().await;
    ada.reload().await;
    ada.wait_for_status("Connected").await;
    ada.wait_for_room_heading("Bob").await;
    assert_eq!(ada.path().await, dm);

    let carol = h.browser().await;
    carol.register("Carol", PASSWORD).await;
    carol.create_room("Deep Links", false).await;
    carol.wait_for_path("/r/deep-links").await;
    carol.reload().await;
    carol.wait_for_status("Connected").await;
    carol.wait_for_room_heading("Deep Links").await;
    assert_eq!(carol.path().await, "/r/deep-links");

    ada.close().await;
    bob.close().await;
    carol.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_layout_has_no_horizontal_overflow_and_a_room_drawer() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    ada.client()
        .set_window_size(375, 812)
        .await
        .unwrap_or_else(|err| panic!("cannot resize the window: {err}"));
    ada.register("Ada", PASSWORD).await;
    ada.create_room("A room with a rather long name", false)
        .await;
    assert_eq!(
        ada.horizontal_overflow().await,
        0,
        "nothing scrolls sideways"
    );

    ada.open_room("general").await;
    assert_eq!(
        ada.horizontal_overflow().await,
        0,
        "nor with the drawer used"
    );

    ada.close().await;
}
