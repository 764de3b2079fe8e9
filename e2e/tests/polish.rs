//! What a new user tripped over: the log leaving the reader behind when messages arrive in a
//! batch, presence noise, days running together, sign-in errors on the wrong field, focus,
//! a slow reconnect and a cramped phone header. Headless Chromium against the real server,
//! as in `browser.rs`.
//!
//! Set `E2E_SCREENSHOTS=<dir>` to keep screenshots of the room at 1280, 375 and 320 px.

use e2e::{enter, Browser, Harness, TestServer, WAIT};
use serde_json::{json, Value};
use shared::{ServerBody, ServerMessage};
use std::time::Duration;

/// The reader is "at the bottom" when the log's end is this close to its visible bottom.
const AT_BOTTOM: i64 = 4;

/// How long a browser may take to come back after the server does: about a second, with
/// room for a busy machine.
const BACK_WITHIN: Duration = Duration::from_secs(2);

/// How far the log's end is below its visible bottom, in pixels.
async fn distance_from_bottom(browser: &Browser) -> i64 {
    let value = browser
        .eval(
            r#"const log = document.querySelector('[role="log"]');
               return Math.round(log.scrollHeight - log.scrollTop - log.clientHeight);"#,
            vec![],
        )
        .await
        .expect("read the log's scroll position");
    value.as_i64().unwrap_or(i64::MAX)
}

/// Waits until every one of `texts` is in the log and the log is scrolled to its end; on
/// failure says how far above the end the reader was left.
async fn wait_for_all_at_the_bottom(browser: &Browser, what: &str, texts: &[String]) {
    let args = vec![json!(texts)];
    let args = &args;
    browser
        .wait_until(
            &format!("{what}: every message in the log, and the log scrolled to its end"),
            WAIT * 2,
            move || async move {
                let state = browser
                    .eval(
                        r#"const [texts] = arguments;
                           const log = document.querySelector('[role="log"]');
                           if (!log) return null;
                           const all = texts.every(t => log.textContent.includes(t));
                           const away = log.scrollHeight - log.scrollTop - log.clientHeight;
                           return { all, away };"#,
                        args.clone(),
                    )
                    .await?;
                let all = state["all"] == Value::Bool(true);
                let away = state["away"].as_f64().unwrap_or(f64::MAX);
                Ok((all && away <= AT_BOTTOM as f64).then_some(()))
            },
        )
        .await;
    // Still there a moment later: nothing pulled the reader up afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let away = distance_from_bottom(browser).await;
    assert!(
        away <= AT_BOTTOM,
        "{what}: the reader was left {away} px above the end"
    );
}

/// Types each of `texts` into the composer and presses Enter, all at once from a script, as a
/// fast typist with a queue of messages would.
async fn send_from_the_composer(browser: &Browser, texts: &[String]) {
    browser
        .eval(
            r#"const [texts] = arguments;
               const box = document.getElementById('composer-text');
               for (const text of texts) {
                   box.value = text;
                   box.dispatchEvent(new InputEvent('input', { bubbles: true }));
                   box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
               }"#,
            vec![json!(texts)],
        )
        .await
        .expect("type into the composer");
}

fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("{prefix} {n:02}")).collect()
}

fn as_strs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

/// A server with a generous rate limit, so the room can be filled quickly.
fn roomy_config() -> backend::Config {
    let mut config = TestServer::config();
    config.rate_burst = 1000.0;
    config.rate_per_sec = 1000.0;
    // The restarted server must accept the cookies the first one signed.
    config.secret = Some("e2e-polish-secret-0123456789abcdef".into());
    config
}

/// Saves a screenshot of `browser` as `<name>.png` in `$E2E_SCREENSHOTS`, if set.
async fn screenshot(browser: &Browser, name: &str) {
    let Ok(dir) = std::env::var("E2E_SCREENSHOTS") else {
        return;
    };
    let png = browser
        .client()
        .screenshot()
        .await
        .expect("take a screenshot");
    let path = std::path::Path::new(&dir).join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|err| panic!("cannot write {path:?}: {err}"));
}

/// Resizes the window so the page is `width` px wide.
async fn set_width(browser: &Browser, width: u32, height: u32) {
    browser
        .client()
        .set_window_size(width, height)
        .await
        .expect("resize the window");
    browser
        .wait_until(
            &format!("the page to be {width} px wide"),
            WAIT,
            move || async move {
                let inner = browser.eval("return window.innerWidth;", vec![]).await?;
                Ok((inner.as_u64() == Some(u64::from(width))).then_some(()))
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_at_the_bottom_stays_there_when_two_users_send_a_batch_at_once() {
    let h = Harness::start_with(roomy_config()).await;
    let reader = h.browser().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;
    reader.sign_in("Carol").await;
    // Enough lines that the log scrolls.
    let earlier = numbered("earlier", 40);
    alice.send_over_a_second_socket(&as_strs(&earlier)).await;
    wait_for_all_at_the_bottom(&reader, "before the batch", &earlier).await;

    let from_alice = numbered("alice batch", 5);
    let from_bob = numbered("bob batch", 5);
    let (alice_texts, bob_texts) = (as_strs(&from_alice), as_strs(&from_bob));
    tokio::join!(
        alice.send_over_a_second_socket(&alice_texts),
        bob.send_over_a_second_socket(&bob_texts),
    );
    let both: Vec<String> = from_alice.iter().chain(&from_bob).cloned().collect();
    wait_for_all_at_the_bottom(&reader, "two users' batches", &both).await;
    let no_button = reader
        .eval("return document.querySelector('.jump') === null;", vec![])
        .await
        .expect("read the page");
    assert_eq!(
        no_button,
        Value::Bool(true),
        "no \"New messages\" button for a reader who follows the log"
    );

    reader.close().await;
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_outbox_draining_keeps_sender_and_readers_at_the_bottom() {
    let mut config = TestServer::config();
    // Thirty messages against a burst of five: most wait in the outbox and drain slowly.
    config.rate_burst = 5.0;
    config.rate_per_sec = 4.0;
    let h = Harness::start_with(config).await;
    let (reader, watcher) = h.two_signed_in("Carol", "Dan").await;

    // One at a time, as a fast typist sends them.
    let said = numbered("queued", 30);
    for text in &said {
        send_from_the_composer(&reader, std::slice::from_ref(text)).await;
    }
    wait_for_all_at_the_bottom(&reader, "the sender, after a drained outbox", &said).await;
    wait_for_all_at_the_bottom(&watcher, "another reader, after the drain", &said).await;
    reader
        .wait_for_settled_lines("all thirty delivered, in order", |lines| {
            lines.once_in_order_by("Carol", &as_strs(&said))
        })
        .await;
    let away = distance_from_bottom(&reader).await;
    assert!(
        away <= AT_BOTTOM,
        "after the drain the reader was {away} px above message 30"
    );

    reader.close().await;
    watcher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_up_after_a_server_restart_keeps_the_reader_at_the_bottom() {
    let mut h = Harness::start_with(roomy_config()).await;
    let reader = h.browser().await;
    let alice = h.browser().await;
    reader.sign_in("Carol").await;
    alice.sign_in("Alice").await;
    let earlier = numbered("earlier", 40);
    alice.send_over_a_second_socket(&as_strs(&earlier)).await;
    wait_for_all_at_the_bottom(&reader, "before the restart", &earlier).await;

    h.server.stop().await;
    reader.wait_for_status_other_than("Connected").await;
    // Typed while the server is away: they go out with the catch-up.
    let typed = numbered("typed while away", 8);
    send_from_the_composer(&reader, &typed).await;
    h.server.restart().await;
    alice.wait_for_status_within("Connected", WAIT).await;
    let missed = numbered("said after the restart", 12);
    alice.send_over_a_second_socket(&as_strs(&missed)).await;

    reader.wait_for_status_within("Connected", WAIT).await;
    let all: Vec<String> = typed.into_iter().chain(missed).collect();
    wait_for_all_at_the_bottom(&reader, "the catch-up after a restart", &all).await;

    reader.close().await;
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_scrolled_up_gets_a_counted_new_messages_button_beside_the_log() {
    let h = Harness::start_with(roomy_config()).await;
    let reader = h.browser().await;
    let alice = h.browser().await;
    reader.sign_in("Carol").await;
    alice.sign_in("Alice").await;
    let earlier = numbered("earlier", 40);
    alice.send_over_a_second_socket(&as_strs(&earlier)).await;
    wait_for_all_at_the_bottom(&reader, "before scrolling up", &earlier).await;

    reader.scroll_log_to_top().await.expect("scroll up");
    // Let the scroll event land before the next messages do.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let newer = numbered("while away", 3);
    alice.send_over_a_second_socket(&as_strs(&newer)).await;
    let button = reader.button("New messages 3 ↓").await;
    let overlap = reader
        .eval(
            r#"const [button] = arguments;
               const log = document.querySelector('[role="log"]').getBoundingClientRect();
               const b = button.getBoundingClientRect();
               return b.top < log.bottom && b.bottom > log.top;"#,
            vec![serde_json::to_value(&button).expect("an element serializes")],
        )
        .await
        .expect("measure the button");
    assert_eq!(
        overlap,
        Value::Bool(false),
        "the button covers part of the log, and so its last line"
    );
    assert!(
        distance_from_bottom(&reader).await > 200,
        "a reader who scrolled up is not pulled down by others' messages"
    );

    button.click().await.expect("click New messages");
    wait_for_all_at_the_bottom(&reader, "after New messages", &newer).await;
    let gone = reader
        .eval("return document.querySelector('.jump') === null;", vec![])
        .await
        .expect("read the page");
    assert_eq!(
        gone,
        Value::Bool(true),
        "the button goes once the reader is down"
    );

    reader.close().await;
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_signing_in_the_caret_is_in_the_composer() {
    let h = Harness::start().await;
    let visitor = h.browser().await;
    visitor.sign_in("Alice").await;
    let field = visitor.field("Message").await;
    let focused = visitor
        .eval(
            "return document.activeElement === arguments[0];",
            vec![serde_json::to_value(&field).expect("an element serializes")],
        )
        .await
        .expect("read the focus");
    assert_eq!(focused, Value::Bool(true), "focus is in the Message box");

    // Typing right away goes into the message.
    visitor
        .client()
        .active_element()
        .await
        .expect("the focused element")
        .send_keys("typed without clicking")
        .await
        .expect("type");
    visitor
        .wait_for_value("Message", "typed without clicking")
        .await;

    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_marks_the_password_field_not_the_name() {
    let h = Harness::start().await;
    let ada = h.browser().await;
    ada.register("Ada", "correct horse battery").await;

    let other = h.browser().await;
    other
        .submit_credentials("Ada", "not the password", "Sign in")
        .await;
    other
        .wait_for_text_near("Password", "Wrong password for this name.")
        .await;
    let marks = other
        .eval(
            r#"const name = document.getElementById('signin-name');
               const password = document.getElementById('signin-password');
               return [name.getAttribute('aria-invalid'), password.getAttribute('aria-invalid'),
                       (name.getAttribute('aria-describedby') || '').includes('signin-error'),
                       (password.getAttribute('aria-describedby') || '').includes('signin-error')];"#,
            vec![],
        )
        .await
        .expect("read the fields");
    assert_eq!(
        marks,
        json!([null, "true", false, true]),
        "[name invalid, password invalid, name described by the error, password described by it]"
    );

    ada.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_sign_in_to_a_name_without_an_account_says_so_and_offers_register() {
    let h = Harness::start().await;
    let visitor = h.browser().await;
    visitor
        .submit_credentials("Zed", "a long enough password", "Sign in")
        .await;
    visitor
        .wait_for_text_near("Password", "No account has this name yet.")
        .await;
    let name_invalid = visitor
        .eval(
            "return document.getElementById('signin-name').getAttribute('aria-invalid');",
            vec![],
        )
        .await
        .expect("read the Name field");
    assert_eq!(name_invalid, Value::Null, "the name is not what is wrong");

    visitor.click_button("Register this name").await;
    visitor.wait_for_path("/").await;
    visitor.wait_for_status("Connected").await;
    visitor.wait_for_online_users(&["Zed"]).await;
    let guest_tags = visitor
        .eval(
            "return document.querySelectorAll('[aria-label=\"Online users\"] .guest-tag').length;",
            vec![],
        )
        .await
        .expect("read the online list");
    assert_eq!(
        guest_tags,
        json!(0),
        "Zed registered an account, not a guest"
    );

    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_wrong_passwords_count_down_with_the_buttons_disabled() {
    let mut config = TestServer::config();
    config.login_fails_per_name = 2;
    let h = Harness::start_with(config).await;
    let ada = h.browser().await;
    ada.register("Ada", "correct horse battery").await;

    let other = h.browser().await;
    other.goto("/signin").await;
    other.fill("Name", "Ada").await;
    other.fill("Password", "not the password").await;
    let this = &other;
    other
        .wait_until(
            "a refusal as too many attempts after pressing Sign in again and again",
            WAIT,
            move || async move {
                let text = this.eval("return document.body.innerText;", vec![]).await?;
                let text = text.as_str().unwrap_or_default().to_owned();
                if text.contains("Too many failed attempts") {
                    return Ok(Some(()));
                }
                if let Ok(button) = this
                    .client()
                    .find(fantoccini::Locator::Css("button[type=submit]"))
                    .await
                {
                    let _ = button.click().await;
                }
                Ok(None)
            },
        )
        .await;
    let state = other
        .eval(
            r#"const buttons = Array.from(document.querySelectorAll('.signin-actions button'));
               const wait = document.querySelector('.signin-wait');
               return { disabled: buttons.every(b => b.disabled), wait: wait && wait.textContent };"#,
            vec![],
        )
        .await
        .expect("read the form");
    assert_eq!(state["disabled"], Value::Bool(true), "{state}");
    assert!(
        state["wait"]
            .as_str()
            .is_some_and(|wait| wait.contains("try again in")),
        "a visible countdown: {state}"
    );

    ada.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_back_within_about_a_second_of_a_restarted_server() {
    let mut h = Harness::start_with(roomy_config()).await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;
    alice.wait_for_online_users(&["Alice"]).await;

    h.server.stop().await;
    alice.wait_for_status("Reconnecting…").await;
    alice.button("Retry now").await;
    let unknown = alice
        .eval(
            r#"const list = document.querySelector('[aria-label="Online users"]');
               const note = document.getElementById(list.getAttribute('aria-describedby') || '');
               return note ? note.textContent : null;"#,
            vec![],
        )
        .await
        .expect("read the online list");
    assert_eq!(
        unknown,
        json!("Unknown while offline"),
        "while disconnected the online list says it is unknown"
    );
    // Long enough for an exponential backoff to have grown past a few seconds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    h.server.restart().await;
    alice.wait_for_status_within("Connected", BACK_WITHIN).await;
    alice.wait_for_online_users(&["Alice"]).await;

    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_changes_are_not_log_lines() {
    let h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alice", "Bob").await;
    bob.type_into("Message", "hello").await;
    bob.type_into("Message", &enter()).await;
    alice.wait_for_line_by("Bob", "hello", &["Alice"]).await;
    bob.sign_out().await;
    alice.wait_for_online_users(&["Alice"]).await;
    let lines = alice.log_lines().await.expect("read the log");
    assert!(
        !lines.contains("joined.") && !lines.contains("left."),
        "no join or left lines in the log:\n{lines}"
    );

    alice.close().await;
    bob.close().await;
}

/// Moves the stored messages saying any of `texts` `days` into the past, with the server
/// stopped, as if they had been sent then.
fn backdate(server: &TestServer, texts: &[&str], days: u64) {
    let store = backend::store::Store::open(server.data_dir()).expect("open the database");
    let texts: Vec<String> = texts.iter().map(|text| text.to_string()).collect();
    store
        .call_now(move |db| {
            let rows = db.query(
                "SELECT id, json FROM messages WHERE kind = 'chat'",
                backend::store::db::args![],
            )?;
            for row in rows {
                let (id, stored) = (row.uint(0)?, row.text(1)?);
                let mut message: ServerMessage =
                    serde_json::from_str(&stored).expect("a stored envelope");
                let ServerBody::Chat { text, .. } = &message.body else {
                    continue;
                };
                if texts.contains(text) {
                    message.ts -= days * 24 * 60 * 60 * 1000;
                    let json = serde_json::to_string(&message).expect("serializes");
                    db.execute(
                        "UPDATE messages SET json = ?1 WHERE id = ?2",
                        backend::store::db::args![&json, id],
                    )?;
                }
            }
            Ok(())
        })
        .expect("backdate messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_are_separated_and_a_run_of_messages_shows_its_author_once() {
    const OLD: [&str; 2] = ["said three days ago", "and a minute later"];
    const NEW: [&str; 2] = ["said today", "still today"];
    let mut h = Harness::start_with(roomy_config()).await;
    let alice = h.browser().await;
    alice.sign_in("Alice").await;
    alice.send_over_a_second_socket(&OLD).await;
    alice.send_over_a_second_socket(&NEW).await;
    alice.close().await;

    h.server.stop().await;
    backdate(&h.server, &OLD, 3);
    h.server.restart().await;

    let bob = h.browser().await;
    bob.sign_in("Bob").await;
    bob.wait_for_log_text(NEW[1]).await;
    let rows = bob
        .eval(
            r#"const log = document.querySelector('[role="log"]');
               return Array.from(log.children).map(el => {
                   if (el.matches('h2')) return 'day: ' + el.textContent;
                   if (el.matches('article')) {
                       const name = el.querySelector('.author');
                       const shown = name && !name.closest('.visually-hidden');
                       return (shown ? 'named: ' : 'continued: ') + el.querySelector('.text').textContent;
                   }
                   return null;
               }).filter(Boolean);"#,
            vec![],
        )
        .await
        .expect("read the log");
    let rows: Vec<String> = serde_json::from_value(rows).expect("strings");
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(
        rows[0].starts_with("day: ")
            && !rows[0].contains("Today")
            && !rows[0].contains("Yesterday"),
        "the older day is named by its date: {rows:?}"
    );
    assert_eq!(
        rows[1..],
        [
            "named: said three days ago",
            "continued: and a minute later",
            "day: Today",
            "named: said today",
            "continued: still today",
        ],
        "{rows:?}"
    );

    bob.close().await;
}

/// For each pair of the header's parts and the online strip: whether they overlap, and
/// whether anything sticks out of the window.
const CRAMPED: &str = r#"
    const parts = {
        title: document.querySelector('.room-title h1'),
        status: document.querySelector('[role="status"]'),
        signOut: Array.from(document.querySelectorAll('button')).find(b => b.textContent.trim() === 'Sign out'),
        online: document.querySelector('[aria-label="Online users"]'),
    };
    const retry = Array.from(document.querySelectorAll('button')).find(b => b.textContent.trim() === 'Retry now');
    if (retry) parts.retry = retry;
    const rects = Object.fromEntries(Object.entries(parts).map(([k, el]) => [k, el && el.getBoundingClientRect()]));
    const problems = [];
    const names = Object.keys(rects);
    for (const k of names) {
        const r = rects[k];
        if (!r || r.width === 0) { problems.push(`${k} is not shown`); continue; }
        if (r.left < -0.5 || r.right > window.innerWidth + 0.5) problems.push(`${k} sticks out: ${r.left}..${r.right}`);
    }
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) {
        const a = rects[names[i]], b = rects[names[j]];
        if (a && b && a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
            problems.push(`${names[i]} overlaps ${names[j]}`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth) problems.push('the page scrolls sideways');
    return problems;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_320_px_the_header_and_the_online_strip_do_not_overlap() {
    let mut h = Harness::start().await;
    let (alice, bob) = h.two_signed_in("Alexandrina Wolfe", "Bob").await;
    bob.type_into("Message", "a message to look at").await;
    bob.type_into("Message", &enter()).await;
    alice
        .wait_for_line_by("Bob", "a message to look at", &["Alexandrina"])
        .await;
    screenshot(&alice, "room-1280").await;

    for width in [375, 320] {
        set_width(&alice, width, 760).await;
        let problems = alice.eval(CRAMPED, vec![]).await.expect("measure the page");
        assert_eq!(problems, json!([]), "at {width} px");
        screenshot(&alice, &format!("room-{width}")).await;
    }
    // Disconnected, the header also offers "Retry now".
    h.server.stop().await;
    alice.wait_for_status("Reconnecting…").await;
    alice.button("Retry now").await;
    let problems = alice.eval(CRAMPED, vec![]).await.expect("measure the page");
    assert_eq!(problems, json!([]), "at 320 px, disconnected");
    screenshot(&alice, "room-320-offline").await;

    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_1920_px_pills_and_bubbles_share_one_column() {
    let h = Harness::start().await;
    let alice = h.browser().await;
    set_width(&alice, 1920, 1000).await;
    alice.sign_in("Alice").await;
    alice.type_into("Message", "wide screens").await;
    alice.type_into("Message", &enter()).await;
    alice.wait_for_line_by("Alice", "wide screens", &[]).await;
    let columns = alice
        .eval(
            r#"const log = document.querySelector('[role="log"]');
               const day = log.querySelector('h2').getBoundingClientRect();
               const line = log.querySelector('article').getBoundingClientRect();
               return { day: [day.left, day.right], line: [line.left, line.right] };"#,
            vec![],
        )
        .await
        .expect("measure the log");
    assert_eq!(
        columns["day"], columns["line"],
        "the day line and the message share one column"
    );
    let line = columns["line"][1].as_f64().unwrap_or_default()
        - columns["line"][0].as_f64().unwrap_or_default();
    assert!(
        line <= 900.0,
        "the column is readable, not 1920 px wide: {columns}"
    );
    screenshot(&alice, "room-1920").await;

    alice.close().await;
}
