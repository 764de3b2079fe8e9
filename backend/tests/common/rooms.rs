//! Rooms in the black-box tests: a server whose hub the test also holds, so room changes
//! go through the same `Hub::room` the HTTP endpoints call, and room-aware sockets
//! (`/ws/chat?v=2`) that read their greeting and tell signals from stored events.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::{Room, RoomKind, User};
use tokio::sync::oneshot;

use super::ws::WsClient;
use super::{dist_dir, session_cookie, TestServer, ALLOWED_ORIGIN, SECRET};
use backend::hub::{Hub, RoomOp};

/// The server under test and its hub.
pub struct RoomServer {
    pub server: TestServer,
    pub hub: Hub,
}

impl RoomServer {
    /// Starts a server with the test configuration (no rate limits, no presence grace).
    pub async fn start() -> Self {
        let data = Arc::new(tempfile::tempdir().expect("create a data directory"));
        let dist = dist_dir();
        let config = backend::Config {
            dist: dist.path().to_path_buf(),
            secret: Some(SECRET.to_owned()),
            allow_origins: vec![ALLOWED_ORIGIN.to_owned()],
            data_dir: data.path().to_path_buf(),
            rate_burst: 1_000_000.0,
            rate_per_sec: 1_000_000.0,
            presence_grace_secs: 0,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("listener address");
        let state = backend::AppState::open(config).expect("open the server state");
        let hub = state.hub.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let signal = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(async move {
            backend::server::serve(listener, state, None, signal).await;
            Ok(())
        });
        let server = TestServer {
            addr,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            _dist: dist,
            data,
        };
        RoomServer { server, hub }
    }

    /// Registers an account (accounts may create rooms); returns it and its cookie.
    pub async fn account(&self, name: &str) -> (User, String) {
        let body = json!({ "name": name, "password": "correct horse battery" });
        let res = self.server.post_json("/api/register", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {name:?}");
        let cookie = session_cookie(&res);
        (res.json().await.expect("a user object"), cookie)
    }

    /// Signs in a guest.
    pub async fn guest(&self, name: &str) -> (User, String) {
        self.server.signin(name).await
    }

    /// A room made by `by`, who must be an account.
    pub async fn create(&self, by: &User, name: &str, kind: RoomKind) -> Room {
        let op = RoomOp::Create {
            by: by.clone(),
            name: name.into(),
            topic: String::new(),
            kind,
        };
        self.hub.room(op).await.expect("room created")
    }

    /// `by` invites `user` into `room`.
    pub async fn invite(&self, by: &User, room: &Room, user: &User) {
        let op = RoomOp::Invite {
            by: by.clone(),
            room: room.id,
            user: user.id,
        };
        self.hub.room(op).await.expect("invited");
    }

    /// The DM of `user` and `with`.
    pub async fn dm(&self, user: &User, with: &User) -> Room {
        let op = RoomOp::Dm {
            user: user.clone(),
            with: with.id,
        };
        self.hub.room(op).await.expect("a DM")
    }
}

/// A room-aware socket after its greeting.
pub struct RoomSocket {
    pub ws: WsClient,
    /// The `rooms` frame's data.
    pub rooms: Vec<Room>,
    /// The `history` frames, in the order they came.
    pub histories: Vec<Value>,
}

impl RoomSocket {
    /// Opens `/ws/chat?v=2` (and `&since=`), reads `join` (if any), `list`, `rooms` and
    /// every `history` of the greeting.
    pub async fn open(server: &TestServer, cookie: &str, label: &str, since: Option<u64>) -> Self {
        let path = match since {
            Some(since) => format!("/ws/chat?v=2&since={since}"),
            None => "/ws/chat?v=2".to_owned(),
        };
        let mut ws = WsClient::open(server, &path, Some(cookie), None, label).await;
        let mut first = ws.next_json().await;
        if first["type"] == "join" {
            first = ws.next_json().await;
        }
        assert_eq!(
            first["type"], "list",
            "{label}: the greeting starts with a list"
        );
        let rooms = ws.next_json().await;
        assert_eq!(
            rooms["type"], "rooms",
            "{label}: then rooms, before any history"
        );
        let rooms: Vec<Room> = serde_json::from_value(rooms["data"].clone()).expect("rooms");
        let count = if since.is_some() {
            1
        } else {
            rooms.len().min(20)
        };
        let mut histories = Vec::new();
        for _ in 0..count {
            let history = ws.next_json().await;
            assert_eq!(history["type"], "history", "{label}: then history");
            histories.push(history);
        }
        RoomSocket {
            ws,
            rooms,
            histories,
        }
    }

    /// The room with this id in the greeting.
    pub fn room(&self, id: u64) -> &Room {
        self.rooms
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{}: room {id} in the greeting", self.ws.label))
    }

    /// The next frame that is not presence (`join`, `left`, `list`).
    pub async fn next(&mut self) -> Value {
        next_event(&mut self.ws).await
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws.send_text(frame.to_string()).await;
    }

    pub async fn chat(&mut self, room: u64, text: &str, cid: &str) {
        self.send(json!({"type": "chat", "room": room, "text": text, "cid": cid}))
            .await;
    }
}

/// The next frame on `ws` that is not presence (`join`, `left`, `list`).
pub async fn next_event(ws: &mut WsClient) -> Value {
    loop {
        let frame = ws.next_json().await;
        if !["join", "left", "list"].contains(&frame["type"].as_str().unwrap_or("")) {
            return frame;
        }
    }
}
