//! Regression tests for the attacks on chat sockets and the hub: replay pinning with
//! sockets that never read, too many sockets per session, oversized `history` frames,
//! bursts that closed honest readers, allowances reset by reconnecting, `left`/`join`
//! flicker, and control characters in chat lines. The ones that measure memory or time
//! run against the real server binary.

mod common;

use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::ws::{enter_room, Member, WsClient};
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shared::ServerBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const MIB: u64 = 1024 * 1024;

/// Signs in as guest `name` on a server process; returns the `Cookie` header value.
async fn guest_cookie(http: &reqwest::Client, server: &ServerProcess, name: &str) -> String {
    let res = http
        .post(server.url("/api/signin"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("POST /api/signin");
    assert_eq!(res.status(), 200, "guest sign-in as {name}");
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("sign-in sets a cookie");
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// Opens `/ws/chat<query>` on a server process with `cookie`.
async fn open_chat(server: &ServerProcess, cookie: &str, query: &str) -> Socket {
    let mut request = server
        .ws_url(&format!("/ws/chat{query}"))
        .into_client_request()
        .expect("a WebSocket URL");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    let (socket, _) = common::bounded(
        "a chat handshake",
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the chat socket opens");
    socket
}

/// The next text frame as JSON; `Err` with what came instead (a close, an error, the end).
async fn next_json(socket: &mut Socket) -> Result<Value, String> {
    loop {
        let next = common::bounded("the next frame", socket.next()).await;
        return match next {
            Some(Ok(Message::Text(text))) => {
                Ok(serde_json::from_str(text.as_str()).expect("frames are JSON"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => Err(format!("{other:?}")),
        };
    }
}

/// A raw client socket that completes the handshake to `/ws/chat?since=0` and then never
/// reads again, with a receive buffer as small as the kernel allows.
async fn non_reading_socket(server: &ServerProcess, cookie: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket
        .set_recv_buffer_size(1024)
        .expect("a small receive buffer");
    let mut stream = socket.connect(server.addr).await.expect("connect");
    let request = format!(
        "GET /ws/chat?since=0 HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: {cookie}\r\n\r\n",
        server.addr
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = common::bounded("the 101 answer", stream.read(&mut byte))
            .await
            .expect("read the answer");
        assert_eq!(n, 1, "the answer is complete");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "upgraded: {head}");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_pinning_with_non_reading_sockets_stays_within_64_mb_and_is_closed() {
    let server = ServerProcess::start(&[
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
        "--write-deadline-secs",
        "3",
        "--guests-per-addr-hour",
        "1000",
        "--max-conns-per-addr",
        "1000",
    ]);
    let http = reqwest::Client::new();
    // 1000 messages of 2000 three-byte characters: a full replay is about 6 MB.
    let writer_cookie = guest_cookie(&http, &server, "Writer").await;
    let mut writer = open_chat(&server, &writer_cookie, "").await;
    let text = "€".repeat(2000);
    for _ in 0..3 {
        next_json(&mut writer).await.expect("the greeting");
    }
    // In rounds, reading the echoes, so the writer's own queue never overflows.
    for _ in 0..50 {
        for _ in 0..20 {
            let frame = json!({ "type": "chat", "text": text }).to_string();
            writer.send(Message::text(frame)).await.expect("send");
        }
        let mut echoed = 0;
        while echoed < 20 {
            let frame = next_json(&mut writer).await.expect("the echo of a line");
            if frame["type"] == "chat" {
                echoed += 1;
            }
        }
    }

    // The writer goes on reading, as an honest client does, until its last line returns.
    let (mut writer_tx, mut writer_rx) = writer.split();
    let writer_reads = tokio::spawn(async move {
        while let Some(Ok(frame)) = writer_rx.next().await {
            if frame.to_text().is_ok_and(|t| t.contains("still here")) {
                return true;
            }
        }
        false
    });

    let pinner = guest_cookie(&http, &server, "Pinner").await;
    let fds_before = server.open_fds();
    // On PostgreSQL, the sockets' session checks may open the request pool's remaining
    // connections, which stay open for later requests: not the sockets' cost.
    let pool_growth = if common::pg::enabled() {
        backend::store::postgres::POOL_SIZE
    } else {
        0
    };
    let rss_before = server.rss();
    let started = Instant::now();
    // Sampled from the first socket until the last is closed.
    let (peak, sockets) = server
        .peak_rss_during(async {
            let mut sockets = Vec::new();
            for _ in 0..100 {
                sockets.push(non_reading_socket(&server, &pinner).await);
            }
            // The write deadline (3 s) and the close wait (3 s) end every one of them.
            server
                .wait_for(
                    "the non-reading sockets to be closed",
                    Duration::from_secs(20),
                    |s| s.open_fds() <= fds_before + 2 + pool_growth,
                )
                .await;
            sockets
        })
        .await;
    println!("closed {:?} after they were opened", started.elapsed());
    let grown = peak.saturating_sub(rss_before);
    println!(
        "RSS before {} MiB, peak {} MiB: grew by {} MiB",
        rss_before / MIB,
        peak / MIB,
        grown / MIB
    );
    assert!(
        grown <= 64 * MIB,
        "100 non-reading replays grew the server by {} MiB",
        grown / MIB
    );
    drop(sockets);
    // The writer, who reads, is still being served.
    let line = json!({"type": "chat", "text": "still here"}).to_string();
    writer_tx.send(Message::text(line)).await.expect("send");
    let served = common::bounded("the writer's line", writer_reads).await;
    assert!(served.expect("the reading task"), "the writer stays open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_reading_socket_that_keeps_sending_pongs_is_closed_by_the_write_deadline() {
    let server = ServerProcess::start(&[
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
        "--write-deadline-secs",
        "2",
    ]);
    let http = reqwest::Client::new();
    let writer_cookie = guest_cookie(&http, &server, "Writer").await;
    let mut writer = open_chat(&server, &writer_cookie, "").await;
    for _ in 0..3 {
        next_json(&mut writer).await.expect("the greeting");
    }
    // 20 lines of 2000 characters: a replay of about 40 KB, more than the kernel proves.
    for _ in 0..20 {
        let frame = json!({ "type": "chat", "text": "x".repeat(2000) }).to_string();
        writer.send(Message::text(frame)).await.expect("send");
        next_json(&mut writer).await.expect("the echo");
    }
    let cookie = guest_cookie(&http, &server, "Pinner").await;
    let fds_before = server.open_fds();
    let mut socket = non_reading_socket(&server, &cookie).await;
    let opened = Instant::now();
    // Unsolicited, masked, empty pongs every 200 ms: alive by the ping rule, never reading.
    let keep_alive = tokio::spawn(async move {
        while socket.write_all(&[0x8a, 0x80, 1, 2, 3, 4]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    server
        .wait_for("the socket to be opened", Duration::from_secs(5), |s| {
            s.open_fds() > fds_before
        })
        .await;
    // 2 s of deadline and 3 s to take the close frame: well before the 60 s ping rule.
    server
        .wait_for(
            "the non-reading socket to be closed",
            Duration::from_secs(15),
            |s| s.open_fds() <= fds_before,
        )
        .await;
    println!("closed after {:?}", opened.elapsed());
    assert!(opened.elapsed() < Duration::from_secs(15));
    keep_alive.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_stops_reading_while_lines_keep_coming_is_closed_by_the_write_deadline() {
    let server = ServerProcess::start(&[
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
        "--write-deadline-secs",
        "2",
    ]);
    let http = reqwest::Client::new();
    let writer_cookie = guest_cookie(&http, &server, "Writer").await;
    let mut writer = open_chat(&server, &writer_cookie, "").await;
    for _ in 0..3 {
        next_json(&mut writer).await.expect("the greeting");
    }
    let fds_before = server.open_fds();
    // An ordinary client with ordinary buffers that reads nothing after the handshake.
    let idle_cookie = guest_cookie(&http, &server, "Idle").await;
    let idle = open_chat(&server, &idle_cookie, "").await;
    let opened = Instant::now();
    let mut closed = false;
    while opened.elapsed() < Duration::from_secs(15) {
        // 6 KB a line, read by the writer: data keeps waiting for the idle client.
        let frame = json!({ "type": "chat", "text": "€".repeat(2000) }).to_string();
        writer.send(Message::text(frame)).await.expect("send");
        loop {
            if next_json(&mut writer).await.expect("the writer stays open")["type"] == "chat" {
                break;
            }
        }
        if server.open_fds() <= fds_before {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("closed after {:?}", opened.elapsed());
    assert!(closed, "the idle client was not closed within 15 s");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventeenth_socket_of_one_session_is_closed_with_1008() {
    let server = TestServer::start().await;
    let ada = Member::enter(&server, "Ada").await;
    let mut others = Vec::new();
    for n in 2..=16 {
        others.push(ada.another_socket(&server, &format!("Ada #{n}")).await);
    }
    let mut extra = WsClient::chat(&server, &ada.cookie, "Ada #17").await;
    let (code, reason) = extra.expect_close().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("too many sockets"), "{reason}");
    // Once one closes, there is room again.
    others.pop().expect("a socket").close().await;
    let _again = ada.another_socket(&server, "Ada #16 again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_frame_is_at_most_256_kib_with_the_newest_messages_and_truncated() {
    let server = TestServer::start().await;
    let mut ada = Member::enter(&server, "Ada").await;
    let text = "€".repeat(2000);
    let mut last = 0;
    for _ in 0..200 {
        ada.send_chat(&text).await;
        last = ada.next_msg().await.id;
    }
    let mut resumed =
        WsClient::open(&server, "/ws/chat?since=0", Some(&ada.cookie), None, "r").await;
    assert_eq!(resumed.next_msg().await.body.kind(), "list");
    let raw = resumed.next_text().await;
    assert!(raw.len() <= 256 * 1024, "history of {} bytes", raw.len());
    let history: Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(history["type"], "history");
    assert_eq!(history["truncated"], true);
    let ids: Vec<u64> = history["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect();
    assert!(ids.len() >= 30, "it holds what fits: {}", ids.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(ids.last(), Some(&last), "the newest are the ones kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_200_guests_sending_5_messages_each_does_not_close_honest_readers() {
    let server = ServerProcess::start(&[
        "--guests-per-addr-hour",
        "10000",
        "--max-conns-per-addr",
        "10000",
    ]);
    let http = reqwest::Client::new();
    let mut readers = Vec::new();
    for n in 0..3 {
        let cookie = guest_cookie(&http, &server, &format!("Reader{n}")).await;
        readers.push(open_chat(&server, &cookie, "").await);
    }
    // Readers read all along, as an honest client does; each counts the chat lines.
    let (go_tx, go) = tokio::sync::watch::channel(false);
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut chats = 0;
                while chats < 1000 {
                    let next = tokio::time::timeout(Duration::from_secs(20), socket.next()).await;
                    match next {
                        Ok(Some(Ok(Message::Text(text)))) => {
                            if text.as_str().contains(r#""type":"chat""#) {
                                chats += 1;
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        other => return Err(format!("after {chats} chats: {other:?}")),
                    }
                }
                Ok(chats)
            })
        })
        .collect();
    let mut senders = Vec::new();
    for n in 0..200 {
        let cookie = guest_cookie(&http, &server, &format!("Guest{n}")).await;
        let socket = open_chat(&server, &cookie, "").await;
        let mut go = go.clone();
        senders.push(tokio::spawn(async move {
            let (mut write, mut read) = socket.split();
            // Guests drain their sockets too, so only the readers' fate is measured.
            let drain = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
            let _ = go.wait_for(|go| *go).await;
            for i in 0..5 {
                let frame = json!({"type": "chat", "text": format!("burst {n}/{i}")});
                write
                    .send(Message::text(frame.to_string()))
                    .await
                    .expect("send a burst line");
            }
            (write, drain)
        }));
    }
    go_tx.send(true).expect("start the bursts");
    let mut kept = Vec::new();
    for sender in senders {
        kept.push(sender.await.expect("a sender"));
    }
    for (n, reader) in reading.into_iter().enumerate() {
        let chats = reader.await.expect("a reader task");
        assert_eq!(chats, Ok(1000), "reader {n} saw every line and stayed open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_does_not_reset_the_chat_allowance() {
    let server = TestServer::start_with(|config| {
        config.rate_burst = 5.0;
        config.rate_per_sec = 0.01;
    })
    .await;
    let mut ada = Member::enter(&server, "Ada").await;
    for n in 0..5 {
        ada.send_chat(&format!("line {n}")).await;
        assert_eq!(ada.next_msg().await.body.kind(), "chat");
    }
    ada.send_chat("one too many").await;
    assert!(
        matches!(ada.next_msg().await.body, ServerBody::Error(ref e) if e.message.contains("slow down"))
    );
    ada.ws.close().await;
    let mut again = WsClient::chat(&server, &ada.cookie, "Ada again").await;
    loop {
        if again.next_msg().await.body.kind() == "history" {
            break;
        }
    }
    again.send_chat("after reconnecting").await;
    let answer = again.next_msg().await;
    assert!(
        matches!(answer.body, ServerBody::Error(ref e) if e.message.contains("slow down")),
        "the allowance is still used up: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_within_the_presence_grace_sends_no_left_or_join() {
    let server = TestServer::start_with(|config| config.presence_grace_secs = 10).await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let bob = room.pop().expect("Bob");
    let bob_user = bob.user.clone();
    bob.ws.close().await;
    // Bob reloads: a new socket on the same session, no `join` for anyone.
    let mut bob_again = WsClient::chat(&server, &bob.cookie, "Bob again").await;
    let list = bob_again.next_msg().await;
    assert!(
        matches!(list.body, ServerBody::List(ref users) if users.contains(&bob_user)),
        "the greeting is list then history, no join: {list:?}"
    );
    room[0].send_chat("marker").await;
    let alice = room[0].user.clone();
    room[0].expect_chat(&alice, "marker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_is_sent_once_after_the_presence_grace_and_the_list_keeps_the_user_until_then() {
    let server = TestServer::start_with(|config| config.presence_grace_secs = 2).await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let bob = room.pop().expect("Bob");
    let bob_user = bob.user.clone();
    let closed = Instant::now();
    bob.ws.close().await;
    // During the grace period Bob is still listed for a newcomer.
    let (carol_user, carol_cookie) = server.signin("Carol").await;
    let mut carol = WsClient::chat(&server, &carol_cookie, "Carol").await;
    assert_eq!(carol.next_msg().await.body.kind(), "join");
    let list = carol.next_msg().await;
    assert!(
        matches!(list.body, ServerBody::List(ref users) if users.contains(&bob_user)),
        "{list:?}"
    );
    room[0].expect_join(&carol_user).await;
    room[0].expect_left(&bob_user).await;
    let waited = closed.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "left after the 2 s grace, not {waited:?}"
    );
    room[0].send_chat("marker").await;
    let alice = room[0].user.clone();
    room[0].expect_chat(&alice, "marker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_chat_text_or_cid_are_refused_and_not_broadcast() {
    let server = TestServer::start().await;
    let mut room = enter_room(&server, &["Alice", "Bob"]).await;
    let frames = [
        json!({"type": "chat", "text": "ding\u{7}"}),
        json!({"type": "chat", "text": "\u{1b}[2Jwiped"}),
        json!({"type": "chat", "text": "nul\u{0}byte"}),
        json!({"type": "chat", "text": "c1\u{9b}csi"}),
        json!({"type": "chat", "text": "ok", "cid": "a\u{1b}b"}),
    ];
    for frame in frames {
        room[0].ws.send_text(frame.to_string()).await;
        let answer = room[0].next_msg().await;
        assert!(
            matches!(answer.body, ServerBody::Error(ref e) if e.message.contains("control")),
            "{frame}: {answer:?}"
        );
    }
    room[0].send_chat("two\nlines\tand a tab").await;
    let alice = room[0].user.clone();
    for member in &mut room {
        member.expect_chat(&alice, "two\nlines\tand a tab").await;
    }
}
