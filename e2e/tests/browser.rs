//! The chat as people use it: headless Chromium against the real server and the release build
//! of the client. Each test has its own server and ChromeDriver; the tests take turns at the
//! browsers (see `e2e::Harness`).

use e2e::{enter, shift_enter, Harness, TestServer};
use shared::NameError;
use std::time::Duration;

/// HTML a careless client would render as markup (and run: the image fails to load).
const HTML_MESSAGE: &str = "<b>bold</b><img src=x onerror=alert(1)>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_visitor_of_the_chat_lands_on_signin() {
    let h = Harness::start().await;
    let visitor = h.browser().await;

    visitor.goto("/").await;
    visitor.wait_for_path("/signin").await;
    visitor.field("Name").await;
    visitor.button("Sign in").await;

    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_name_shows_the_servers_error_next_to_the_field() {
    let h = Harness::start().await;
    let visitor = h.browser().await;
    visitor.goto("/signin").await;

    let too_long = "x".repeat(33);
    for (name, error) in [
        ("   ", NameError::Empty),
        (too_long.as_str(), NameError::TooLong),
    ] {
        visitor.fill("Name", name).await;
        visitor.click_button("Sign in").await;
        visitor.wait_for_text_near("Name", &error.to_string()).await;
        assert_eq!(
            visitor.path().await,
            "/signin",
            "the name {name:?} was refused, so the visitor stays on the sign-in page"
        );
    }

    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signed_in_users_see_each_other_online() {
    let h = Harness::start().await;
    let alice = h.browser().await;
    let bob = h.browser().await;

    alice.sign_in("Alice").await;
    bob.sign_in("Bob").await;
    alice.wait_for_online_users(&["Alice", "Bob"]).await;
    bob.wait_for_online_users(&["Alice", "Bob"]).await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_message_appears_in_the_other_log_under_the_senders_name_and_the_box_clears() {
    let h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;

    // With the button.
    bob.type_into("Message", "is the kettle on").await;
    bob.click_button("Send").await;
    bob.wait_for_value("Message", "").await;
    alice
        .wait_for_line_by("Bob", "is the kettle on", &["Alice"])
        .await;

    // With Enter.
    alice.type_into("Message", "it just boiled").await;
    alice.type_into("Message", &enter()).await;
    alice.wait_for_value("Message", "").await;
    bob.wait_for_line_by("Alice", "it just boiled", &["Bob"])
        .await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_enter_starts_a_new_line_instead_of_sending() {
    let h = Harness::start().await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;

    alice.type_into("Message", "first line").await;
    alice.type_into("Message", &shift_enter()).await;
    alice.type_into("Message", "second line").await;
    assert_eq!(
        alice.value_of("Message").await,
        "first line\nsecond line",
        "Shift+Enter adds a line break and sends nothing"
    );

    alice.type_into("Message", &enter()).await;
    alice.wait_for_value("Message", "").await;
    alice.wait_for_log_text("first line").await;
    alice.wait_for_log_text("second line").await;

    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_a_message_shows_as_literal_text() {
    let h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;

    alice.type_into("Message", HTML_MESSAGE).await;
    alice.type_into("Message", &enter()).await;

    for (who, browser) in [("Bob", &bob), ("Alice", &alice)] {
        browser.wait_for_log_text(HTML_MESSAGE).await;
        assert_eq!(
            browser.count_in_log("b, img[src='x'], [onerror]").await,
            0,
            "{who}'s log turned the message's HTML into elements"
        );
        assert_eq!(
            browser.open_alert().await,
            None,
            "{who}'s page ran the message's script"
        );
    }

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_the_session_and_signin_sends_a_signed_in_user_to_the_chat() {
    let h = Harness::start().await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;

    alice.reload().await;
    alice.wait_for_status("Connected").await;
    assert_eq!(
        alice.path().await,
        "/",
        "after a reload the user is still in the chat"
    );
    alice.wait_for_online_users(&["Alice"]).await;

    alice.goto("/signin").await;
    alice.wait_for_path("/").await;
    alice.wait_for_status("Connected").await;

    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_returns_to_signin_and_the_other_user_sees_alice_go_offline() {
    let h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;

    alice.click_button("Sign out").await;
    alice.wait_for_path("/signin").await;
    bob.wait_for_online_users(&["Bob"]).await;

    // The session is gone, not just the page.
    alice.goto("/").await;
    alice.wait_for_path("/signin").await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_reconnecting_while_the_server_is_down_and_connected_once_it_is_back() {
    // The restarted server must accept the cookie the first one signed.
    let mut config = TestServer::config();
    config.secret = Some("e2e-restart-secret-0123456789abcdef".into());
    let mut h = Harness::start_with(config).await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;

    h.server.stop().await;
    alice.wait_for_status("Reconnecting…").await;

    h.server.restart().await;
    alice
        .wait_for_status_within("Connected", Duration::from_secs(30))
        .await;
    assert_eq!(alice.path().await, "/", "the user is still in the chat");
    alice.wait_for_online_users(&["Alice"]).await;

    alice.close().await;
}

/// For each entry of the online list and each chat line: the name shown and whether a
/// visible "guest" label sits next to it.
const GUEST_MARKS: &str = r#"
    const visible = el => !!el && el.getClientRects().length > 0 && el.textContent.trim() === 'guest';
    const entries = Array.from(document.querySelectorAll('[aria-label="Online users"] li'))
        .map(li => [li.querySelector('bdi').textContent, visible(li.querySelector('.guest-tag'))]);
    const lines = Array.from(document.querySelectorAll('[role="log"] .line-chat'))
        .map(line => [line.querySelector('bdi').textContent, visible(line.querySelector('.guest-tag'))]);
    return { entries, lines };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_are_marked_as_guests_wherever_their_name_shows_and_accounts_are_not() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    let bob = h.browser().await;
    ada.register("Ada", "a long enough password").await;
    bob.sign_in("Bob").await;
    ada.wait_for_online_users(&["Ada", "Bob"]).await;

    bob.type_into("Message", "hello from a guest").await;
    bob.type_into("Message", &enter()).await;
    ada.wait_for_line_by("Bob", "hello from a guest", &["Ada"])
        .await;
    ada.type_into("Message", "hello from an account").await;
    ada.type_into("Message", &enter()).await;
    ada.wait_for_line_by("Ada", "hello from an account", &["Bob"])
        .await;

    let marks = ada.eval(GUEST_MARKS, vec![]).await.expect("read the page");
    let pairs = |key: &str| -> Vec<(String, bool)> {
        serde_json::from_value(marks[key].clone()).expect("[name, marked] pairs")
    };
    assert_eq!(
        pairs("entries"),
        [("Ada".to_owned(), false), ("Bob".to_owned(), true)],
        "online list: only the guest is marked"
    );
    assert_eq!(
        pairs("lines"),
        [("Bob".to_owned(), true), ("Ada".to_owned(), false)],
        "chat lines: only the guest's is marked"
    );

    ada.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_client_runs_under_the_strict_content_security_policy() {
    let h = Harness::start().await;
    let visitor = h.browser().await;
    visitor.sign_in("Alice").await;

    // The page that is running was served with the policy: no inline script but trunk's
    // loader (by hash), and wasm compiled under 'wasm-unsafe-eval' only.
    let policy = visitor
        .client()
        .execute_async(
            r#"const done = arguments[0];
               fetch('/', { cache: 'no-store' })
                   .then(res => done(res.headers.get('content-security-policy')), err => done(String(err)));"#,
            vec![],
        )
        .await
        .expect("fetch / from the page");
    let policy = policy.as_str().unwrap_or_default().to_owned();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
        "{policy:?}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy:?}");
    let started = visitor
        .eval("return typeof window.wasmBindings === 'object';", vec![])
        .await
        .expect("read the page");
    assert_eq!(started, serde_json::Value::Bool(true), "trunk's loader ran");

    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_message_lines_are_isolated_from_the_bidi_text_around_them() {
    let h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;
    bob.type_into("Message", "שלום and hello").await;
    bob.type_into("Message", &enter()).await;
    alice
        .wait_for_line_by("Bob", "שלום and hello", &["Alice"])
        .await;

    let isolated = alice
        .eval(
            r#"const names = document.querySelectorAll('.user-name, .author, .me-name');
               const texts = document.querySelectorAll('[role="log"] .text');
               const system = document.querySelectorAll('[role="log"] .system-text');
               return names.length > 0 && texts.length > 0
                   && Array.from(names).every(el => el.tagName === 'BDI')
                   && Array.from(texts).every(el => el.dir === 'auto')
                   && Array.from(system).every(el => el.querySelector('bdi') !== null);"#,
            vec![],
        )
        .await
        .expect("read the page");
    assert_eq!(
        isolated,
        serde_json::Value::Bool(true),
        "every name is a <bdi>, every chat text has dir=auto, every event line isolates its name"
    );

    alice.close().await;
    bob.close().await;
}
