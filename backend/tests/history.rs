//! History, resume and idempotent sends: what a socket is replayed on entry, what a
//! reconnecting client gets with `since`, `GET /api/history`, and `cid`.

mod common;

use common::ws::{chat_frame, Member, WsClient};
use common::{expect_json_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::{ServerBody, ServerMessage};

/// Sends `count` chat lines from `member` and returns them as the member received them.
async fn chat_lines(member: &mut Member, prefix: &str, count: usize) -> Vec<ServerMessage> {
    // In chunks well under the socket's queue, so the sender never lags behind.
    let mut received = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        for i in chunk {
            member.send_chat(&format!("{prefix} {i}")).await;
        }
        for _ in chunk {
            received.push(member.next_msg().await);
        }
    }
    received
}

/// Opens a chat socket with `query`, reads the greeting, and returns the history.
async fn history_on_entry(
    server: &TestServer,
    cookie: &str,
    query: &str,
) -> (Vec<ServerMessage>, bool, WsClient) {
    let mut ws = WsClient::open(
        server,
        &format!("/ws/chat{query}"),
        Some(cookie),
        None,
        "history",
    )
    .await;
    loop {
        let msg = ws.next_msg().await;
        if let ServerBody::History {
            messages,
            truncated,
        } = msg.body
        {
            return (messages, truncated, ws);
        }
        assert!(
            matches!(msg.body.kind(), "join" | "list"),
            "greeting: {msg:?}"
        );
    }
}

fn ids(messages: &[ServerMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_socket_gets_history_after_list_with_the_original_envelopes() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "line", 3).await;
    let (bea, bea_cookie) = server.signin("Bea").await;
    let mut ws = WsClient::chat(&server, &bea_cookie, "Bea").await;
    assert_eq!(ws.next_msg().await.body.kind(), "join");
    assert_eq!(ws.next_msg().await.body.kind(), "list");
    let history = ws.next_msg().await;
    assert_eq!(history.user, bea, "history's user is the recipient");
    let ServerBody::History {
        messages,
        truncated,
    } = history.body
    else {
        panic!("third message is history: {history:?}");
    };
    assert!(!truncated);
    assert_eq!(messages.len(), 4, "Ada's join and three lines");
    assert_eq!(messages[0].body, ServerBody::Join("Ada joined.".into()));
    assert_eq!(
        &messages[1..],
        &sent[..],
        "same ids, ts, users and data as broadcast"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_without_since_is_the_newest_100_oldest_first() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "line", 120).await;
    let (messages, truncated, _ws) = history_on_entry(&server, &ada.cookie, "").await;
    assert_eq!(messages.len(), 100);
    assert!(truncated, "older messages exist");
    assert_eq!(ids(&messages), ids(&sent[20..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_gets_exactly_the_missed_messages_in_order() {
    let server = TestServer::start().await;
    let mut room = common::ws::enter_room(&server, &["Ada", "Bea"]).await;
    let mut bea = room.pop().expect("Bea");
    let mut ada = room.pop().expect("Ada");
    let before = chat_lines(&mut ada, "seen", 2).await;
    for msg in &before {
        assert_eq!(bea.next_msg().await, *msg);
    }
    let last_seen = before[1].id;
    bea.ws.close().await;
    let left = ada.next_msg().await;
    assert_eq!(left.body.kind(), "left");
    let missed = chat_lines(&mut ada, "missed", 7).await;

    let (messages, truncated, mut ws) =
        history_on_entry(&server, &bea.cookie, &format!("?since={last_seen}")).await;
    assert!(!truncated);
    let mut expected = vec![left];
    expected.extend(missed);
    assert_eq!(messages, expected, "exactly the missed messages, in order");
    // Live messages continue after the greeting with nothing repeated.
    ada.send_chat("live").await;
    let live = loop {
        let msg = ws.next_msg().await;
        if msg.body.kind() == "chat" {
            break msg;
        }
    };
    assert!(live.id > expected.last().expect("missed").id);
    assert!(!expected.iter().any(|m| m.id == live.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_more_than_1000_missed_sends_the_newest_1000_and_truncated() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "m", 1010).await;
    let since = sent[0].id - 1;
    let (messages, truncated, _ws) =
        history_on_entry(&server, &ada.cookie, &format!("?since={since}")).await;
    assert!(truncated);
    assert_eq!(messages.len(), 1000);
    assert_eq!(ids(&messages), ids(&sent[10..]));
}

#[tokio::test]
async fn bad_since_is_refused_with_400_before_the_upgrade() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    for query in ["?since=abc", "?since=-1", "?since=", "?since=1e3"] {
        let result =
            common::ws::connect(&server, &format!("/ws/chat{query}"), Some(&cookie), None).await;
        assert_eq!(common::ws::refused_status(result), 400, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_endpoint_pages_back_oldest_first() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "p", 60).await;
    let res = server.get_with_cookie("/api/history", &ada.cookie).await;
    assert_eq!(res.status(), 200);
    let page: Vec<ServerMessage> = res.json().await.expect("array of envelopes");
    assert_eq!(page.len(), 50, "default limit");
    assert_eq!(ids(&page), ids(&sent[10..]));
    let before = sent[10].id;
    let res = server
        .get_with_cookie(
            &format!("/api/history?before={before}&limit=5"),
            &ada.cookie,
        )
        .await;
    let page: Vec<ServerMessage> = res.json().await.expect("array");
    assert_eq!(ids(&page), ids(&sent[5..10]));
    let res = server
        .get_with_cookie("/api/history?before=1", &ada.cookie)
        .await;
    assert_eq!(
        res.json::<Vec<Value>>().await.expect("array"),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn history_endpoint_rejects_bad_queries_with_400_and_needs_a_session() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "before=-5",
        "before=abc",
        "limit=1.5",
    ] {
        let res = server
            .get_with_cookie(&format!("/api/history?{query}"), &cookie)
            .await;
        expect_json_error(res, StatusCode::BAD_REQUEST).await;
    }
    let res = server.get("/api/history").await;
    expect_json_error(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_cid_twice_is_broadcast_once_and_the_sender_gets_the_original_again() {
    let server = TestServer::start().await;
    let mut room = common::ws::enter_room(&server, &["Ada", "Bea"]).await;
    let frame = json!({"type": "chat", "text": "once", "cid": "c-1"}).to_string();
    room[0].ws.send_text(frame.clone()).await;
    let original = room[0].next_msg().await;
    assert_eq!(
        original.body,
        ServerBody::Chat {
            text: "once".into(),
            cid: Some("c-1".into()),
            mentions: Vec::new(),
        }
    );
    assert_eq!(room[1].next_msg().await, original);
    room[0].ws.send_text(frame).await;
    assert_eq!(
        room[0].next_msg().await,
        original,
        "the stored original, same id"
    );
    room[0].send_chat("marker").await;
    room[0].next_msg().await;
    let next = room[1].next_msg().await;
    assert_eq!(
        next.body,
        ServerBody::Chat {
            text: "marker".into(),
            cid: None,
            mentions: Vec::new(),
        },
        "Bea never got the repeat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_cid_across_a_reconnect_is_broadcast_once() {
    let server = TestServer::start().await;
    let mut room = common::ws::enter_room(&server, &["Ada", "Bea"]).await;
    let frame =
        json!({"type": "chat", "text": "sent before the drop", "cid": "retry-7"}).to_string();
    room[0].ws.send_text(frame.clone()).await;
    let original = room[0].next_msg().await;
    let cookie = room[0].cookie.clone();
    let mut bea = room.pop().expect("Bea");
    let ada = room.pop().expect("Ada");
    assert_eq!(bea.next_msg().await, original);
    ada.ws.close().await;
    assert_eq!(bea.next_msg().await.body.kind(), "left");

    let (_, _, mut ws) =
        history_on_entry(&server, &cookie, &format!("?since={}", original.id)).await;
    ws.send_text(frame).await;
    assert_eq!(ws.next_msg().await, original);
    assert_eq!(bea.next_msg().await.body.kind(), "join", "Ada's return");
    ws.send_text(chat_frame("after")).await;
    let next = bea.next_msg().await;
    assert_eq!(
        next.body,
        ServerBody::Chat {
            text: "after".into(),
            cid: None,
            mentions: Vec::new(),
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cid_is_per_user() {
    let server = TestServer::start().await;
    let mut room = common::ws::enter_room(&server, &["Ada", "Bea"]).await;
    let frame = |text: &str| json!({"type": "chat", "text": text, "cid": "same"}).to_string();
    room[0].ws.send_text(frame("from Ada")).await;
    let a = room[0].next_msg().await;
    room[1].next_msg().await;
    room[1].ws.send_text(frame("from Bea")).await;
    let b = room[1].next_msg().await;
    assert_ne!(a.id, b.id);
    assert_eq!(
        b.body,
        ServerBody::Chat {
            text: "from Bea".into(),
            cid: Some("same".into()),
            mentions: Vec::new(),
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cid_is_an_error_and_nothing_is_broadcast() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    for cid in [json!(""), json!("x".repeat(65)), json!(5)] {
        ada.ws
            .send_text(json!({"type": "chat", "text": "hi", "cid": cid}).to_string())
            .await;
        let error = ada.next_msg().await;
        assert_eq!(error.body.kind(), "error", "cid {cid}");
    }
    ada.ws
        .send_text(json!({"type": "chat", "text": "ok", "cid": "x".repeat(64)}).to_string())
        .await;
    assert_eq!(ada.next_msg().await.body.kind(), "chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_faster_than_the_rate_limit_gets_slow_down_and_nothing_is_broadcast() {
    let server = TestServer::start_with(|c| {
        c.rate_burst = 5.0;
        c.rate_per_sec = 1.0;
    })
    .await;
    let mut room = common::ws::enter_room(&server, &["Ada", "Bea"]).await;
    for i in 0..6 {
        room[0].send_chat(&format!("burst {i}")).await;
    }
    for i in 0..5 {
        let msg = room[0].next_msg().await;
        assert_eq!(
            msg.body,
            ServerBody::Chat {
                text: format!("burst {i}"),
                cid: None,
                mentions: Vec::new(),
            }
        );
    }
    let refused = room[0].next_msg().await;
    let ServerBody::Error(reason) = &refused.body else {
        panic!("expected an error: {refused:?}");
    };
    assert_eq!(reason.code, shared::ErrorCode::RateLimited, "{reason:?}");
    for i in 0..5 {
        let msg = room[1].next_msg().await;
        assert_eq!(
            msg.body,
            ServerBody::Chat {
                text: format!("burst {i}"),
                cid: None,
                mentions: Vec::new(),
            }
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    room[0].send_chat("after a pause").await;
    assert_eq!(
        room[1].next_msg().await.body,
        ServerBody::Chat {
            text: "after a pause".into(),
            cid: None,
            mentions: Vec::new(),
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_ids_survive_a_restart() {
    let mut server = TestServer::start().await;
    let data = server.data.clone();
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "kept", 3).await;
    let cookie = ada.cookie.clone();
    drop(ada);
    server.trigger_shutdown();
    server.stopped().await.expect("clean stop");

    let server = TestServer::start_in(data, |_| {}).await;
    let (messages, _, mut ws) = history_on_entry(&server, &cookie, "").await;
    let kept: Vec<_> = messages
        .iter()
        .filter(|m| m.body.kind() == "chat")
        .cloned()
        .collect();
    assert_eq!(kept, sent);
    ws.send_text(chat_frame("new")).await;
    let new = ws.next_msg().await;
    assert!(new.id > sent[2].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_server_keeps_history_while_running_and_writes_no_files() {
    let server = TestServer::start_with(|c| c.in_memory = true).await;
    let mut ada = Member::enter(&server, "Ada").await;
    let sent = chat_lines(&mut ada, "kept", 3).await;
    let (messages, _, _ws) = history_on_entry(&server, &ada.cookie, "").await;
    let chats: Vec<_> = messages
        .iter()
        .filter(|m| m.body.kind() == "chat")
        .cloned()
        .collect();
    assert_eq!(chats, sent);
    let files: Vec<_> = std::fs::read_dir(server.data.path())
        .expect("data dir")
        .collect();
    assert!(files.is_empty(), "nothing written: {files:?}");
}
