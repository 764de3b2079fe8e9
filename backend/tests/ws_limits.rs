//! What `/ws/chat` refuses: over-long chats, malformed or unknown messages, binary frames,
//! frames over 16 KiB, and a client that stops reading while others keep talking.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ws::{enter_room, Event, Member};
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use shared::{ServerBody, ServerMessage, User};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// 16 KiB, the largest frame a client may send.
const MAX_FRAME: usize = 16 * 1024;

/// The next message on `member` must be an `error` addressed to it; returns its text.
async fn expect_error(member: &mut Member) -> String {
    let msg = member.next_msg().await;
    assert_eq!(msg.user, member.user, "an error names its recipient");
    match msg.body {
        ServerBody::Error(reason) => {
            assert!(!reason.message.trim().is_empty(), "the error says why");
            reason.message
        }
        other => panic!("{}: expected an error, got {other:?}", member.ws.label),
    }
}

/// Alice sends something rejected; she alone gets an `error`, Bob nothing, and her socket
/// stays open: the chat she sends next is the next message for both.
async fn rejected_to_sender_only(send: impl AsyncFnOnce(&mut Member)) -> String {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    send(&mut room[0]).await;
    let reason = expect_error(&mut room[0]).await;
    room[0].send_chat("still open").await;
    let alice = room[0].user.clone();
    for member in &mut room {
        member.expect_chat(&alice, "still open").await;
    }
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_of_2000_characters_is_accepted() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let alice = room[0].user.clone();
    // 2000 scalar values (6000 bytes), with white space around that trimming removes.
    let text = "€".repeat(2000);
    room[0].send_chat(&format!("   {text}\n\n")).await;
    for member in &mut room {
        member.expect_chat(&alice, &text).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_2000_characters_is_an_error_to_the_sender_only() {
    let reason = rejected_to_sender_only(async |alice: &mut Member| {
        alice.send_chat(&"é".repeat(2001)).await;
    })
    .await;
    assert!(
        reason.contains("2000"),
        "the error names the limit: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_an_error_and_the_socket_stays_open() {
    rejected_to_sender_only(async |alice: &mut Member| {
        alice.ws.send_text("{\"type\": \"chat\", \"text\": ").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_without_text_is_an_error_and_the_socket_stays_open() {
    rejected_to_sender_only(async |alice: &mut Member| {
        alice.ws.send_text(r#"{"type": "chat", "txt": "hi"}"#).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_type_is_an_error_and_the_socket_stays_open() {
    rejected_to_sender_only(async |alice: &mut Member| {
        alice
            .ws
            .send_text(r#"{"type": "shout", "text": "hi"}"#)
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frame_is_an_error_and_the_socket_stays_open() {
    rejected_to_sender_only(async |alice: &mut Member| {
        let json = common::ws::chat_frame("in binary");
        alice.ws.send_binary(json.into_bytes()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_over_16_kib_is_closed_with_1009() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let overhead = common::ws::chat_frame("").len();
    let frame = common::ws::chat_frame(&"a".repeat(MAX_FRAME + 1 - overhead));
    assert_eq!(frame.len(), MAX_FRAME + 1);
    room[0].ws.send_text(frame).await;
    let (code, _) = room[0].ws.expect_close().await;
    assert_eq!(code, 1009);
    // Nothing was broadcast; Bob just sees Alice leave.
    let alice = room[0].user.clone();
    room[1].expect_left(&alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_frame_over_16_kib_is_closed_with_1009() {
    let server = TestServer::start().await;
    let mut ws = common::ws::WsClient::echo(&server).await;
    ws.send_text("b".repeat(MAX_FRAME + 1)).await;
    let (code, _) = ws.expect_close().await;
    assert_eq!(code, 1009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_of_exactly_16_kib_is_not_closed() {
    let reason = rejected_to_sender_only(async |alice: &mut Member| {
        let overhead = common::ws::chat_frame("").len();
        let frame = common::ws::chat_frame(&"a".repeat(MAX_FRAME - overhead));
        assert_eq!(frame.len(), MAX_FRAME);
        alice.ws.send_text(frame).await;
    })
    .await;
    // It is read, then refused as a chat that is too long.
    assert!(reason.contains("2000"), "{reason}");
}

/// What a reading client saw of the flood.
struct Seen {
    /// Flood texts in arrival order, by their number.
    numbers: Vec<usize>,
    /// Whether it saw the slow user leave.
    saw_slow_leave: bool,
}

/// Reads `stream` until the chat `"done"` from `flooder`, recording flood numbers and
/// publishing how many arrived; sets `slow_left` when `slow` leaves.
async fn read_flood(
    mut stream: futures_util::stream::SplitStream<common::ws::Stream>,
    label: &'static str,
    flooder: User,
    slow: User,
    progress: watch::Sender<usize>,
    slow_left: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen {
        numbers: Vec::new(),
        saw_slow_leave: false,
    };
    loop {
        let frame = stream
            .next()
            .await
            .unwrap_or_else(|| panic!("{label}: socket ended during the flood"))
            .unwrap_or_else(|err| panic!("{label}: socket broke during the flood: {err}"));
        let Message::Text(text) = frame else {
            assert!(
                !frame.is_close(),
                "{label}: closed during the flood: {frame:?}"
            );
            continue;
        };
        let msg: ServerMessage = serde_json::from_str(text.as_str()).expect("a message");
        match msg.body {
            ServerBody::Chat {
                text, cid: None, ..
            } => {
                assert_eq!(msg.user, flooder, "{label}: only the flooder talks");
                if text == "done" {
                    return seen;
                }
                let number = text[..6].parse::<usize>().expect("a numbered flood text");
                seen.numbers.push(number);
                progress.send_replace(seen.numbers.len());
            }
            ServerBody::Left(_) if msg.user == slow => {
                seen.saw_slow_leave = true;
                slow_left.store(true, Ordering::Release);
            }
            other => panic!("{label}: unexpected message during the flood: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_that_does_not_read_is_closed_with_1008_and_others_get_every_message() {
    /// Most flood messages before giving up on the slow socket being closed.
    const MAX_MESSAGES: usize = 20_000;
    /// Most time the flood may take before giving up.
    const MAX_FLOOD: Duration = Duration::from_secs(120);
    /// Flood messages sent but not yet read back by both readers.
    const WINDOW: usize = 32;

    let server = TestServer::start().await;
    let room = enter_room(&server, &["Flooder", "Observer", "Slow"]).await;
    let [flooder, observer, mut slow]: [Member; 3] = room.try_into().ok().expect("three members");
    let (flooder_user, slow_user) = (flooder.user.clone(), slow.user.clone());

    let slow_left = Arc::new(AtomicBool::new(false));
    let (flooder_progress, flooder_seen) = watch::channel(0usize);
    let (observer_progress, observer_seen) = watch::channel(0usize);
    let (mut sink, flooder_stream) = flooder.ws.ws.split();
    let (_observer_sink, observer_stream) = observer.ws.ws.split();
    let flooder_reader = tokio::spawn(read_flood(
        flooder_stream,
        "Flooder",
        flooder_user.clone(),
        slow_user.clone(),
        flooder_progress,
        slow_left.clone(),
    ));
    let observer_reader = tokio::spawn(read_flood(
        observer_stream,
        "Observer",
        flooder_user.clone(),
        slow_user.clone(),
        observer_progress,
        slow_left.clone(),
    ));

    // Flood until the server gives up on the slow socket (its `left` arrives), never more
    // than WINDOW messages ahead of the two readers so that they are not slow themselves.
    let filler = "x".repeat(1494);
    let started = Instant::now();
    let mut sent = 0;
    while !slow_left.load(Ordering::Acquire) && sent < MAX_MESSAGES && started.elapsed() < MAX_FLOOD
    {
        let text = format!("{sent:06}{filler}");
        sink.send(common::ws::chat_frame(&text).into())
            .await
            .expect("the flooder can send");
        sent += 1;
        let floor = sent.saturating_sub(WINDOW);
        for (who, seen) in [("Flooder", &flooder_seen), ("Observer", &observer_seen)] {
            let mut seen = seen.clone();
            common::bounded(
                &format!("{who} to read the flood"),
                seen.wait_for(|n| *n >= floor),
            )
            .await
            .expect("the reader is running");
        }
    }
    let slow_was_closed = slow_left.load(Ordering::Acquire);

    // The slow client reads now: what was in flight, then the close frame.
    let slow_reading = async {
        let mut chats = 0usize;
        loop {
            match slow.ws.next_event().await {
                Event::Text(_) => chats += 1,
                Event::Close(Some((code, _))) => return (chats, format!("close {code}")),
                other => return (chats, format!("{other:?}")),
            }
        }
    };
    let (slow_texts, slow_close) = slow_reading.await;

    sink.send(common::ws::chat_frame("done").into())
        .await
        .expect("the flooder can send");
    let flooder_seen = common::bounded("the flooder's reader", flooder_reader)
        .await
        .expect("the flooder's reader");
    let observer_seen = common::bounded("the observer's reader", observer_reader)
        .await
        .expect("the observer's reader");

    assert!(
        slow_was_closed,
        "the slow socket was not dropped from the room after {sent} messages in {:?}",
        started.elapsed()
    );
    assert_eq!(
        slow_close, "close 1008",
        "the slow client finds a 1008 close frame after its {slow_texts} unread texts"
    );
    assert!(slow_texts < sent, "the slow client did not get everything");
    let all: Vec<usize> = (0..sent).collect();
    assert_eq!(
        observer_seen.numbers, all,
        "the observer got every message in order"
    );
    assert_eq!(
        flooder_seen.numbers, all,
        "the flooder got every message in order"
    );
    assert!(observer_seen.saw_slow_leave && flooder_seen.saw_slow_leave);
}
