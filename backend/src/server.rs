//! One HTTP server on one port. Per request: an upgrade to a known `/ws/*` path goes to
//! the WebSocket side, everything else to the warp routes.
//!
//! Every connection holds a slot under the connection caps ([`crate::conn`]) from `accept`
//! until it ends, and is closed once it has had no request in flight for too long.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use warp::Reply;

use crate::conn::{ConnLimits, ConnSlot, QuietLog, Refused};
use crate::net::ClientAddr;
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::ws::{self, Endpoint};

/// How long open connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (for example, out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until `signal` resolves, then closes every socket with 1001 and
/// waits (bounded) for connections to finish. With `tls`, every connection is TLS.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<TlsAcceptor>,
    signal: impl Future<Output = ()>,
) {
    let shutdown = Shutdown::default();
    let routes = warp::service(crate::api::routes(state.clone()));
    let config = state.config.clone();
    let header_timeout = Duration::from_secs(config.header_timeout_secs);
    let idle_timeout = Duration::from_secs(config.idle_timeout_secs);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let limits = ConnLimits::new(
        config
            .max_conns
            .unwrap_or_else(|| crate::conn::default_max_conns(crate::conn::fd_limit())),
        config.max_conns_per_addr,
        &config.trusted_proxies,
    );
    tracing::info!(
        max_conns = limits.max_total(),
        max_conns_per_addr = config.max_conns_per_addr,
        header_timeout_secs = config.header_timeout_secs,
        idle_timeout_secs = config.idle_timeout_secs,
        tls = tls.is_some(),
        "accepting connections"
    );
    let (mut refused_log, mut accept_log) = (QuietLog::new(), QuietLog::new());
    let mut signal = std::pin::pin!(signal);

    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    if let Some(count) = accept_log.hit() {
                        tracing::warn!(%err, count, "accept failed (logged at most every 5 s)");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let slot = match limits.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                drop(stream);
                if let Some(count) = refused_log.hit() {
                    let cap = match why {
                        Refused::Total => "--max-conns",
                        Refused::PerAddr => "--max-conns-per-addr",
                    };
                    tracing::warn!(
                        cap,
                        count,
                        open = limits.open(),
                        "connection cap reached: new connections are closed at once \
                         (logged at most every 5 s)"
                    );
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            state: state.clone(),
            routes: routes.clone(),
            shutdown: shutdown.clone(),
            builder: builder.clone(),
            slot,
            peer,
            header_timeout,
            idle_timeout,
        };
        let tls = tls.clone();
        shutdown.spawn(async move {
            match tls {
                None => conn.serve(stream).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream));
                    tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => conn.serve(stream).await,
                            Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        _ = conn.shutdown.cancelled() => {}
                    }
                }
            }
        });
    }

    tracing::info!("shutting down: closing every socket with 1001");
    if tokio::time::timeout(DRAIN_TIMEOUT, shutdown.begin_and_wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish in time");
    }
}

/// One accepted connection and what serving it needs.
struct Conn<S> {
    state: AppState,
    routes: S,
    shutdown: Shutdown,
    builder: auto::Builder<TokioExecutor>,
    slot: ConnSlot,
    peer: SocketAddr,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl<S> Conn<S>
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    /// Serves HTTP on `io` until the client leaves, the connection idles out (no request
    /// in flight for `header_timeout` before the first request, `idle_timeout` after), or
    /// shutdown. An upgraded connection leaves this task; its socket task keeps the slot.
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            state,
            routes,
            shutdown,
            builder,
            slot,
            peer,
            header_timeout,
            idle_timeout,
        } = self;
        let activity = Arc::new(Activity::new());
        let watch = shutdown.clone();
        let tracker = activity.clone();
        let service = service_fn(move |mut req: Request<Incoming>| {
            let busy = tracker.begin();
            let client =
                crate::net::client_ip(peer.ip(), req.headers(), &state.config.trusted_proxies);
            req.extensions_mut()
                .insert(ClientAddr(SocketAddr::new(client, peer.port())));
            req.extensions_mut().insert(slot.clone());
            let reply = dispatch(req, state.clone(), routes.clone(), shutdown.clone());
            async move {
                let res = reply.await.unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(res.map(|body| TrackedBody {
                    body,
                    busy: Some(busy),
                }))
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, %err, "connection ended with an error");
                }
            }
            _ = watch.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
            }
            _ = activity.idle_for(header_timeout, idle_timeout) => {
                tracing::debug!(%peer, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = tokio::time::timeout(idle_timeout, conn) => {}
                    _ = watch.cancelled() => {}
                }
            }
        }
    }
}

/// Requests in flight on one connection (until their response body is sent) and when
/// the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    served_any: AtomicBool,
    last: Mutex<Instant>,
    /// Signalled whenever a request ends, so the watchdog looks again.
    ended: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            served_any: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            ended: Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served_any.store(true, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once no request has been in flight for `first` (nothing served yet) or
    /// `later` (after a request).
    async fn idle_for(&self, first: Duration, later: Duration) {
        loop {
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                self.ended.notified().await;
                continue;
            }
            let limit = if self.served_any.load(Ordering::SeqCst) {
                later
            } else {
                first
            };
            let due = self.last() + limit;
            if Instant::now() >= due {
                return;
            }
            // A request may start and end meanwhile; then the deadline is `later` from then.
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = self.ended.notified() => {}
            }
        }
    }
}

/// One request in flight; ends when its response body is done or dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        // A stored permit when nobody waits: the watchdog cannot miss the end.
        self.0.ended.notify_one();
    }
}

/// A response body that keeps its request counted as in flight until it is sent.
struct TrackedBody<B> {
    body: B,
    busy: Option<Busy>,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The seed's picture: an upgrade to a known WebSocket path? WebSocket side : web app.
///
/// Before that: a `Host` other than `--public-url`'s is turned away with 421 (except for
/// the health probes), and a `HEAD`
/// is answered as the `GET` it mirrors (hyper leaves the body out). After: HSTS when the
/// chat is reached over HTTPS.
async fn dispatch<S>(
    mut req: Request<Incoming>,
    state: AppState,
    mut routes: S,
    shutdown: Shutdown,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    let config = state.config.clone();
    let host = request_host(&req);
    // Probes come by address, not by the public name.
    let probe = crate::api::health::PROBE_PATHS.contains(&req.uri().path());
    let mut res = if !probe && !crate::origin::host_allowed(host.as_deref(), &config) {
        tracing::debug!(?host, "request for a host we do not serve");
        misdirected()
    } else if let Some(endpoint) = ws::is_upgrade(&req)
        .then(|| Endpoint::from_path(req.uri().path()))
        .flatten()
    {
        ws::accept(req, endpoint, state, shutdown)
    } else if req.method() == Method::HEAD {
        *req.method_mut() = Method::GET;
        without_body(routes.call(req).await?)
    } else {
        routes.call(req).await?
    };
    if crate::origin::serves_https(&config) {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(crate::origin::HSTS),
        );
    }
    Ok(res)
}

/// The answer to a `HEAD`: the `GET` answer's head, its length stated, and no body.
/// HTTP/1 would leave the body out by itself; HTTP/2 sends whatever body it is given.
fn without_body(res: warp::reply::Response) -> warp::reply::Response {
    let (mut parts, body) = res.into_parts();
    if !parts.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = body.size_hint().exact() {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    let empty = warp::reply().into_response().into_body();
    warp::reply::Response::from_parts(parts, empty)
}

/// The host a request is for: its `Host` header, or the HTTP/2 `:authority`.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// 421 with the usual JSON error body.
fn misdirected() -> warp::reply::Response {
    let body = shared::ErrorBody {
        error: "this server does not answer for that host".into(),
        code: shared::ErrorCode::BadRequest,
        retry_after: None,
    };
    warp::reply::with_status(warp::reply::json(&body), StatusCode::MISDIRECTED_REQUEST)
        .into_response()
}
