//! Getting one client into the room: a guest sign-in over HTTP for the session cookie, then
//! a TCP connect (from a chosen loopback source address) and the WebSocket handshake, up
//! to the server's `list` greeting.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::SET_COOKIE;
use reqwest::Url;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::COOKIE;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::wire::Envelope;
use crate::Error;

/// A client's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// Read buffer per socket: the generator holds thousands of mostly idle sockets, and the
/// protocol layer zero-fills this much before every read, so small is also fast.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Outgoing bytes gathered before a write; every send is flushed at once anyway.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Kernel receive buffer of a socket that stops reading. Loopback buffers are large and
/// grow; with a small one, it is the server's own limits that a non-reader runs into,
/// after kilobytes rather than megabytes.
pub const SMALL_RECEIVE_BUFFER: u32 = 8 * 1024;
/// Frames read while waiting for the greeting, at most.
const GREETING_FRAMES: usize = 1000;

/// Why one client could not join. Counted by [`ConnectError::kind`] in the report.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("sign-in answered {0}")]
    SignInStatus(u16),
    #[error("sign-in failed: {0}")]
    SignIn(String),
    #[error("sign-in set no session cookie")]
    NoCookie,
    #[error("no session (its sign-in failed)")]
    NoSession,
    #[error("tcp: {0}")]
    Tcp(std::io::Error),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("closed before the greeting (code {0})")]
    Closed(String),
    #[error("no `list` greeting")]
    NoGreeting,
    #[error("timed out")]
    Timeout,
}

impl ConnectError {
    /// A short label that groups errors of the same cause.
    pub fn kind(&self) -> String {
        match self {
            ConnectError::SignInStatus(status) => format!("signin {status}"),
            ConnectError::SignIn(_) => "signin error".into(),
            ConnectError::NoCookie => "signin without cookie".into(),
            ConnectError::NoSession => "no session".into(),
            ConnectError::Tcp(err) => format!("tcp {:?}", err.kind()),
            ConnectError::Handshake(_) => "handshake".into(),
            ConnectError::Closed(code) => format!("closed {code}"),
            ConnectError::NoGreeting => "no greeting".into(),
            ConnectError::Timeout => "timeout".into(),
        }
    }
}

/// Where the server is: its HTTP base and its socket address.
#[derive(Debug, Clone)]
pub struct Target {
    base: Url,
    ws_url: String,
    addr: SocketAddr,
}

impl Target {
    /// Reads `http://host:port` and resolves the host once.
    pub async fn resolve(url: &str) -> Result<Target, Error> {
        let bad = |reason: &str| Error::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if base.scheme() != "http" {
            return Err(bad("only http:// is supported"));
        }
        let host = base.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let port = base.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host has no address"))?;
        let host_port = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Ok(Target {
            ws_url: format!("ws://{host_port}/ws/chat"),
            base,
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Signs guests in and opens their sockets, spread over the servers of one chat.
#[derive(Clone)]
pub struct Connector {
    /// Never empty: socket `i` goes to `targets[i % len]`.
    targets: Vec<Target>,
    http: reqwest::Client,
    source_ips: Vec<IpAddr>,
    timeout: Duration,
}

impl Connector {
    pub fn new(
        targets: Vec<Target>,
        source_ips: Vec<IpAddr>,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            // A proxy from the environment must not stand between us and a loopback server.
            .no_proxy()
            .timeout(timeout)
            .pool_max_idle_per_host(concurrency)
            // Sign-ins come in one burst; idle connections after it would only take
            // file descriptors from the server.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::Setup(format!("HTTP client: {e}")))?;
        if targets.is_empty() {
            return Err(Error::Setup("no server to connect to".into()));
        }
        Ok(Connector {
            targets,
            http,
            source_ips,
            timeout,
        })
    }

    /// The server socket number `index` goes to.
    fn target(&self, index: usize) -> &Target {
        &self.targets[index % self.targets.len()]
    }

    /// `POST /api/signin` as a guest on the server of socket number `index`; returns the
    /// `session=...` cookie pair.
    pub async fn sign_in(&self, index: usize, name: &str) -> Result<String, ConnectError> {
        let url = self
            .target(index)
            .base
            .join("/api/signin")
            .map_err(|e| ConnectError::SignIn(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .json(&shared::SignIn {
                name: name.to_owned(),
                password: None,
            })
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    ConnectError::Timeout
                } else {
                    ConnectError::SignIn(with_causes(&e))
                }
            })?;
        if !response.status().is_success() {
            return Err(ConnectError::SignInStatus(response.status().as_u16()));
        }
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .find(|pair| pair.trim_start().starts_with("session="))
            .map(|pair| pair.trim().to_owned())
            .ok_or(ConnectError::NoCookie)
    }

    /// Opens socket number `index` with `cookie` and waits for its `list` greeting.
    /// Returns the socket and the frames read on the way. A `small_buffer` socket asks
    /// the kernel for a small receive buffer (see [`SMALL_RECEIVE_BUFFER`]).
    pub async fn open(
        &self,
        index: usize,
        cookie: &str,
        small_buffer: bool,
    ) -> Result<(Ws, u64), ConnectError> {
        tokio::time::timeout(self.timeout, self.open_inner(index, cookie, small_buffer))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn open_inner(
        &self,
        index: usize,
        cookie: &str,
        small_buffer: bool,
    ) -> Result<(Ws, u64), ConnectError> {
        let source = match self.source_ips.len() {
            0 => None,
            n => Some(self.source_ips[index % n]),
        };
        let target = self.target(index);
        let stream = tcp_connect(target.addr, source, small_buffer)
            .await
            .map_err(ConnectError::Tcp)?;
        let mut request = target
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        let cookie =
            HeaderValue::from_str(cookie).map_err(|e| ConnectError::Handshake(e.to_string()))?;
        request.headers_mut().insert(COOKIE, cookie);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        let frames = greeting(&mut ws).await?;
        Ok((ws, frames))
    }
}

/// An error with its chain of causes: `error sending request: ... Connection refused`.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Connects over TCP, bound to `source` first when one is given.
async fn tcp_connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    small_buffer: bool,
) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if small_buffer {
        // Before connecting, so the window offered to the server is small from the start.
        socket.set_recv_buffer_size(SMALL_RECEIVE_BUFFER)?;
    }
    if let Some(ip) = source {
        defer_port_choice(&socket);
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Lets the kernel pick the source port at connect time rather than at bind time, so a
/// port is only unique per (source, destination) and the whole range stays usable.
#[cfg(target_os = "linux")]
fn defer_port_choice(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the fd is an open socket owned by `socket`; the option value is a c_int
    // that lives across the call. A failure only means the kernel picks ports earlier.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn defer_port_choice(_: &TcpSocket) {}

/// Reads until the `list` frame that ends the protocol's greeting (`join`, then `list`).
async fn greeting(ws: &mut Ws) -> Result<u64, ConnectError> {
    let mut frames = 0;
    while frames < GREETING_FRAMES as u64 {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                frames += 1;
                if Envelope::parse(text.as_str()).is_ok_and(|env| env.kind == "list") {
                    return Ok(frames);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or("none".to_owned(), |f| u16::from(f.code).to_string());
                return Err(ConnectError::Closed(code));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ConnectError::Handshake(e.to_string())),
            None => return Err(ConnectError::Closed("none".into())),
        }
    }
    Err(ConnectError::NoGreeting)
}
