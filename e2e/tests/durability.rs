//! What the chat keeps: messages survive a reload and a server restart, late arrivals see
//! what was said before them, a message typed while the server is down arrives exactly once,
//! and an account's name stays its own. Headless Chromium against the real server, as in
//! `browser.rs`.

use e2e::{enter, Harness, Lines, TestServer, WAIT};
use shared::ServerBody;
use std::time::Duration;

/// How long a browser may take to reconnect after a restart: its backoff grows while the
/// server is down.
const RECONNECT: Duration = Duration::from_secs(30);

/// What the server answers a guest who asks for an account's name.
const NAME_BELONGS_TO_AN_ACCOUNT: &str = "that name belongs to an account";

/// What the page says to a wrong password (translated from the code `wrong_password`).
const WRONG_PASSWORD: &str = "Wrong password for this name.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_visible_after_a_reload() {
    // Within the default burst of the rate limit.
    const SAID: [&str; 3] = [
        "the kettle is on",
        "two sugars please",
        "biscuits are in the tin",
    ];
    let h = Harness::start().await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;

    for text in SAID {
        alice.type_into("Message", text).await;
        alice.type_into("Message", &enter()).await;
    }
    let said_once_in_order = |lines: &Lines| lines.once_in_order_by("Alice", &SAID);
    alice
        .wait_for_lines(
            "Alice's three messages, each once, in order",
            said_once_in_order,
        )
        .await;

    alice.reload().await;
    alice.wait_for_status("Connected").await;
    alice
        .wait_for_settled_lines(
            "Alice's three messages after the reload, each once, in order",
            said_once_in_order,
        )
        .await;

    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_enters_later_sees_earlier_messages() {
    const SAID: [&str; 2] = ["anyone seen my umbrella", "the blue one with ducks"];
    let h = Harness::start().await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;
    for text in SAID {
        alice.type_into("Message", text).await;
        alice.type_into("Message", &enter()).await;
    }
    alice
        .wait_for_lines("Alice's two messages, each once, in order", |lines| {
            lines.once_in_order_by("Alice", &SAID)
        })
        .await;

    let bob = h.browser().await;
    bob.sign_in("Bob").await;
    // Presence is shown in the online list, not as "Bob joined." lines in the log.
    bob.wait_for_lines(
        "Alice's two earlier messages, each once, in order",
        |lines| lines.once_in_order_by("Alice", &SAID) && !lines.contains("joined."),
    )
    .await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_typed_while_the_server_is_down_is_delivered_once_after_it_returns() {
    const TEXT: &str = "typed while the server was away";
    // No fixed secret: the restarted server must find the key it generated in its data
    // directory, or the cookies it signed would stop working.
    let mut h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;

    h.server.stop().await;
    alice.wait_for_status_other_than("Connected").await;
    alice.type_into("Message", TEXT).await;
    alice.type_into("Message", &enter()).await;
    alice.wait_for_value("Message", "").await;
    alice
        .wait_for_lines(
            &format!(
                "{TEXT:?} once, marked {:?}, with the server down",
                e2e::SENDING
            ),
            |lines| lines.pending_once(TEXT),
        )
        .await;

    h.server.restart().await;
    alice.wait_for_status_within("Connected", RECONNECT).await;
    bob.wait_for_status_within("Connected", RECONNECT).await;
    let delivered_once = |lines: &Lines| lines.once_by("Alice", TEXT);
    let what = format!("{TEXT:?} once, by Alice, no longer pending");
    bob.wait_for_settled_lines(&what, delivered_once).await;
    alice.wait_for_settled_lines(&what, delivered_once).await;

    let cookie = h.server.guest_cookie("Auditor").await;
    let stored: Vec<_> = h
        .server
        .history(&cookie)
        .await
        .into_iter()
        .filter(|message| matches!(&message.body, ServerBody::Chat { text, .. } if text == TEXT))
        .collect();
    assert_eq!(
        stored.len(),
        1,
        "GET /api/history holds the message exactly once: {stored:?}"
    );
    assert_eq!(stored[0].user.name, "Alice", "stored under its sender");

    alice.reload().await;
    alice.wait_for_status("Connected").await;
    alice
        .wait_for_settled_lines(&format!("{what}, after a reload"), delivered_once)
        .await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_account_signs_in_only_with_its_password_and_guests_cannot_take_its_name() {
    const PASSWORD: &str = "correct horse battery staple";
    let h = Harness::start().await;
    let ada = h.browser().await;

    ada.register("Ada", PASSWORD).await;
    ada.sign_out().await;
    ada.sign_in_with_password("Ada", PASSWORD).await;
    ada.wait_for_online_users(&["Ada"]).await;

    let other = h.browser().await;
    for (name, password, refusal) in [
        ("ada", "", NAME_BELONGS_TO_AN_ACCOUNT),
        ("Ada", "not the password", WRONG_PASSWORD),
    ] {
        other.submit_credentials(name, password, "Sign in").await;
        other.wait_for_text_near("Name", refusal).await;
        assert_eq!(
            other.path().await,
            "/signin",
            "signing in as {name:?} with the password {password:?} was refused, so the \
             visitor stays on the sign-in page"
        );
    }
    ada.wait_for_online_users(&["Ada"]).await;

    ada.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_to_the_top_loads_older_messages() {
    // A new socket's `history` holds the newest 100 stored messages; 60 more make two pages
    // to fetch by scrolling (the client asks for 50 at a time).
    const MESSAGES: usize = 100 + 60;
    let mut config = TestServer::config();
    config.rate_burst = 1000.0;
    let h = Harness::start_with(config).await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;
    let said: Vec<String> = (1..=MESSAGES).map(|n| format!("older {n:03}")).collect();
    let said: Vec<&str> = said.iter().map(String::as_str).collect();
    let (oldest, newest) = (said[0], said[MESSAGES - 1]);
    alice.send_over_a_second_socket(&said).await;

    alice.reload().await;
    alice.wait_for_status("Connected").await;
    let entered = alice
        .wait_for_lines(&format!("the newest message {newest:?}"), |lines| {
            lines.contains(newest)
        })
        .await;
    assert!(
        !entered.contains(oldest),
        "the room opens with only the newest messages, yet {oldest:?} is there already:\n{entered}"
    );

    let this = &alice;
    alice
        .wait_until(
            &format!("{oldest:?} in the log while the reader keeps scrolling it to the top"),
            WAIT * 2,
            move || async move {
                this.scroll_log_to_top().await?;
                Ok(this.log_lines().await?.contains(oldest).then_some(()))
            },
        )
        .await;
    alice
        .wait_for_lines(
            &format!("all {MESSAGES} messages, each once, in order"),
            |lines| lines.once_in_order_by("Alice", &said),
        )
        .await;
    alice
        .wait_for_log_text("Beginning of the conversation")
        .await;

    alice.close().await;
}
