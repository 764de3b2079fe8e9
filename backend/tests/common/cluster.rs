//! Several real server processes on one throwaway PostgreSQL, and clients that record
//! everything their socket receives so a test can check order, gaps and duplicates after
//! the fact.
//!
//! A [`Cluster`] owns its database and its servers; dropping it kills the servers and
//! stops the database, also when a test fails. Every wait is bounded and names what it
//! was waiting for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::Value;
use shared::{ServerBody, ServerMessage, User};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::pg::PgCluster;
use super::process::ServerProcess;
use super::{session_cookie, WAIT};

/// How often the servers look at the shared log without a notification: short, so the
/// tests that take notifications away stay quick.
pub const POLL_MS: &str = "100";
/// How long after a server's last heartbeat the others count it as gone (the issue's
/// 15 s), plus room for a heartbeat period and a busy machine.
pub const PRESENCE_WAIT: Duration = Duration::from_secs(15 + 15);
/// How often a bounded wait looks again.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// Event types that are stored and carry an id from the one global sequence.
const STORED: &[&str] = &["join", "left", "chat", "room_join", "room_leave"];

/// Three (or `n`) servers sharing one PostgreSQL database.
pub struct Cluster {
    /// Shared with threads that act on the database while a test runs.
    pub pg: Arc<PgCluster>,
    pub database_url: String,
    /// `None` once a test killed that server.
    pub servers: Vec<Option<ServerProcess>>,
    pub http: reqwest::Client,
}

impl Cluster {
    /// A fresh database and `n` servers on it, with the same secret, each with its own
    /// data directory. Chat rate limits are lifted and presence has no grace period, so
    /// that `left` follows a socket's end at once.
    pub async fn start(n: usize) -> Cluster {
        let (pg, database_url) = tokio::task::spawn_blocking(|| {
            let pg = PgCluster::start();
            pg.create_db("chat");
            let url = pg.url("chat");
            (Arc::new(pg), url)
        })
        .await
        .expect("start PostgreSQL");
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            servers.push(Some(start_server(&database_url).await));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .expect("build the HTTP client");
        Cluster {
            pg,
            database_url,
            servers,
            http,
        }
    }

    /// Server `i`, which must still run.
    pub fn server(&self, i: usize) -> &ServerProcess {
        self.servers[i]
            .as_ref()
            .unwrap_or_else(|| panic!("server {i} was killed"))
    }

    /// Kills server `i` with SIGKILL: no goodbye, no `left`, no last commit.
    pub fn kill(&mut self, i: usize) {
        let mut server = self.servers[i].take().expect("the server runs");
        server.child.kill().expect("SIGKILL the server");
        let _ = server.child.wait();
    }

    /// Signs a guest in on server `i`; the session works on every server.
    pub async fn signin(&self, i: usize, name: &str) -> (User, String) {
        let res = self
            .http
            .post(self.server(i).url("/api/signin"))
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "name": name }).to_string())
            .send()
            .await
            .unwrap_or_else(|err| panic!("sign in {name} on server {i}: {err}"));
        assert_eq!(
            res.status().as_u16(),
            200,
            "sign-in of {name} on server {i}"
        );
        let cookie = session_cookie(&res);
        let user: User = res.json().await.expect("sign-in answers a user");
        (user, cookie)
    }

    /// `GET <path>` on server `i`: the status and the body.
    pub async fn get(&self, i: usize, path: &str, cookie: Option<&str>) -> (u16, String) {
        get(&self.http, &self.server(i).url(path), cookie).await
    }

    /// The whole stored history of `general` as server `i` serves it, oldest first, each
    /// event as the exact JSON text the server sent.
    pub async fn full_history(&self, i: usize, cookie: &str) -> Vec<String> {
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let path = match before {
                Some(id) => format!("/api/history?limit=100&before={id}"),
                None => "/api/history?limit=100".to_owned(),
            };
            let (status, body) = self.get(i, &path, Some(cookie)).await;
            assert_eq!(status, 200, "GET {path} on server {i}: {body}");
            let page: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&body)
                .unwrap_or_else(|err| panic!("history on server {i} is an array ({err})"));
            if page.is_empty() {
                break;
            }
            let page: Vec<String> = page.into_iter().map(|raw| raw.get().to_owned()).collect();
            before = Some(id_of(&page[0]));
            pages.push(page);
        }
        pages.into_iter().rev().flatten().collect()
    }

    /// Waits until every running server answers `/readyz` with `status`.
    pub async fn wait_ready(&self, status: u16, within: Duration) {
        for (i, server) in self.servers.iter().enumerate() {
            let Some(server) = server else { continue };
            let url = server.url("/readyz");
            let mut last = (0, String::new());
            let found = wait_until(
                within,
                || {
                    let (http, url) = (self.http.clone(), url.clone());
                    async move { get(&http, &url, None).await }
                },
                |answer: &(u16, String)| {
                    last = answer.clone();
                    answer.0 == status
                },
            )
            .await;
            assert!(
                found,
                "server {i}: /readyz answers {status} within {within:?}; last answer {last:?}"
            );
        }
    }

    /// Runs SQL in the chat's database with `psql`, off the async runtime; returns its
    /// unaligned, tuples-only output.
    pub async fn sql(&self, query: &str) -> String {
        let (pg, query) = (self.pg.clone(), query.to_owned());
        tokio::task::spawn_blocking(move || pg.sql("chat", &query))
            .await
            .expect("the query task")
    }

    /// The `/readyz` status of every running server now (0: no answer).
    pub async fn readiness(&self) -> Vec<u16> {
        let mut out = Vec::new();
        for server in self.servers.iter().flatten() {
            out.push(get(&self.http, &server.url("/readyz"), None).await.0);
        }
        out
    }
}

/// Starts one server of a cluster.
pub async fn start_server(database_url: &str) -> ServerProcess {
    let database_url = database_url.to_owned();
    let data = Arc::new(tempfile::tempdir().expect("create a data directory"));
    tokio::task::spawn_blocking(move || ServerProcess::start_in(data, &server_args(&database_url)))
        .await
        .expect("the start task")
        .unwrap_or_else(|err| panic!("a cluster server starts: {err}"))
}

/// The flags of a cluster server.
fn server_args(database_url: &str) -> [&str; 12] {
    [
        "--database-url",
        database_url,
        "--poll-ms",
        POLL_MS,
        "--presence-grace-secs",
        "0",
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
        "--guests-per-addr-hour",
        "100000",
    ]
}

/// A plain `GET`; a transport error reads as status 0 with the error as body.
pub async fn get(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = http.get(url);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, format!("session={cookie}"));
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.text().await.unwrap_or_default())
        }
        Err(err) => (0, err.to_string()),
    }
}

/// Calls `look` until `done` holds for its answer or `within` has passed; says which.
pub async fn wait_until<T, F, Fut>(
    within: Duration,
    mut look: F,
    mut done: impl FnMut(&T) -> bool,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        if done(&look().await) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// The `id` of one stored event's JSON text.
pub fn id_of(event: &str) -> u64 {
    let value: Value = serde_json::from_str(event).expect("a stored event is JSON");
    value["id"].as_u64().expect("a stored event has an id")
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// What a socket received so far, and how it ended.
#[derive(Default)]
pub struct Tape {
    /// Every frame with an id, parsed, in arrival order.
    pub frames: Vec<ServerMessage>,
    /// Set once the stream ended: the close code, or why it broke.
    pub ended: Option<String>,
}

/// One client socket whose frames a background task records on its [`Tape`].
pub struct Client {
    pub label: String,
    pub user: User,
    pub cookie: String,
    sink: Sink,
    pub tape: Arc<Mutex<Tape>>,
    reader: JoinHandle<()>,
}

impl Client {
    /// Opens `/ws/chat<query>` (`""`, `"?v=2"`, `"?since=5"`, ...) on `server` and
    /// waits for its `history` greeting.
    pub async fn open(
        server: &ServerProcess,
        query: &str,
        user: &User,
        cookie: &str,
        label: &str,
    ) -> Client {
        let url = server.ws_url(&format!("/ws/chat{query}"));
        let mut request = url.as_str().into_client_request().expect("a WebSocket URL");
        request.headers_mut().insert(
            "cookie",
            HeaderValue::from_str(&format!("session={cookie}")).expect("cookie header"),
        );
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("{label}: the handshake on {url} timed out"))
            .unwrap_or_else(|err| panic!("{label}: the handshake on {url} failed: {err}"));
        assert_eq!(response.status().as_u16(), 101, "{label}: upgraded");
        let (sink, mut stream) = ws.split();
        let tape = Arc::new(Mutex::new(Tape::default()));
        let reader = {
            let tape = tape.clone();
            let label = label.to_owned();
            tokio::spawn(async move {
                let ended = loop {
                    match stream.next().await {
                        Some(Ok(Message::Text(text))) => {
                            let value: Value = match serde_json::from_str(text.as_str()) {
                                Ok(value) => value,
                                Err(err) => {
                                    break format!("{label}: a frame that is not JSON ({err})")
                                }
                            };
                            // Id-less signals (typing, read) are not part of the order.
                            if value.get("id").is_none() {
                                continue;
                            }
                            match serde_json::from_value::<ServerMessage>(value) {
                                Ok(msg) => lock(&tape).frames.push(msg),
                                Err(err) => {
                                    break format!("{label}: unreadable frame ({err}): {text}")
                                }
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            break frame.map_or("close without code".into(), |f| {
                                format!("close {}", u16::from(f.code))
                            })
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => break format!("broken: {err}"),
                        None => break "end of stream".into(),
                    }
                };
                lock(&tape).ended = Some(ended);
            })
        };
        let client = Client {
            label: label.to_owned(),
            user: user.clone(),
            cookie: cookie.to_owned(),
            sink,
            tape,
            reader,
        };
        client
            .wait_for("its history greeting", WAIT, |tape| {
                tape.frames.iter().any(|m| m.body.kind() == "history")
            })
            .await;
        client
    }

    /// Sends a chat line with a client id.
    pub async fn send_chat(&mut self, text: &str, cid: &str) {
        let frame = serde_json::json!({ "type": "chat", "text": text, "cid": cid }).to_string();
        let label = self.label.clone();
        tokio::time::timeout(WAIT, self.sink.send(Message::text(frame)))
            .await
            .unwrap_or_else(|_| panic!("{label}: a send timed out"))
            .unwrap_or_else(|err| panic!("{label}: a send failed: {err}"));
    }

    /// Sends a chat line; `false` when the socket is gone (a killed server).
    pub async fn try_send_chat(&mut self, text: &str, cid: &str) -> bool {
        let frame = serde_json::json!({ "type": "chat", "text": text, "cid": cid }).to_string();
        matches!(
            tokio::time::timeout(WAIT, self.sink.send(Message::text(frame))).await,
            Ok(Ok(()))
        )
    }

    /// Waits until `check` holds for the tape, or fails saying `what`.
    pub async fn wait_for(&self, what: &str, within: Duration, check: impl Fn(&Tape) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            {
                let tape = lock(&self.tape);
                if check(&tape) {
                    return;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "{}: gave up after {within:?} waiting for {what}; it received {} \
                         frames and ended: {:?}",
                        self.label,
                        tape.frames.len(),
                        tape.ended
                    );
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// Waits until this socket's stream has ended.
    pub async fn wait_ended(&self, within: Duration) {
        self.wait_for("the end of its stream", within, |t| t.ended.is_some())
            .await;
    }

    /// The stored events this socket was shown, in order: history entries, then live ones.
    pub fn events(&self) -> Vec<ServerMessage> {
        events(&lock(&self.tape).frames)
    }

    /// Chat lines received, by client id (several if it came more than once).
    pub fn chats_by_cid(&self) -> BTreeMap<String, Vec<u64>> {
        chats_by_cid(&self.events())
    }

    /// The error frames received.
    pub fn errors(&self) -> Vec<ServerMessage> {
        lock(&self.tape)
            .frames
            .iter()
            .filter(|m| m.body.kind() == "error")
            .cloned()
            .collect()
    }

    /// The `list` frames received, newest last.
    pub fn lists(&self) -> Vec<Vec<User>> {
        lock(&self.tape)
            .frames
            .iter()
            .filter_map(|m| match &m.body {
                ServerBody::List(users) => Some(users.clone()),
                _ => None,
            })
            .collect()
    }

    /// The largest stored id this socket saw (what a client resumes with).
    pub fn last_id(&self) -> u64 {
        self.events().last().map_or(0, |m| m.id)
    }

    /// Asserts that the events this socket was shown have strictly increasing ids.
    pub fn assert_in_order(&self) {
        assert_strictly_increasing(&self.label, &self.events());
    }

    /// Closes the socket from this side.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.sink.close()).await;
        self.reader.abort();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The stored events among `frames` in the order they happened: the greeting's
/// `history` entries (older than anything live on the socket, by the protocol, even
/// though the socket's own `join` arrives before them), then the live stored events.
pub fn events(frames: &[ServerMessage]) -> Vec<ServerMessage> {
    let mut history = Vec::new();
    let mut live = Vec::new();
    for frame in frames {
        match &frame.body {
            ServerBody::History { messages, .. } => history.extend(messages.iter().cloned()),
            body if STORED.contains(&body.kind()) => live.push(frame.clone()),
            _ => {}
        }
    }
    // One history per room on a v2 socket without `since`: merged by id.
    history.sort_by_key(|m| m.id);
    history.extend(live);
    history
}

/// Chat lines among `events`, by client id, with the id of each arrival.
pub fn chats_by_cid(events: &[ServerMessage]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for event in events {
        if let ServerBody::Chat { cid: Some(cid), .. } = &event.body {
            out.entry(cid.clone()).or_default().push(event.id);
        }
    }
    out
}

/// Fails naming the first place where ids do not strictly increase.
pub fn assert_strictly_increasing(label: &str, events: &[ServerMessage]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "{label}: ids must strictly increase, but {} ({}) came before {} ({})",
            pair[0].id,
            pair[0].body.kind(),
            pair[1].id,
            pair[1].body.kind()
        );
    }
}

/// `left` events of `user` among `events`.
pub fn lefts_of(events: &[ServerMessage], user: &User) -> usize {
    events
        .iter()
        .filter(|m| m.body.kind() == "left" && m.user.id == user.id)
        .count()
}

/// A lock that a panicking reader cannot poison for the test.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
