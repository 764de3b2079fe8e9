//! WebSocket clients for the tests: connect with the `Cookie` and `Origin` a test picks,
//! send text or binary frames, and read the next message or close frame with a bounded wait.

use futures_util::{SinkExt, StreamExt};
use shared::{ServerBody, ServerMessage, User};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{bounded, TestServer};

/// The client side of one WebSocket.
pub type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a socket delivered next (pings and pongs are skipped).
#[derive(Debug)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame: its code and reason, or `None` for a close frame without a code.
    Close(Option<(u16, String)>),
    /// The stream ended without a close frame, or broke.
    Ended(String),
}

/// Opens a WebSocket to `path` with an optional session cookie and `Origin`.
pub async fn connect(
    server: &TestServer,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<(Stream, Response), WsError> {
    let mut request = server
        .ws_url(path)
        .into_client_request()
        .expect("a valid WebSocket URL");
    let headers = request.headers_mut();
    if let Some(cookie) = cookie {
        let value = HeaderValue::from_str(&format!("session={cookie}")).expect("cookie header");
        headers.insert("cookie", value);
    }
    if let Some(origin) = origin {
        headers.insert(
            "origin",
            HeaderValue::from_str(origin).expect("origin header"),
        );
    }
    bounded(
        &format!("the WebSocket handshake on {path}"),
        tokio_tungstenite::connect_async(request),
    )
    .await
}

/// The HTTP status a refused WebSocket handshake was answered with.
pub fn refused_status(result: Result<(Stream, Response), WsError>) -> u16 {
    match result {
        Ok((_, response)) => panic!(
            "expected the upgrade to be refused, but it was answered {}",
            response.status()
        ),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("expected an HTTP error answer to the upgrade, got {err}"),
    }
}

/// One client socket with a name for failure messages.
pub struct WsClient {
    pub ws: Stream,
    pub label: String,
}

impl WsClient {
    /// Opens `path`, which must be upgraded (101).
    pub async fn open(
        server: &TestServer,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        label: &str,
    ) -> Self {
        let (ws, response) = connect(server, path, cookie, origin)
            .await
            .unwrap_or_else(|err| panic!("{label}: WebSocket handshake on {path} failed: {err}"));
        assert_eq!(response.status().as_u16(), 101, "{label}: upgraded");
        WsClient {
            ws,
            label: label.to_owned(),
        }
    }

    /// Opens `/ws/chat` with a session cookie.
    pub async fn chat(server: &TestServer, cookie: &str, label: &str) -> Self {
        Self::open(server, "/ws/chat", Some(cookie), None, label).await
    }

    /// Opens `/ws/echo` without cookie or origin.
    pub async fn echo(server: &TestServer) -> Self {
        Self::open(server, "/ws/echo", None, None, "echo").await
    }

    /// The next frame that is not a ping or pong, waiting at most [`WAIT`].
    pub async fn next_event(&mut self) -> Event {
        let label = self.label.clone();
        let read = async {
            loop {
                return match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => Event::Text(text.as_str().to_owned()),
                    Some(Ok(Message::Binary(bytes))) => Event::Binary(bytes.to_vec()),
                    Some(Ok(Message::Close(frame))) => Event::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                    ),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Err(err)) => Event::Ended(format!("error: {err}")),
                    None => Event::Ended("end of stream".into()),
                };
            }
        };
        bounded(&format!("the next frame on socket {label}"), read).await
    }

    /// The next text frame; anything else fails the test.
    pub async fn next_text(&mut self) -> String {
        match self.next_event().await {
            Event::Text(text) => text,
            other => panic!("{}: expected a text frame, got {other:?}", self.label),
        }
    }

    /// The next text frame as JSON.
    pub async fn next_json(&mut self) -> serde_json::Value {
        let text = self.next_text().await;
        serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{}: frame is JSON ({err}): {text}", self.label))
    }

    /// The next text frame as a protocol message.
    pub async fn next_msg(&mut self) -> ServerMessage {
        let text = self.next_text().await;
        serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!(
                "{}: frame is a protocol message ({err}): {text}",
                self.label
            )
        })
    }

    /// The next frame must be a close frame; returns its code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        match self.next_event().await {
            Event::Close(Some(frame)) => frame,
            other => panic!("{}: expected a close frame, got {other:?}", self.label),
        }
    }

    /// Reads text frames until a close frame; returns how many texts came first, and the
    /// close code and reason.
    pub async fn close_after_texts(&mut self) -> (Vec<String>, u16, String) {
        let mut texts = Vec::new();
        loop {
            match self.next_event().await {
                Event::Text(text) => texts.push(text),
                Event::Close(Some((code, reason))) => return (texts, code, reason),
                other => panic!(
                    "{}: expected a close frame after {} text frames, got {other:?}",
                    self.label,
                    texts.len()
                ),
            }
        }
    }

    pub async fn send(&mut self, message: Message) {
        let label = self.label.clone();
        bounded(&format!("a send on socket {label}"), self.ws.send(message))
            .await
            .unwrap_or_else(|err| panic!("{label}: send failed: {err}"));
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send(Message::text(text.into())).await;
    }

    /// Sends `{"type": "chat", "text": text}`.
    pub async fn send_chat(&mut self, text: &str) {
        self.send_text(chat_frame(text)).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.send(Message::binary(bytes)).await;
    }

    /// Closes from the client side and waits for the server's answer.
    pub async fn close(mut self) {
        let label = self.label.clone();
        let _ = bounded(&format!("closing socket {label}"), self.ws.close(None)).await;
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        bounded(&format!("the end of socket {label}"), drain).await;
    }
}

/// The JSON text of a chat message from a client.
pub fn chat_frame(text: &str) -> String {
    serde_json::json!({ "type": "chat", "text": text }).to_string()
}

/// A signed-in user with one open chat socket.
pub struct Member {
    pub user: User,
    pub cookie: String,
    pub ws: WsClient,
}

impl Member {
    /// Signs in as `name`, opens a chat socket and reads its own `join`, `list` and `history`.
    pub async fn enter(server: &TestServer, name: &str) -> Self {
        let (user, cookie) = server.signin(name).await;
        let mut ws = WsClient::chat(server, &cookie, name).await;
        let join = ws.next_msg().await;
        assert_eq!(
            join.body,
            ServerBody::Join(format!("{name} joined.")),
            "{name}: first message"
        );
        let list = ws.next_msg().await;
        assert!(
            matches!(list.body, ServerBody::List(ref users) if users.contains(&user)),
            "{name}: second message is a list with the new user: {list:?}"
        );
        let history = ws.next_msg().await;
        assert_eq!(history.body.kind(), "history", "{name}: third message");
        Member { user, cookie, ws }
    }

    /// Opens another chat socket with the same session and reads its `list` and `history`.
    pub async fn another_socket(&self, server: &TestServer, label: &str) -> WsClient {
        let mut ws = WsClient::chat(server, &self.cookie, label).await;
        let list = ws.next_msg().await;
        assert_eq!(
            list.body.kind(),
            "list",
            "{label}: the greeting starts with a list"
        );
        let history = ws.next_msg().await;
        assert_eq!(history.body.kind(), "history", "{label}: then history");
        ws
    }

    pub async fn next_msg(&mut self) -> ServerMessage {
        self.ws.next_msg().await
    }

    pub async fn send_chat(&mut self, text: &str) {
        self.ws.send_chat(text).await;
    }

    /// The next message must be `join` of `user`.
    pub async fn expect_join(&mut self, user: &User) -> ServerMessage {
        let msg = self.next_msg().await;
        assert_eq!(
            (&msg.user, &msg.body),
            (user, &ServerBody::Join(format!("{} joined.", user.name))),
            "{}: expected the join of {}",
            self.ws.label,
            user.name
        );
        msg
    }

    /// The next message must be `left` of `user`.
    pub async fn expect_left(&mut self, user: &User) -> ServerMessage {
        let msg = self.next_msg().await;
        assert_eq!(
            (&msg.user, &msg.body),
            (user, &ServerBody::Left(format!("{} left.", user.name))),
            "{}: expected the left of {}",
            self.ws.label,
            user.name
        );
        msg
    }

    /// The next message must be a chat `text` from `from`.
    pub async fn expect_chat(&mut self, from: &User, text: &str) -> ServerMessage {
        expect_chat(&mut self.ws, from, text).await
    }
}

/// The next message on `ws` must be a chat `text` from `from`.
pub async fn expect_chat(ws: &mut WsClient, from: &User, text: &str) -> ServerMessage {
    let msg = ws.next_msg().await;
    assert_eq!(
        (&msg.user, &msg.body),
        (
            from,
            &ServerBody::Chat {
                text: text.to_owned(),
                cid: None,
                mentions: Vec::new(),
            }
        ),
        "{}: expected a chat from {}",
        ws.label,
        from.name
    );
    msg
}

/// Members entering one after another; each earlier member reads every later `join`, so
/// all sockets are drained when this returns.
pub async fn enter_room(server: &TestServer, names: &[&str]) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    for name in names {
        let newcomer = Member::enter(server, name).await;
        for member in &mut members {
            member.expect_join(&newcomer.user).await;
        }
        members.push(newcomer);
    }
    members
}
