//! How sockets end from the server's side: sign-out closes that session's sockets with
//! 4001, and shutting the server down closes every socket with 1001 before `run` returns.

mod common;

use common::ws::{enter_room, Member, WsClient};
use common::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signout_closes_that_sessions_open_sockets_with_4001() {
    let server = TestServer::start().await;
    let mut alice = Member::enter(&server, "Alice").await;
    let mut alice_again = alice.another_socket(&server, "Alice #2").await;

    let res = server.signout(Some(&alice.cookie)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        alice.ws.expect_close().await,
        (4001, "Invalid user".to_owned())
    );
    assert_eq!(
        alice_again.expect_close().await,
        (4001, "Invalid user".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signout_leaves_other_users_sockets_open() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice = room[0].user.clone();
    let bob = room[1].user.clone();

    server.signout(Some(&room[0].cookie)).await;
    assert_eq!(room[0].ws.expect_close().await.0, 4001);
    // Bob sees Alice leave and can still talk.
    room[1].expect_left(&alice).await;
    room[1].send_chat("still here").await;
    room[1].expect_chat(&bob, "still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signout_of_one_session_leaves_other_sessions_sockets_open() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice"]).await;
    // Bob has an account, so he can hold two sessions (two guests cannot share a name).
    let body = serde_json::json!({"name": "Bob", "password": "correct horse"});
    let registered = server.post_json("/api/register", &body).await;
    let cookie = common::session_cookie(&registered);
    let bob: shared::User = registered.json().await.expect("user");
    let mut ws = WsClient::chat(&server, &cookie, "Bob").await;
    for kind in ["join", "list", "history"] {
        assert_eq!(ws.next_msg().await.body.kind(), kind);
    }
    room[0].expect_join(&bob).await;
    room.push(Member {
        user: bob.clone(),
        cookie,
        ws,
    });
    // Bob signs out a session of his with no socket: his open socket is another session.
    let other = server.post_json("/api/signin", &body).await;
    let other_session = common::session_cookie(&other);
    server.signout(Some(&other_session)).await;
    room[1].send_chat("unaffected").await;
    for member in &mut room {
        member.expect_chat(&bob, "unaffected").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_closes_every_open_socket_with_1001_and_run_returns() {
    let mut server = TestServer::start().await;
    let room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice_again = room[0].another_socket(&server, "Alice #2").await;
    let echo = WsClient::echo(&server).await;
    let mut sockets: Vec<WsClient> = room.into_iter().map(|m| m.ws).collect();
    sockets.push(alice_again);
    sockets.push(echo);
    let addr = server.addr;

    server.trigger_shutdown();
    // Every socket reads at once, as real clients would.
    let closes = sockets.into_iter().map(|mut ws| {
        tokio::spawn(async move {
            let (_, code, _) = ws.close_after_texts().await;
            (ws.label.clone(), code)
        })
    });
    for close in closes.collect::<Vec<_>>() {
        let (label, code) = close.await.expect("the reading task");
        assert_eq!(code, 1001, "{label} is closed with 1001");
    }
    server.stopped().await.expect("run returns Ok");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens once run has returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_no_connections_returns() {
    let mut server = TestServer::start().await;
    assert_eq!(server.get("/signin").await.status(), StatusCode::OK);
    server.trigger_shutdown();
    server.stopped().await.expect("run returns Ok");
}
