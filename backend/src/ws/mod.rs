//! The WebSocket side: the handshake on our own terms, then one task per socket.
//!
//! The upgrade is answered here rather than by `warp::ws()` so that the socket's
//! buffers are ours to size: a few KiB per idle connection instead of 128 KiB.

pub mod chat;
mod close;
mod echo;
mod frame;
mod heartbeat;

use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::reply::Response;
use warp::Reply;

use crate::error::ApiError;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// Largest frame (and message) a client may send.
pub use shared::MAX_FRAME_BYTES;
/// Initial read buffer per socket; grows only while a larger message arrives.
const READ_BUFFER_BYTES: usize = 1024;
/// Outgoing bytes gathered before a write; keeps the buffer small once a burst is over.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Backstop on unflushed bytes per socket; the hub's queue limit normally acts first.
const MAX_WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;

/// The socket type every endpoint works with.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The known WebSocket endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Echo,
}

impl Endpoint {
    /// The endpoint for the last segment of a `/ws/<name>` path.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "chat" => Some(Endpoint::Chat),
            "echo" => Some(Endpoint::Echo),
            _ => None,
        }
    }

    /// The last segment of its path, as metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Echo => "echo",
        }
    }

    /// The endpoint a request path names, if it is a known `/ws/*` path.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::from_name(path.strip_prefix("/ws/")?)
    }
}

/// Whether a request asks to become a WebSocket.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|value| {
            value
                .to_str()
                .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES))
}

/// Answers an upgrade request to `endpoint`: 403 for a foreign origin, 400 for a broken
/// handshake, otherwise 101 and a task that serves the socket once hyper hands it over.
pub fn accept<B>(
    mut req: Request<B>,
    endpoint: Endpoint,
    state: AppState,
    shutdown: Shutdown,
) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("\u{fffd}"));
    let host = crate::server::request_host(&req);
    if !crate::origin::allowed(origin, host.as_deref(), &state.config) {
        tracing::debug!(origin = ?req.headers().get(header::ORIGIN), "rejected WebSocket origin");
        return ApiError::BadOrigin.into_response();
    }
    let key = match handshake_key(req.headers()) {
        Ok(key) => key,
        Err(err) => return err.into_response(),
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return ApiError::BadRequest("connection cannot be upgraded".into()).into_response();
    };
    let query = match endpoint {
        Endpoint::Chat => match parse_query(req.uri().query().unwrap_or("")) {
            Ok(query) => query,
            Err(err) => return err.into_response(),
        },
        Endpoint::Echo => ChatQuery::default(),
    };
    // Only the cookie values are kept, copied: the request's headers point into hyper's
    // read buffer, and holding them would keep that whole buffer alive per socket.
    let cookies = crate::session::session_cookies(req.headers());
    // The connection's slot under the caps: the socket keeps it after hyper lets go.
    let slot = req.extensions_mut().remove::<crate::conn::ConnSlot>();

    let tracked = shutdown.clone();
    tracked.spawn(async move {
        let _slot = slot;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%err, "upgrade failed");
                return;
            }
        };
        let _open = crate::metrics::socket_opened(endpoint.name());
        let socket = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(socket_config()),
        )
        .await;
        match endpoint {
            Endpoint::Chat => {
                let found = state.sessions.from_values(&cookies).await;
                drop(cookies);
                let session = found.unwrap_or_else(|err| {
                    tracing::error!(%err, "session lookup failed");
                    None
                });
                chat::serve(socket, session, query, state, shutdown).await
            }
            Endpoint::Echo => echo::serve(socket, shutdown).await,
        }
    });

    let mut res =
        warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, key);
    res
}

/// What a `/ws/chat` query asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatQuery {
    /// `since=<id>`: every stored message after that id instead of the recent ones.
    pub since: Option<u64>,
    /// `v=2`: every room of the user on this socket; otherwise only `general`, exactly as
    /// version 1 of the protocol.
    pub rooms: bool,
}

/// Reads `since=<id>` and `v=2` from a `/ws/chat` query; other parameters (and other
/// versions) are ignored.
pub fn parse_query(query: &str) -> Result<ChatQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| ApiError::BadRequest("malformed query string".into()))?;
    let since = match pairs.iter().find(|(key, _)| key == "since") {
        None => None,
        Some((_, value)) => Some(value.parse().map_err(|_| {
            ApiError::BadRequest("since must be a message id (a whole number, 0 or more)".into())
        })?),
    };
    let rooms = pairs.iter().any(|(key, value)| key == "v" && value == "2");
    Ok(ChatQuery { since, rooms })
}

/// Reads `since=<id>` from a `/ws/chat` query; other parameters are ignored.
pub fn parse_since(query: &str) -> Result<Option<u64>, ApiError> {
    parse_query(query).map(|query| query.since)
}

/// Checks the version and key headers and derives the `Sec-WebSocket-Accept` value.
fn handshake_key(headers: &HeaderMap) -> Result<HeaderValue, ApiError> {
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    if version.map(|v| v.as_bytes()) != Some(b"13") {
        return Err(ApiError::BadRequest(
            "Sec-WebSocket-Version must be 13".into(),
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::BadRequest("Sec-WebSocket-Key is missing".into()))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| ApiError::BadRequest("Sec-WebSocket-Key is invalid".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_must_be_a_whole_number() {
        assert_eq!(parse_since("").unwrap(), None);
        assert_eq!(parse_since("since=42&x=1").unwrap(), Some(42));
        for bad in [
            "since=",
            "since=-1",
            "since=abc",
            "since=1.5",
            "since=99999999999999999999",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rooms_are_asked_for_with_v_2_only() {
        let query = |q| parse_query(q).unwrap();
        assert!(query("v=2").rooms);
        assert_eq!(
            query("since=7&v=2"),
            ChatQuery {
                since: Some(7),
                rooms: true
            }
        );
        assert!(!query("").rooms);
        assert!(!query("v=1").rooms);
        assert!(!query("v=22").rooms);
    }

    #[test]
    fn only_the_two_known_paths_are_endpoints() {
        assert_eq!(Endpoint::from_path("/ws/chat"), Some(Endpoint::Chat));
        assert_eq!(Endpoint::from_path("/ws/echo"), Some(Endpoint::Echo));
        assert_eq!(Endpoint::from_path("/ws/chat/x"), None);
        assert_eq!(Endpoint::from_path("/ws/"), None);
        assert_eq!(Endpoint::from_path("/api/chat"), None);
    }
}
