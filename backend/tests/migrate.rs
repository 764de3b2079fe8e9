//! `backend migrate`: a chat built on SQLite through the real server moves into a real
//! PostgreSQL cluster, and the real server on PostgreSQL shows the same chat: the same
//! history with the same ids, accounts that sign in, sessions that still work.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use common::pg::PgCluster;
use common::{bounded, dist_dir, WAIT};

const PASSWORD: &str = "correct horse battery";

/// The real binary serving one database: SQLite in `data`, or PostgreSQL at a URL. No
/// `--secret`: the SQLite server generates its key in `data`, and `migrate` carries it.
struct Server {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    log: Arc<Mutex<String>>,
    _dist: TempDir,
}

impl Server {
    fn start(data: &Path, database: Option<&str>) -> Server {
        let dist = dist_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_backend"));
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(["--rate-burst", "1000", "--rate-per-sec", "1000"])
            .args(["--presence-grace-secs", "0"])
            .arg("--data-dir")
            .arg(data)
            .arg("--dist")
            .arg(dist.path());
        if let Some(url) = database {
            command.args(["--database-url", url]);
        }
        let mut child = command
            .env("RUST_LOG", "info")
            .env_remove("CHAT_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().expect("piped stderr"), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("http://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(WAIT) {
            Ok(addr) => addr.parse().expect("the printed address parses"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
                panic!("the server did not start; its log:\n{log}");
            }
        };
        Server {
            child,
            addr,
            http: reqwest::Client::new(),
            log,
            _dist: dist,
        }
    }

    /// Stops it as an operator would (SIGTERM) and waits until it has exited.
    fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: `kill` on the pid of a child this test spawned and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST` a JSON body; the status, the JSON answer (or null) and a new session cookie.
    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = self
            .http
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, format!("session={cookie}"));
        }
        let res = bounded(&format!("POST {path}"), req.send())
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        let status = res.status();
        let cookie = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("session="))
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            cookie,
        )
    }

    /// `GET` with a session cookie: the status and the body, byte for byte.
    async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let req = self
            .http
            .get(self.url(path))
            .header(COOKIE, format!("session={cookie}"));
        let res = bounded(&format!("GET {path}"), req.send())
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        let status = res.status();
        (status, res.text().await.unwrap_or_default())
    }

    async fn get_json(&self, path: &str, cookie: &str) -> Value {
        let (status, body) = self.get(path, cookie).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("GET {path}: {err}: {body}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!("server log:\n{log}");
        }
    }
}

/// A `/ws/chat?v=2` socket.
struct Socket {
    ws: common::ws::Stream,
}

impl Socket {
    async fn open(server: &Server, cookie: &str) -> Socket {
        let mut request = format!("ws://{}/ws/chat?v=2", server.addr)
            .into_client_request()
            .expect("a WebSocket URL");
        let value = HeaderValue::from_str(&format!("session={cookie}")).expect("a cookie");
        request.headers_mut().insert("cookie", value);
        let (ws, _) = bounded(
            "the WebSocket handshake",
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("the socket opens");
        Socket { ws }
    }

    async fn send(&mut self, frame: Value) {
        bounded("a send", self.ws.send(Message::text(frame.to_string())))
            .await
            .expect("the frame is sent");
    }

    /// Sends a chat line and returns the id it was stored under.
    async fn chat(&mut self, room: u64, text: &str, cid: &str) -> u64 {
        self.send(json!({"type": "chat", "room": room, "text": text, "cid": cid}))
            .await;
        loop {
            let frame = bounded("the chat line's echo", self.ws.next())
                .await
                .expect("the socket stays open")
                .expect("a frame");
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).expect("JSON frames");
            if value["type"] == "chat" && value["cid"] == cid {
                return value["id"].as_u64().expect("a stored id");
            }
            assert_ne!(value["type"], "error", "{value}");
        }
    }
}

/// What the chat looks like to Ada and Bob: who they are, their rooms (with read
/// markers, mute, unread and mention counts) and every room's history, byte for byte.
async fn snapshot(server: &Server, cookies: &[&str], rooms: &[u64]) -> Vec<String> {
    let mut seen = Vec::new();
    for cookie in cookies {
        seen.push(server.get("/api/me", cookie).await.1);
        seen.push(server.get("/api/rooms", cookie).await.1);
    }
    for room in rooms {
        let path = format!("/api/rooms/{room}/history?limit=100");
        let (status, body) = server.get(&path, cookies[0]).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        seen.push(body);
    }
    seen
}

fn migrate(from: &Path, to: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backend"))
        .arg("migrate")
        .arg("--from")
        .arg(from)
        .args(["--to", to])
        .env_remove("CHAT_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run backend migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The highest id in a history page.
fn newest_id(history: &str) -> u64 {
    let events: Vec<Value> = serde_json::from_str(history).expect("a history array");
    events
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_chat_moves_into_postgres_with_its_ids_accounts_and_sessions() {
    let pg = PgCluster::start();
    pg.create_db("chat");
    let url = pg.url("chat");
    let data = tempfile::tempdir().expect("a data directory");

    // A chat on SQLite: an account, a guest, a public room, a DM, messages, a mention,
    // a read marker and a mute.
    let sqlite = Server::start(data.path(), None);
    let (status, ada, ada_cookie) = sqlite
        .post(
            "/api/register",
            None,
            json!({"name": "Ada", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let ada_cookie = ada_cookie.expect("Ada's session");
    let (status, bob, bob_cookie) = sqlite
        .post("/api/signin", None, json!({"name": "Bob"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    let bob_cookie = bob_cookie.expect("Bob's session");
    let (status, design, _) = sqlite
        .post(
            "/api/rooms",
            Some(&ada_cookie),
            json!({"name": "Design", "topic": "Mockups", "kind": "public"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{design}");
    let design = design["id"].as_u64().expect("a room id");
    let path = format!("/api/rooms/{design}/join");
    let (status, joined, _) = sqlite.post(&path, Some(&bob_cookie), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (status, dm, _) = sqlite
        .post("/api/dm", Some(&ada_cookie), json!({"user": bob["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{dm}");
    let dm = dm["id"].as_u64().expect("a DM id");

    let mut ada_ws = Socket::open(&sqlite, &ada_cookie).await;
    let mut bob_ws = Socket::open(&sqlite, &bob_cookie).await;
    ada_ws.chat(1, "hello general", "a1").await;
    let mention = ada_ws.chat(design, "@Bob look at this", "a2").await;
    ada_ws.chat(design, "and this", "a3").await;
    ada_ws.chat(dm, "psst", "a4").await;
    let last_old = bob_ws.chat(dm, "yes?", "b1").await;
    bob_ws
        .send(json!({"type": "read", "room": design, "id": mention}))
        .await;
    let (status, muted, _) = sqlite
        .post(
            "/api/rooms/1/mute",
            Some(&bob_cookie),
            json!({"muted": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{muted}");
    // The read marker is stored by the hub, after the frame: wait until it shows.
    let deadline = Instant::now() + WAIT;
    loop {
        let rooms = sqlite.get_json("/api/rooms", &bob_cookie).await;
        let room = rooms
            .as_array()
            .and_then(|rooms| rooms.iter().find(|r| r["id"] == design))
            .cloned()
            .unwrap_or_default();
        if room["read"] == mention {
            assert_eq!(room["unread"], 1, "{room}");
            break;
        }
        assert!(Instant::now() < deadline, "Bob's read marker: {room}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((ada_ws, bob_ws));
    sqlite.stop();

    // What SQLite holds, as a server on it shows it (nothing is stored without sockets).
    let cookies = [ada_cookie.as_str(), bob_cookie.as_str()];
    let rooms = [1, design, dm];
    let again = Server::start(data.path(), None);
    let before = snapshot(&again, &cookies, &rooms).await;
    again.stop();
    assert!(before[1].contains("Design") && before[3].contains("\"muted\":true"));

    let out = migrate(&data.path().join("chat.db"), &url);
    let report = text(&out.stdout);
    assert!(
        out.status.success(),
        "migrate failed: {}{report}",
        text(&out.stderr)
    );
    eprintln!("{report}");
    assert!(report.contains("messages"), "the report: {report}");
    assert!(!report.contains("password"), "the report: {report}");
    assert!(
        report.contains("is now the database's"),
        "the report: {report}"
    );

    // The server on PostgreSQL, with an empty data directory: all it knows comes from
    // the database.
    let elsewhere = tempfile::tempdir().expect("a data directory");
    let pg_server = Server::start(elsewhere.path(), Some(&url));
    let after = snapshot(&pg_server, &cookies, &rooms).await;
    assert_eq!(after, before, "the same chat, byte for byte");

    // The account signs in with its password, as the same user.
    let (status, signed_in, _) = pg_server
        .post(
            "/api/signin",
            None,
            json!({"name": "Ada", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    assert_eq!(signed_in["id"], ada["id"]);
    let (status, wrong, _) = pg_server
        .post(
            "/api/signin",
            None,
            json!({"name": "Ada", "password": "wrong password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");

    // New messages continue above every copied id; the old cookie opens a socket.
    let mut bob_ws = Socket::open(&pg_server, &bob_cookie).await;
    let new_id = bob_ws.chat(design, "after the move", "b2").await;
    assert!(new_id > last_old, "{new_id} after {last_old}");
    let history = pg_server
        .get(&format!("/api/rooms/{design}/history"), &ada_cookie)
        .await
        .1;
    assert_eq!(newest_id(&history), new_id);
    // A new room and user get new ids too.
    let (status, carol, _) = pg_server
        .post("/api/signin", None, json!({"name": "Carol"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{carol}");
    assert!(
        carol["id"].as_u64() > bob["id"].as_u64(),
        "{carol} after {bob}"
    );
    drop(bob_ws);

    // A second migration into the same database is refused and changes nothing.
    let counts = "SELECT (SELECT COUNT(*) FROM users) || ' ' || (SELECT COUNT(*) FROM messages)
                  || ' ' || (SELECT COUNT(*) FROM sessions) || ' ' || (SELECT COUNT(*) FROM rooms)";
    let held = pg.sql("chat", counts);
    let out = migrate(&data.path().join("chat.db"), &url);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "a second migrate succeeded: {}",
        text(&out.stdout)
    );
    assert!(err.contains("already holds a chat"), "{err}");
    assert_eq!(pg.sql("chat", counts), held);
    pg_server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_source_is_refused_and_the_target_stays_empty() {
    let pg = PgCluster::start();
    pg.create_db("chat");
    let dir = tempfile::tempdir().expect("a directory");
    let missing = dir.path().join("chat.db");
    let out = migrate(&missing, &pg.url("chat"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such SQLite database"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists(), "migrate created the source");
    let tables = pg.sql(
        "chat",
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables, "0");
}
