//! The chat room on `/ws/chat`: `join`, `list`, `chat` and `left` — who gets them, in which
//! order, and what the envelope (`id`, `ts`, `user`, `data`) carries.

mod common;

use common::ws::{enter_room, expect_chat, Member, WsClient};
use common::{now_millis, TestServer};
use shared::{ServerBody, ServerMessage, User};

/// Ids of `msgs` must strictly increase.
fn assert_strictly_increasing(label: &str, msgs: &[ServerMessage]) {
    for pair in msgs.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "{label}: id {} ({}) is followed by id {} ({})",
            pair[0].id,
            pair[0].body.kind(),
            pair[1].id,
            pair[1].body.kind()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_is_sent_to_every_open_socket_including_the_new_one() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let (carol_user, carol_cookie) = server.signin("Carol").await;
    let mut carol = WsClient::chat(&server, &carol_cookie, "Carol").await;

    let own = carol.next_msg().await;
    assert_eq!(own.body, ServerBody::Join("Carol joined.".into()));
    assert_eq!(own.user, carol_user);
    for member in &mut room {
        let join = member.expect_join(&carol_user).await;
        assert_eq!(join.id, own.id, "a broadcast has one id");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_follows_join_on_the_new_socket_only() {
    let server = TestServer::start().await;
    let mut alice = Member::enter(&server, "Alice").await;
    let (bob_user, bob_cookie) = server.signin("Bob").await;
    let mut bob = WsClient::chat(&server, &bob_cookie, "Bob").await;

    let join = bob.next_msg().await;
    assert_eq!(join.body, ServerBody::Join("Bob joined.".into()));
    let list = bob.next_msg().await;
    assert_eq!(
        list.body,
        ServerBody::List(vec![alice.user.clone(), bob_user.clone()])
    );
    assert!(list.id > join.id);
    let history = bob.next_msg().await;
    assert_eq!(history.body.kind(), "history", "history follows list");

    // Alice gets the join and then nothing until the next chat: no list for her.
    alice.expect_join(&bob_user).await;
    bob.send_chat("after the greeting").await;
    alice.expect_chat(&bob_user, "after the greeting").await;
    expect_chat(&mut bob, &bob_user, "after the greeting").await;
}

/// Opens a chat socket for a new user `name`; returns the user, the `list` it is greeted
/// with, and the socket (which must stay open for the user to stay online).
async fn list_seen_by_newcomer(server: &TestServer, name: &str) -> (User, Vec<User>, WsClient) {
    let (user, cookie) = server.signin(name).await;
    let mut ws = WsClient::chat(server, &cookie, name).await;
    let join = ws.next_msg().await;
    assert_eq!(join.body.kind(), "join");
    match ws.next_msg().await.body {
        ServerBody::List(users) => {
            assert_eq!(ws.next_msg().await.body.kind(), "history");
            (user, users, ws)
        }
        other => panic!("{name}: expected a list, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_holds_the_distinct_online_users_ordered_by_id() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob", "Carol"]).await;
    // Alice twice: she must still be listed once.
    let _alice_again = room[0].another_socket(&server, "Alice #2").await;
    // A signed-in user without a socket is not online.
    let _ = server.signin("Offline").await;
    let (dave, list, _dave_ws) = list_seen_by_newcomer(&server, "Dave").await;
    let mut expected: Vec<User> = room.iter().map(|m| m.user.clone()).collect();
    expected.push(dave.clone());
    assert_eq!(list, expected);
    let ids: Vec<u64> = list.iter().map(|u| u.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id: {ids:?}"
    );

    // Once Bob's only socket closes he is no longer listed.
    let bob = room.remove(1);
    bob.ws.close().await;
    for member in &mut room {
        member.expect_join(&dave).await;
        member.expect_left(&bob.user).await;
    }
    let (erin, list, _erin_ws) = list_seen_by_newcomer(&server, "Erin").await;
    assert_eq!(
        list,
        vec![room[0].user.clone(), room[1].user.clone(), dave, erin]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_socket_of_same_user_gets_list_but_no_join() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let mut second = WsClient::chat(&server, &room[0].cookie, "Alice #2").await;

    let first = second.next_msg().await;
    assert_eq!(
        first.body,
        ServerBody::List(vec![room[0].user.clone(), room[1].user.clone()]),
        "the second socket's first message is the list"
    );
    assert_eq!(first.user, room[0].user);
    assert_eq!(second.next_msg().await.body.kind(), "history");

    // Nobody gets a second join: the next message everywhere is Bob's chat.
    let bob_user = room[1].user.clone();
    room[1].send_chat("next").await;
    for member in &mut room {
        member.expect_chat(&bob_user, "next").await;
    }
    expect_chat(&mut second, &bob_user, "next").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_broadcast_to_every_socket_including_the_sender_with_the_same_id() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob", "Carol"]).await;
    let mut alice_again = room[0].another_socket(&server, "Alice #2").await;
    let alice = room[0].user.clone();

    room[0].send_chat("hello everyone").await;
    let mut ids = Vec::new();
    for member in &mut room {
        ids.push(member.expect_chat(&alice, "hello everyone").await.id);
    }
    ids.push(
        expect_chat(&mut alice_again, &alice, "hello everyone")
            .await
            .id,
    );
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one id for all: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_text_is_trimmed() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice = room[0].user.clone();
    room[0].send_chat("  \t hello  there \n\u{3000}").await;
    for member in &mut room {
        member.expect_chat(&alice, "hello  there").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitespace_only_chat_is_ignored() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice = room[0].user.clone();
    for blank in ["", " ", "\t\n  ", "\u{3000}\u{a0}"] {
        room[0].send_chat(blank).await;
    }
    room[0].send_chat("after the blanks").await;
    // Nothing for the blanks, not even an error: the next message is the real chat.
    for member in &mut room {
        member.expect_chat(&alice, "after the blanks").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_is_sent_to_remaining_sockets_when_a_users_last_socket_closes() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob", "Carol"]).await;
    let bob = room.remove(1);
    let bob_user = bob.user.clone();
    bob.ws.close().await;
    let mut ids = Vec::new();
    for member in &mut room {
        ids.push(member.expect_left(&bob_user).await.id);
    }
    assert_eq!(ids[0], ids[1], "one id for all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_is_sent_when_a_socket_drops_without_a_close_handshake() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let bob = room.remove(1);
    let bob_user = bob.user.clone();
    drop(bob);
    room[0].expect_left(&bob_user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_of_two_sockets_of_a_user_sends_no_left() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice_again = room[0].another_socket(&server, "Alice #2").await;
    let alice = room[0].user.clone();
    let bob = room[1].user.clone();

    alice_again.close().await;
    room[1].send_chat("still there?").await;
    room[1].expect_chat(&bob, "still there?").await;
    room[0].expect_chat(&bob, "still there?").await;

    // Her last socket closing is what sends `left`.
    let alice_member = room.remove(0);
    alice_member.ws.close().await;
    room[0].expect_left(&alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_strictly_increase_on_each_socket_across_all_types() {
    let server = TestServer::start().await;
    let (alice_user, alice_cookie) = server.signin("Alice").await;
    let mut alice = WsClient::chat(&server, &alice_cookie, "Alice").await;
    // join, list, history
    let mut seen = vec![
        alice.next_msg().await,
        alice.next_msg().await,
        alice.next_msg().await,
    ];

    let mut bob = Member::enter(&server, "Bob").await;
    seen.push(alice.next_msg().await); // join Bob
    alice.send_chat("one").await;
    seen.push(alice.next_msg().await);
    bob.expect_chat(&alice_user, "one").await;
    alice.send_text("not json").await;
    seen.push(alice.next_msg().await); // error
    bob.send_chat("two").await;
    seen.push(alice.next_msg().await);
    let bob_user = bob.user.clone();
    bob.ws.close().await;
    seen.push(alice.next_msg().await); // left Bob

    let kinds: Vec<&str> = seen.iter().map(|m| m.body.kind()).collect();
    assert_eq!(
        kinds,
        ["join", "list", "history", "join", "chat", "error", "chat", "left"]
    );
    assert_eq!(seen[7].user, bob_user);
    assert_strictly_increasing("Alice", &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chats_reach_every_socket_in_the_same_increasing_id_order() {
    const EACH: usize = 30;
    let server = TestServer::start().await;
    let room = enter_room(&server, &["Alice", "Bob", "Carol"]).await;
    let mut tasks = Vec::new();
    for (index, member) in room.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            // Alice and Bob talk at once; everyone reads all 2 × EACH chats.
            let (mut sink, mut stream) = futures_util::StreamExt::split(member.ws.ws);
            let writer = async {
                if index < 2 {
                    for i in 0..EACH {
                        let frame = common::ws::chat_frame(&format!("{index}-{i}"));
                        futures_util::SinkExt::send(&mut sink, frame.into())
                            .await
                            .expect("send a chat");
                    }
                }
            };
            let reader = async {
                let mut got = Vec::new();
                while got.len() < 2 * EACH {
                    let frame = futures_util::StreamExt::next(&mut stream)
                        .await
                        .expect("the socket stays open")
                        .expect("a frame");
                    if let Ok(text) = frame.to_text() {
                        let msg: ServerMessage = serde_json::from_str(text).expect("a message");
                        got.push(msg);
                    }
                }
                got
            };
            let ((), got) = common::bounded("all concurrent chats", async {
                tokio::join!(writer, reader)
            })
            .await;
            (member.user.name.clone(), got)
        }));
    }
    let mut sequences = Vec::new();
    for task in tasks {
        sequences.push(task.await.expect("the member task"));
    }
    for (name, got) in &sequences {
        assert!(
            got.iter().all(|m| m.body.kind() == "chat"),
            "{name}: only chats"
        );
        assert_strictly_increasing(name, got);
        for index in 0..2 {
            // Each sender's own messages keep their order.
            let texts: Vec<String> = got
                .iter()
                .filter_map(|m| match &m.body {
                    ServerBody::Chat {
                        text: t, cid: None, ..
                    } if t.starts_with(&format!("{index}-")) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            let expected: Vec<String> = (0..EACH).map(|i| format!("{index}-{i}")).collect();
            assert_eq!(texts, expected, "{name}: chats of sender {index}");
        }
    }
    let reference: Vec<u64> = sequences[0].1.iter().map(|m| m.id).collect();
    for (name, got) in &sequences[1..] {
        let ids: Vec<u64> = got.iter().map(|m| m.id).collect();
        assert_eq!(
            ids, reference,
            "{name} saw the same messages in the same order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_is_milliseconds_since_the_epoch_near_now() {
    let server = TestServer::start().await;
    let before = now_millis();
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice = room[0].user.clone();
    room[0].send_chat("what time is it").await;
    let chat = room[1].expect_chat(&alice, "what time is it").await;
    let after = now_millis();
    // Generous slack for clock granularity, yet seconds or microseconds would be far off.
    assert!(
        chat.ts + 2_000 >= before && chat.ts <= after + 2_000,
        "ts {} is between {before} and {after} (ms since the epoch)",
        chat.ts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_is_the_subject_for_chat_join_and_left() {
    let server = TestServer::start().await;
    let mut alice = Member::enter(&server, "Alice").await;
    let mut bob = Member::enter(&server, "Bob").await;
    let bob_user: User = bob.user.clone();

    let join = alice.next_msg().await;
    assert_eq!((join.body.kind(), &join.user), ("join", &bob_user));
    bob.send_chat("hi").await;
    let chat = alice.next_msg().await;
    assert_eq!((chat.body.kind(), &chat.user), ("chat", &bob_user));
    bob.expect_chat(&bob_user, "hi").await;
    bob.ws.close().await;
    let left = alice.next_msg().await;
    assert_eq!((left.body.kind(), &left.user), ("left", &bob_user));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_is_the_recipient_for_list_and_error() {
    let server = TestServer::start().await;
    let _alice = Member::enter(&server, "Alice").await;
    let (bob_user, bob_cookie) = server.signin("Bob").await;
    let mut bob = WsClient::chat(&server, &bob_cookie, "Bob").await;
    bob.next_msg().await; // join
    let list = bob.next_msg().await;
    assert_eq!((list.body.kind(), &list.user), ("list", &bob_user));
    let history = bob.next_msg().await;
    assert_eq!((history.body.kind(), &history.user), ("history", &bob_user));
    bob.send_text("{").await;
    let error = bob.next_msg().await;
    assert_eq!((error.body.kind(), &error.user), ("error", &bob_user));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_is_one_json_envelope_with_id_type_user_data_ts() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Alice").await;
    let mut ws = WsClient::chat(&server, &cookie, "Alice").await;
    let mut frames = vec![
        ws.next_json().await,
        ws.next_json().await,
        ws.next_json().await,
    ];
    ws.send_chat("hi").await;
    frames.push(ws.next_json().await);
    ws.send_text("{").await;
    frames.push(ws.next_json().await);
    for frame in &frames {
        assert!(frame["id"].is_u64(), "`id` is a u64: {frame}");
        assert!(frame["type"].is_string(), "`type` is a string: {frame}");
        common::assert_user_object(&frame["user"]);
        assert!(frame["ts"].is_u64(), "`ts` is a u64: {frame}");
        let data_ok = match frame["type"].as_str() {
            Some("list" | "history") => frame["data"].is_array(),
            _ => frame["data"].is_string(),
        };
        assert!(data_ok, "`data` fits the type: {frame}");
    }
    let types: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(types, ["join", "list", "history", "chat", "error"]);
    assert_eq!(frames[0]["data"], "Alice joined.");
    assert_eq!(frames[3]["data"], "hi");
}
