//! The WebSocket endpoints and their handshake: `/ws/echo`, unknown `/ws/*` paths, the
//! `Origin` check, and `/ws/chat` refusing sockets without a valid session with 4001.

mod common;

use common::ws::{connect, refused_status, Event, WsClient};
use common::{TestServer, ALLOWED_ORIGIN};
use shared::ServerBody;
use tokio_tungstenite::tungstenite::Message;

/// An echo socket opened with `origin` answers like one without.
async fn echo_works_with_origin(server: &TestServer, origin: Option<&str>) {
    let mut ws = WsClient::open(server, "/ws/echo", None, origin, "echo").await;
    ws.send_text("hi").await;
    assert_eq!(ws.next_text().await, "ECHO: hi", "origin {origin:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_replies_to_text_t_with_echo_t() {
    let server = TestServer::start().await;
    let mut ws = WsClient::echo(&server).await;
    for text in [
        "hello",
        "",
        "  spaced  ",
        "ünïcødé ✓",
        "{\"type\":\"chat\"}",
    ] {
        ws.send_text(text).await;
        assert_eq!(ws.next_text().await, format!("ECHO: {text}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ws_path_is_404_without_upgrade() {
    let server = TestServer::start().await;
    for path in ["/ws/foo", "/ws/", "/ws/chat/extra", "/ws/Echo"] {
        let status = refused_status(connect(&server, path, None, None).await);
        assert_eq!(status, 404, "upgrade to {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_403_without_upgrade() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    let lookalike = format!("{}.evil.test", server.own_origin());
    let other_port = format!("http://127.0.0.1:{}", server.addr.port().wrapping_add(1));
    for origin in [
        "http://evil.test",
        "null",
        lookalike.as_str(),
        other_port.as_str(),
    ] {
        for path in ["/ws/chat", "/ws/echo"] {
            let status = refused_status(connect(&server, path, Some(&cookie), Some(origin)).await);
            assert_eq!(status, 403, "origin {origin:?} on {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_origin_is_allowed() {
    let server = TestServer::start().await;
    echo_works_with_origin(&server, Some(&server.own_origin())).await;
    let (user, cookie) = server.signin("Alice").await;
    let origin = server.own_origin();
    let mut ws = WsClient::open(&server, "/ws/chat", Some(&cookie), Some(&origin), "chat").await;
    let join = ws.next_msg().await;
    assert_eq!(join.body, ServerBody::Join("Alice joined.".into()));
    assert_eq!(join.user, user);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_allowed_origin_is_allowed() {
    let server = TestServer::start().await;
    echo_works_with_origin(&server, Some(ALLOWED_ORIGIN)).await;
    // The configured list is what makes it pass: another server without it refuses.
    let strict = TestServer::start_with(|config| config.allow_origins.clear()).await;
    let status = refused_status(connect(&strict, "/ws/echo", None, Some(ALLOWED_ORIGIN)).await);
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_origin_is_allowed() {
    let server = TestServer::start().await;
    echo_works_with_origin(&server, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_without_session_is_upgraded_then_closed_with_4001_invalid_user() {
    let server = TestServer::start().await;
    let mut ws = WsClient::open(&server, "/ws/chat", None, None, "anonymous").await;
    assert_eq!(ws.expect_close().await, (4001, "Invalid user".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_forged_or_garbage_cookie_is_closed_with_4001_invalid_user() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    let server = TestServer::start().await;
    let forged = STANDARD.encode(r#"{"id":1,"name":"Mallory","image":1}"#);
    for cookie in [forged.as_str(), "garbage", "a.b"] {
        let mut ws = WsClient::open(&server, "/ws/chat", Some(cookie), None, cookie).await;
        assert_eq!(
            ws.expect_close().await,
            (4001, "Invalid user".to_owned()),
            "cookie {cookie:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_signed_out_cookie_is_closed_with_4001_invalid_user() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    server.signout(Some(&cookie)).await;
    let mut ws = WsClient::chat(&server, &cookie, "signed out").await;
    assert_eq!(ws.expect_close().await, (4001, "Invalid user".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ping_is_answered_with_pong() {
    let server = TestServer::start().await;
    let mut ws = WsClient::echo(&server).await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await;
    let pong = common::bounded("a pong", async {
        loop {
            match futures_util::StreamExt::next(&mut ws.ws).await {
                Some(Ok(Message::Pong(payload))) => return payload,
                Some(Ok(Message::Ping(_))) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(&pong[..], b"are you there");
    // And the socket still works.
    ws.send_text("still here").await;
    assert!(matches!(ws.next_event().await, Event::Text(t) if t == "ECHO: still here"));
}
