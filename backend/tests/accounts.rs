//! Accounts and server-side sessions: registration, passwords, guests on registered
//! names, password-guessing limits, idle expiry, and sign-out ending everything.

mod common;

use std::time::Duration;

use common::ws::{Member, WsClient};
use common::{expect_error_code, expect_json_error, session_cookie, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use shared::User;

async fn register(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    server
        .post_json(
            "/api/register",
            &json!({"name": name, "password": password}),
        )
        .await
}

async fn signin_with(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    server
        .post_json("/api/signin", &json!({"name": name, "password": password}))
        .await
}

#[tokio::test]
async fn register_answers_201_with_the_user_and_a_working_session() {
    let server = TestServer::start().await;
    let res = register(&server, "Ada", "correct horse").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = session_cookie(&res);
    let user: User = res.json().await.expect("user object");
    assert_eq!(user.name, "Ada");
    assert_eq!(user.image as u64, user.id % 10);
    let me: User = server.me(Some(&cookie)).await.json().await.expect("me");
    assert_eq!(me, user);
}

#[tokio::test]
async fn registered_name_is_taken_regardless_of_case() {
    let server = TestServer::start().await;
    assert_eq!(
        register(&server, "Ada", "correct horse").await.status(),
        201
    );
    let res = register(&server, "aDA", "another pass").await;
    expect_json_error(res, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn password_must_be_8_to_128_characters() {
    let server = TestServer::start().await;
    let short = expect_json_error(
        register(&server, "Ada", "seven77").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(short.contains("password"), "{short}");
    let long = "p".repeat(129);
    expect_json_error(
        register(&server, "Ada", &long).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        register(&server, "Ada", &"p".repeat(128)).await.status(),
        201
    );
    assert_eq!(register(&server, "Bea", "eight888").await.status(), 201);
}

#[tokio::test]
async fn registered_user_keeps_the_same_id_across_sign_ins() {
    let server = TestServer::start().await;
    let first: User = register(&server, "Ada", "correct horse")
        .await
        .json()
        .await
        .expect("user");
    server.signin("Guest").await;
    let res = signin_with(&server, "ADA", "correct horse").await;
    assert_eq!(res.status(), StatusCode::OK);
    let again: User = res.json().await.expect("user");
    assert_eq!(
        again, first,
        "same id and the registered spelling of the name"
    );
}

#[tokio::test]
async fn password_sign_in_tells_no_account_from_a_wrong_password() {
    let server = TestServer::start().await;
    register(&server, "Ada", "correct horse").await;
    let wrong = signin_with(&server, "Ada", "wrong horse").await;
    assert_eq!(
        expect_error_code(wrong, StatusCode::UNAUTHORIZED).await,
        "wrong_password"
    );
    // The client offers to register a name that has no account.
    let unknown = signin_with(&server, "Nobody", "wrong horse").await;
    assert_eq!(
        expect_error_code(unknown, StatusCode::UNAUTHORIZED).await,
        "no_account"
    );
    // A guest's name has no account either.
    server.signin("Gus").await;
    let guest = signin_with(&server, "Gus", "some password").await;
    assert_eq!(
        expect_error_code(guest, StatusCode::UNAUTHORIZED).await,
        "no_account"
    );
}

#[tokio::test]
async fn sign_in_and_register_refusals_carry_their_code() {
    let server = TestServer::start().await;
    let short = register(&server, "Ada", "short").await;
    assert_eq!(
        expect_error_code(short, StatusCode::BAD_REQUEST).await,
        "bad_password"
    );
    let missing = server
        .post_json("/api/register", &json!({"name": "Ada"}))
        .await;
    assert_eq!(
        expect_error_code(missing, StatusCode::BAD_REQUEST).await,
        "bad_password"
    );
    let invisible = server
        .post_signin_json(&json!({"name": "A\u{200B}da"}))
        .await;
    assert_eq!(
        expect_error_code(invisible, StatusCode::BAD_REQUEST).await,
        "bad_name"
    );
    register(&server, "Ada", "correct horse").await;
    let taken = register(&server, "ADA", "correct horse").await;
    assert_eq!(
        expect_error_code(taken, StatusCode::CONFLICT).await,
        "name_taken"
    );
    let guest = server.post_signin_json(&json!({"name": "ada"})).await;
    assert_eq!(
        expect_error_code(guest, StatusCode::CONFLICT).await,
        "name_taken"
    );
}

#[tokio::test]
async fn guest_sign_in_is_refused_on_a_registered_name() {
    let server = TestServer::start().await;
    register(&server, "Ada", "correct horse").await;
    let res = server.post_signin_json(&json!({"name": " ada "})).await;
    expect_json_error(res, StatusCode::CONFLICT).await;
    // Names no account holds still work for guests, as before.
    server.signin("Adam").await;
}

#[tokio::test]
async fn no_guests_flag_turns_guest_sign_in_off() {
    let server = TestServer::start_with(|c| c.no_guests = true).await;
    let res = server.post_signin_json(&json!({"name": "Guest"})).await;
    expect_json_error(res, StatusCode::FORBIDDEN).await;
    assert_eq!(
        register(&server, "Ada", "correct horse").await.status(),
        201
    );
    assert_eq!(
        signin_with(&server, "Ada", "correct horse").await.status(),
        200
    );
}

#[tokio::test]
async fn sixth_failed_password_for_a_name_within_a_minute_is_429_with_retry_after() {
    let server = TestServer::start().await;
    register(&server, "Ada", "correct horse").await;
    for _ in 0..5 {
        assert_eq!(signin_with(&server, "Ada", "wrong").await.status(), 401);
    }
    let res = signin_with(&server, "ada", "correct horse").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    expect_json_error(res, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn failures_from_one_address_are_limited_across_names() {
    let server = TestServer::start_with(|c| c.login_fails_per_addr = 3).await;
    for name in ["a1", "a2", "a3"] {
        assert_eq!(signin_with(&server, name, "wrong pass").await.status(), 401);
    }
    let res = signin_with(&server, "a4", "wrong pass").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn password_is_stored_only_as_an_argon2id_hash() {
    common::sqlite_only!("reads the SQLite file directly");
    let server = TestServer::start().await;
    register(&server, "Ada", "correct horse").await;
    let db = rusqlite::Connection::open(server.data.path().join("chat.db")).expect("open db");
    let stored: String = db
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'Ada'",
            [],
            |r| r.get(0),
        )
        .expect("a hash");
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("correct horse"));
}

#[tokio::test]
async fn session_token_is_stored_only_as_a_hash() {
    common::sqlite_only!("reads the SQLite file directly");
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    let token = cookie.split('.').next().expect("token part").to_owned();
    let db = rusqlite::Connection::open(server.data.path().join("chat.db")).expect("open db");
    let hashes: Vec<Vec<u8>> = db
        .prepare("SELECT token_hash FROM sessions")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("sessions");
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32, "a SHA-256 hash");
    assert!(!String::from_utf8_lossy(&hashes[0]).contains(&token));
}

#[tokio::test]
async fn session_idle_longer_than_the_limit_has_expired() {
    common::sqlite_only!("reads the SQLite file directly");
    let server = TestServer::start_with(|c| c.session_idle_days = 30).await;
    let (_, cookie) = server.signin("Ada").await;
    assert_eq!(server.me(Some(&cookie)).await.status(), 200);
    let db = rusqlite::Connection::open(server.data.path().join("chat.db")).expect("open db");
    let thirty_one_days_ago = common::now_millis() - 31 * 24 * 3600 * 1000;
    db.execute(
        "UPDATE sessions SET last_seen_ms = ?1",
        [thirty_one_days_ago as i64],
    )
    .expect("age the session");
    expect_json_error(server.me(Some(&cookie)).await, StatusCode::UNAUTHORIZED).await;
    let mut ws = WsClient::chat(&server, &cookie, "expired").await;
    assert_eq!(ws.expect_close().await.0, 4001);
}

#[tokio::test]
async fn session_used_within_the_limit_stays_valid() {
    common::sqlite_only!("reads the SQLite file directly");
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    let db = rusqlite::Connection::open(server.data.path().join("chat.db")).expect("open db");
    let twenty_nine_days_ago = common::now_millis() - 29 * 24 * 3600 * 1000;
    db.execute(
        "UPDATE sessions SET last_seen_ms = ?1",
        [twenty_nine_days_ago as i64],
    )
    .expect("age the session");
    assert_eq!(server.me(Some(&cookie)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_closes_sockets_with_4001_and_the_old_cookie_works_nowhere() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let mut second = ada.another_socket(&server, "Ada #2").await;
    assert_eq!(server.signout(Some(&ada.cookie)).await.status(), 204);
    assert_eq!(ada.ws.expect_close().await.0, 4001);
    assert_eq!(second.expect_close().await.0, 4001);
    expect_json_error(server.me(Some(&ada.cookie)).await, StatusCode::UNAUTHORIZED).await;
    let mut again = WsClient::chat(&server, &ada.cookie, "after sign-out").await;
    assert_eq!(again.expect_close().await.0, 4001);
    let res = server.get_with_cookie("/api/history", &ada.cookie).await;
    expect_json_error(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn accounts_and_sessions_survive_a_restart() {
    let mut server = TestServer::start().await;
    let data = server.data.clone();
    let ada: User = register(&server, "Ada", "correct horse")
        .await
        .json()
        .await
        .expect("user");
    let (_, guest_cookie) = server.signin("Guest").await;
    server.trigger_shutdown();
    server.stopped().await.expect("clean stop");

    let server = TestServer::start_in(data, |_| {}).await;
    let me: User = server
        .me(Some(&guest_cookie))
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me.name, "Guest");
    let again: User = signin_with(&server, "Ada", "correct horse")
        .await
        .json()
        .await
        .expect("user");
    assert_eq!(again, ada);
    let (newcomer, _) = server.signin("Newcomer").await;
    assert!(
        newcomer.id > me.id,
        "user ids keep increasing across restarts"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
}
