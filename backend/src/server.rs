//! One HTTP server on one port. Per request: an upgrade to a known `/ws/*` path goes to
//! the WebSocket side, everything else to the warp routes.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::ws::{self, Endpoint};

/// The address a request came from, put on every request for the routes to read.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// How long open connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (for example, out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until `signal` resolves, then closes every socket with 1001 and
/// waits (bounded) for connections to finish.
pub async fn serve(listener: TcpListener, state: AppState, signal: impl Future<Output = ()>) {
    let shutdown = Shutdown::default();
    let routes = warp::service(crate::api::routes(state.clone()));
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut signal = std::pin::pin!(signal);

    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (state, routes, on_close) = (state.clone(), routes.clone(), shutdown.clone());
        let service = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            dispatch(req, state.clone(), routes.clone(), on_close.clone())
        });
        let builder = builder.clone();
        let watch = shutdown.clone();
        shutdown.spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
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

/// The seed's picture: an upgrade to a known WebSocket path? WebSocket side : web app.
async fn dispatch<S>(
    req: Request<Incoming>,
    state: AppState,
    mut routes: S,
    shutdown: Shutdown,
) -> Result<warp::reply::Response, Infallible>
where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    if ws::is_upgrade(&req) {
        if let Some(endpoint) = Endpoint::from_path(req.uri().path()) {
            return Ok(ws::accept(req, endpoint, state, shutdown));
        }
    }
    routes.call(req).await
}
