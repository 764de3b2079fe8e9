//! Crash safety: the real server binary, killed with SIGKILL while 20 clients chat,
//! restarted on the same data directory. Nothing anyone received may be missing from
//! history, ids keep growing, and accounts and sessions still work.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 20;
const WAIT: Duration = Duration::from_secs(10);

/// A server process and the address it printed.
struct Server {
    child: Child,
    addr: String,
}

async fn start(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--addr", "127.0.0.1:0", "--dist", "/nonexistent"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--rate-burst", "100000", "--rate-per-sec", "100000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("http://").nth(1) {
                return rest.trim_end_matches('/').to_owned();
            }
        }
        panic!("server exited before printing its address");
    })
    .await
    .expect("server printed its address in time");
    Server { child, addr }
}

async fn post(addr: &str, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = res.json().await.unwrap_or(Value::Null);
    (status, cookie, body)
}

async fn get(addr: &str, path: &str, cookie: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: &str, cookie: &str, query: &str) -> Socket {
    let mut req = format!("ws://{addr}/ws/chat{query}")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
        .expect("connect");
    socket
}

/// Every stored message, walking `/api/history` back from the newest.
async fn full_history(addr: &str, cookie: &str) -> BTreeMap<u64, Value> {
    let mut all = BTreeMap::new();
    let mut before = u64::MAX;
    loop {
        let (status, page) = get(
            addr,
            &format!("/api/history?before={before}&limit=100"),
            cookie,
        )
        .await;
        assert_eq!(status, 200, "history page: {page}");
        let page = page.as_array().expect("history is an array").clone();
        if page.is_empty() {
            return all;
        }
        for msg in page {
            let id = msg["id"].as_u64().expect("id");
            before = before.min(id);
            all.insert(id, msg);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_traffic_loses_no_delivered_message() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut server = start(data.path()).await;
    let addr = server.addr.clone();

    let (status, account_cookie, ada) = post(
        &addr,
        "/api/register",
        json!({"name": "Ada", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 201);
    let account_cookie = account_cookie.expect("register sets a cookie");

    // Twenty clients, each sending until the server dies and recording all it receives.
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let (status, cookie, _) =
            post(&addr, "/api/signin", json!({"name": format!("user{n}")})).await;
        assert_eq!(status, 200);
        let cookie = cookie.expect("cookie");
        let socket = connect(&addr, &cookie, "").await;
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let writer = tokio::spawn(async move {
                let mut sent = 0u32;
                for i in 0..10_000u32 {
                    let text = json!({"type": "chat", "text": format!("client {n} message {i}")});
                    if sink.send(Message::text(text.to_string())).await.is_err() {
                        break;
                    }
                    sent += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                sent
            });
            let mut received = Vec::new();
            while let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout(WAIT, stream.next()).await
            {
                received.push(serde_json::from_str::<Value>(&text).expect("server sends JSON"));
            }
            writer.abort();
            let sent = writer.await.unwrap_or(0);
            (cookie, sent, received)
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.start_kill().expect("SIGKILL the server");
    server.child.wait().await.expect("server is gone");

    let mut cookies = Vec::new();
    let mut delivered: BTreeMap<u64, Value> = BTreeMap::new();
    let mut max_seen = 0;
    let mut receipts = 0usize;
    for task in tasks {
        let (cookie, _sent, received) = task.await.expect("client task");
        for msg in received {
            let id = msg["id"].as_u64().expect("every message has an id");
            max_seen = max_seen.max(id);
            if matches!(msg["type"].as_str(), Some("chat" | "join" | "left")) {
                receipts += 1;
                if let Some(earlier) = delivered.insert(id, msg.clone()) {
                    assert_eq!(earlier, msg, "one id, one message");
                }
            }
        }
        cookies.push(cookie);
    }
    let chats = delivered.values().filter(|m| m["type"] == "chat").count();
    assert!(
        chats > 100,
        "traffic flowed before the kill ({chats} chat messages)"
    );

    let server = start(data.path()).await;
    let addr = server.addr.clone();
    let (status, me) = get(&addr, "/api/me", &cookies[0]).await;
    assert_eq!(status, 200, "a session from before the crash still works");
    assert_eq!(me["name"], "user0");

    let stored = full_history(&addr, &cookies[0]).await;
    for (id, msg) in &delivered {
        assert_eq!(
            stored.get(id),
            Some(msg),
            "delivered message {id} is in history as sent"
        );
    }
    println!(
        "crash test: {} distinct broadcast messages delivered ({chats} chat), {receipts} receipts, \
         all {} found in history ({} stored)",
        delivered.len(),
        delivered.len(),
        stored.len()
    );

    // New ids continue above everything anyone saw before the crash.
    let mut socket = connect(&addr, &cookies[1], "").await;
    let first = socket.next().await.expect("a message").expect("a frame");
    let first: Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert!(
        first["id"].as_u64().expect("id") > max_seen,
        "{first} after {max_seen}"
    );

    // Accounts survive too: same id, password still checked.
    let (status, _, again) = post(
        &addr,
        "/api/signin",
        json!({"name": "ada", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], ada["id"]);
    let (status, _) = get(&addr, "/api/me", &account_cookie).await;
    assert_eq!(status, 200);
}
