//! Regression tests for the attacks on accounts from issue 7: hashing floods, parallel
//! guessing, lock-outs from elsewhere, sign-up and guest floods, and names that pass for
//! someone else's. The floods run against the real server binary and measure its memory.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::ws::{Member, WsClient};
use common::{expect_json_error, session_cookie, TestServer};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::User;

const MIB: u64 = 1024 * 1024;

/// Taken by the tests that hash a lot, so that they do not run at once: on a machine of
/// two cores, each would make the others' time measurements meaningless.
static HASHING_HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the issue allows a hashing flood to add: (CPUs + 1) × 20 MiB.
fn hashing_memory_bound() -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    (cpus + 1) * 20 * MIB
}

/// A client whose connections come from `source` (127.0.0.x: loopback only).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(source))
        .timeout(Duration::from_secs(25))
        .build()
        .expect("build the HTTP client")
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the server answers")
}

/// Fires `count` requests at once, returning each status with its `Retry-After`.
async fn flood(
    count: usize,
    make: impl Fn(usize) -> (String, Value),
) -> Vec<(StatusCode, Option<String>)> {
    let client = client_from([127, 0, 0, 1]);
    join_all((0..count).map(|i| {
        let (url, body) = make(i);
        let client = client.clone();
        async move {
            let res = post(&client, url, body).await;
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (res.status(), retry)
        }
    }))
    .await
}

/// Times `GET /api/me` every 50 ms until `stop`, returning the slowest answer.
async fn slowest_me(
    url: String,
    cookie: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Duration {
    let client = client_from([127, 0, 0, 3]);
    let mut slowest = Duration::ZERO;
    while !*stop.borrow() {
        let started = Instant::now();
        let res = client
            .get(&url)
            .header("cookie", format!("session={cookie}"))
            .send()
            .await
            .expect("GET /api/me answers");
        assert_eq!(res.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_flood_of_unknown_names_stays_within_memory_bound() {
    let _alone = HASHING_HEAVY.lock().await;
    // Guessing limits lifted, so every request reaches the hashing stage.
    let server = ServerProcess::start(&[
        "--login-fails-per-name",
        "100000",
        "--login-fails-per-addr",
        "100000",
        "--login-fails-per-name-total",
        "100000",
    ]);
    let client = client_from([127, 0, 0, 3]);
    let res = post(
        &client,
        server.url("/api/signin"),
        json!({"name": "Watcher"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = session_cookie(&res);
    let before = server.rss();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(slowest_me(server.url("/api/me"), cookie, stop_rx));
    let (peak, answers) = server
        .peak_rss_during(flood(200, |i| {
            let body = json!({"name": format!("nobody {i}"), "password": "guess guess"});
            (server.url("/api/signin"), body)
        }))
        .await;
    let _ = stop_tx.send(true);
    let slowest = watcher.await.expect("the watcher ends");

    let refused = answers.iter().filter(|(s, _)| *s == 401).count();
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    assert_eq!(refused + busy, 200, "only 401 and 503: {answers:?}");
    assert!(refused >= 2, "some guesses are hashed and refused");
    assert!(
        answers.iter().all(|(s, r)| *s != 503 || r.is_some()),
        "every 503 says when to retry"
    );
    let grown = peak.saturating_sub(before);
    eprintln!(
        "200 parallel sign-ins: {refused} got 401, {busy} got 503; RSS {} -> {} MiB (+{} MiB); slowest /api/me {slowest:?}",
        before / MIB,
        peak / MIB,
        grown / MIB
    );
    assert!(
        grown <= hashing_memory_bound(),
        "RSS grew by {} MiB, more than {} MiB",
        grown / MIB,
        hashing_memory_bound() / MIB
    );
    // The bar is 200 ms; the release build answers within about 10 ms. Unbounded hashing
    // made it 1.9 s and more, so 1 s still catches that without failing on a busy machine.
    assert!(
        slowest < Duration::from_secs(1),
        "GET /api/me took {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_flood_stays_within_memory_bound() {
    let _alone = HASHING_HEAVY.lock().await;
    let server = ServerProcess::start(&["--signups-per-addr-hour", "100000"]);
    let before = server.rss();
    let (peak, answers) = server
        .peak_rss_during(flood(64, |i| {
            let body = json!({"name": format!("member {i}"), "password": "correct horse"});
            (server.url("/api/register"), body)
        }))
        .await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 503),
        "{answers:?}"
    );
    assert!(created >= 2, "registrations go through");
    let grown = peak.saturating_sub(before);
    eprintln!(
        "64 parallel registrations: {created} created; RSS {} -> {} MiB (+{} MiB)",
        before / MIB,
        peak / MIB,
        grown / MIB
    );
    assert!(
        grown <= hashing_memory_bound(),
        "RSS grew by {} MiB, more than {} MiB",
        grown / MIB,
        hashing_memory_bound() / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_get_past_the_address_limit() {
    let _alone = HASHING_HEAVY.lock().await;
    let server = TestServer::start().await;
    let answers = flood(60, |i| {
        let body = json!({"name": format!("target {i}"), "password": "guess guess"});
        (server.url("/api/signin"), body)
    })
    .await;
    let refused = answers.iter().filter(|(s, _)| *s == 401).count();
    let limited = answers
        .iter()
        .filter(|(s, r)| *s == 429 && r.is_some())
        .count();
    // Twenty failures per address per minute, however many arrive at once.
    assert_eq!(refused, 20, "{answers:?}");
    assert_eq!(limited, 40, "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_signs_in_after_five_wrong_guesses_from_another_address() {
    let server = TestServer::start().await;
    let owner = client_from([127, 0, 0, 1]);
    let res = post(
        &owner,
        server.url("/api/register"),
        json!({"name": "Ada", "password": "correct horse"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let attacker = client_from([127, 0, 0, 2]);
    let wrong = json!({"name": "Ada", "password": "wrong wrong"});
    for _ in 0..5 {
        let res = post(&attacker, server.url("/api/signin"), wrong.clone()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = post(&attacker, server.url("/api/signin"), wrong).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is stopped"
    );
    let right = json!({"name": "Ada", "password": "correct horse"});
    let res = post(&owner, server.url("/api/signin"), right).await;
    assert_eq!(res.status(), StatusCode::OK, "the owner is not locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_queue_overflow_is_503_with_retry_after() {
    let _alone = HASHING_HEAVY.lock().await;
    let server = TestServer::start_with(|c| {
        c.hash_concurrency = Some(1);
        c.hash_queue = 1;
        c.signups_per_addr_hour = 1000;
    })
    .await;
    let answers = flood(24, |i| {
        let body = json!({"name": format!("member {i}"), "password": "correct horse"});
        (server.url("/api/register"), body)
    })
    .await;
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(busy.iter().all(|(_, retry)| retry.is_some()), "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 503),
        "{answers:?}"
    );
    // A refused registration is not counted against the address.
    let res = server
        .post_json(
            "/api/register",
            &json!({"name": "Latecomer", "password": "correct horse"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn guest_sign_in_flood_from_one_address_is_429_with_retry_after() {
    let server = TestServer::start_with(|c| c.guests_per_addr_hour = 5).await;
    for i in 0..5 {
        server.signin(&format!("guest {i}")).await;
    }
    let res = server.post_signin_json(&json!({"name": "one more"})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!(retry > 3000, "about an hour: {retry}");
    let other = client_from([127, 0, 0, 2]);
    let res = post(
        &other,
        server.url("/api/signin"),
        json!({"name": "elsewhere"}),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "another address is not affected"
    );
}

#[tokio::test]
async fn registration_flood_from_one_address_is_429_with_retry_after() {
    let server = TestServer::start_with(|c| c.signups_per_addr_hour = 3).await;
    for i in 0..3 {
        let body = json!({"name": format!("member {i}"), "password": "correct horse"});
        assert_eq!(server.post_json("/api/register", &body).await.status(), 201);
    }
    let body = json!({"name": "member 3", "password": "correct horse"});
    let res = server.post_json("/api/register", &body).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let other = client_from([127, 0, 0, 2]);
    let res = post(&other, server.url("/api/register"), body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Names that rendered as "Ada" in the report.
const LOOK_ALIKES: &[&str] = &[
    "Ada\u{200b}",
    "A\u{2060}da",
    "\u{410}da",
    "\u{ff21}\u{ff44}\u{ff41}",
    "\u{202e}Ada",
    "\u{200e}Ada",
    "ADA\u{200b}",
    "\u{feff}",
    "\u{3164}",
    "ADA",
    "Ada\u{fe0f}",
];

async fn expect_refused_or_conflict(res: reqwest::Response, name: &str) {
    let status = res.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT,
        "{name:?} got {status}"
    );
    let error = common::error_message(&res.text().await.expect("body"));
    assert!(!error.is_empty(), "{name:?}: the answer names the rule");
}

#[tokio::test]
async fn look_alike_names_are_refused_next_to_an_account() {
    let server = TestServer::start().await;
    let body = json!({"name": "Ada", "password": "correct horse"});
    assert_eq!(server.post_json("/api/register", &body).await.status(), 201);
    for name in LOOK_ALIKES {
        let res = server.post_signin_json(&json!({ "name": name })).await;
        expect_refused_or_conflict(res, name).await;
        let body = json!({"name": name, "password": "another pass"});
        expect_refused_or_conflict(server.post_json("/api/register", &body).await, name).await;
    }
}

#[tokio::test]
async fn look_alike_names_are_refused_next_to_a_live_guest() {
    let server = TestServer::start().await;
    server.signin("Ada").await;
    for name in LOOK_ALIKES {
        let res = server.post_signin_json(&json!({ "name": name })).await;
        expect_refused_or_conflict(res, name).await;
    }
}

#[tokio::test]
async fn invisible_and_format_character_names_are_400_naming_the_rule() {
    let server = TestServer::start().await;
    for (name, rule) in [
        ("Ada\u{200b}", "format"),
        ("\u{202e}Ada", "format"),
        ("\u{feff}", "format"),
        ("A\u{2028}da", "separator"),
        ("Ada\u{e000}", "private-use"),
        ("\u{3164}", "visible"),
        ("\u{115f}\u{ffa0}", "visible"),
    ] {
        let res = server.post_signin_json(&json!({ "name": name })).await;
        let error = expect_json_error(res, StatusCode::BAD_REQUEST).await;
        assert!(error.contains(rule), "{name:?}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guests_cannot_both_be_ada() {
    let server = TestServer::start().await;
    let answers = flood(10, |_| (server.url("/api/signin"), json!({"name": "Ada"}))).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let conflict = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((ok, conflict), (1, 9), "{answers:?}");
    let res = server.post_signin_json(&json!({"name": "ada"})).await;
    expect_json_error(res, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn guest_name_is_free_again_after_sign_out() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    assert_eq!(server.signout(Some(&cookie)).await.status(), 204);
    server.signin("Ada").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_name_ends_look_alike_guest_sessions_with_4001() {
    let server = TestServer::start().await;
    let mut guest = Member::enter(&server, "ada").await;
    let mut second = guest.another_socket(&server, "ada #2").await;
    let bystander = server.signin("Bea").await.1;
    let body = json!({"name": "Ada", "password": "correct horse"});
    let res = server.post_json("/api/register", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account: User = res.json().await.expect("user");
    assert!(!account.guest);
    assert_eq!(guest.ws.expect_close().await.0, 4001);
    assert_eq!(second.expect_close().await.0, 4001);
    expect_json_error(
        server.me(Some(&guest.cookie)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let mut again = WsClient::chat(&server, &guest.cookie, "after").await;
    assert_eq!(again.expect_close().await.0, 4001);
    assert_eq!(server.me(Some(&bystander)).await.status(), 200);
}

#[tokio::test]
async fn users_say_whether_they_are_guests() {
    let server = TestServer::start().await;
    let (guest, cookie) = server.signin("Gus").await;
    assert!(guest.guest);
    let me: User = server.me(Some(&cookie)).await.json().await.expect("me");
    assert!(me.guest);
    let body = json!({"name": "Ada", "password": "correct horse"});
    let res = server.post_json("/api/register", &body).await;
    let cookie = session_cookie(&res);
    let account: User = res.json().await.expect("user");
    assert!(!account.guest);
    let me: User = server.me(Some(&cookie)).await.json().await.expect("me");
    assert!(!me.guest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_and_abandoned_guests_are_purged_at_start() {
    common::sqlite_only!("reads the SQLite file directly");
    let mut server = TestServer::start().await;
    let data = server.data.clone();
    let (gone, _) = server.signin("Gone").await;
    let (kept, kept_cookie) = server.signin("Kept").await;
    let body = json!({"name": "Ada", "password": "correct horse"});
    assert_eq!(server.post_json("/api/register", &body).await.status(), 201);
    server.trigger_shutdown();
    server.stopped().await.expect("clean stop");

    let db = rusqlite::Connection::open(data.path().join("chat.db")).expect("open db");
    let long_ago = (common::now_millis() - 31 * 24 * 3600 * 1000) as i64;
    db.execute("UPDATE users SET created_ms = ?1", [long_ago])
        .expect("age the users");
    db.execute(
        "UPDATE sessions SET last_seen_ms = ?1 WHERE user_id IN (?2, 3)",
        [long_ago, gone.id as i64],
    )
    .expect("age Gone's and Ada's sessions");

    let server = TestServer::start_in(data.clone(), |_| {}).await;
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let deadline = Instant::now() + common::WAIT;
    while count("SELECT count(*) FROM users WHERE name = 'Gone'") != 0 {
        assert!(
            Instant::now() < deadline,
            "the expired guest was never purged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count("SELECT count(*) FROM sessions"),
        1,
        "only Kept's session is left"
    );
    assert_eq!(
        count("SELECT count(*) FROM users WHERE name = 'Ada'"),
        1,
        "accounts stay"
    );
    let me: User = server
        .me(Some(&kept_cookie))
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me, kept);
    // The purged guest's name is free again.
    server.signin("Gone").await;
}
