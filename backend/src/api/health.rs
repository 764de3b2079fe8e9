//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators.
//!
//! Both are cheap, need no session, are never cached, and count against no limit but the
//! connection caps. They answer whatever `Host` the probe sends (see
//! [`crate::server`]): a load balancer probes by address, not by the public name.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::error::ApiError;
use crate::state::AppState;

/// How long `/readyz` waits for the database before it says "not ready".
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The paths probes use; they are answered for any `Host`.
pub const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// GET /healthz: the process is up and serving HTTP. Touches nothing else.
pub fn live() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("healthz").and(warp::get()).map(ok)
}

/// GET /readyz: the database answers and the hub runs; `503` `not_ready` otherwise.
pub fn ready(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // One database ping at a time, held until the ping ends even after a probe gave up
    // on it: a database that hangs costs one blocking thread, however often it is probed.
    let gate = Arc::new(Mutex::new(()));
    warp::path!("readyz")
        .and(warp::get())
        .then(move || readiness(state.clone(), gate.clone()))
}

async fn readiness(state: AppState, gate: Arc<Mutex<()>>) -> Response {
    if !state.hub.is_running() {
        return not_ready("the chat hub has stopped");
    }
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let Ok(held) = tokio::time::timeout_at(deadline, gate.lock_owned()).await else {
        return not_ready("the database does not answer in time");
    };
    let store = state.store.clone();
    let ping = tokio::task::spawn_blocking(move || {
        let _held = held;
        store.ping()
    });
    match tokio::time::timeout_at(deadline, ping).await {
        Ok(Ok(Ok(()))) => ok(),
        Ok(Ok(Err(err))) => {
            tracing::warn!(%err, "readiness: the database does not answer");
            not_ready("the database does not answer")
        }
        Ok(Err(_)) => not_ready("the database check failed"),
        Err(_) => not_ready("the database does not answer in time"),
    }
}

/// `200` with `ok`, never cached.
fn ok() -> Response {
    no_store(warp::reply::with_status("ok\n", StatusCode::OK).into_response())
}

/// `503` with the usual JSON error body, never cached.
fn not_ready(why: &'static str) -> Response {
    no_store(ApiError::NotReady(why).into_response())
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}
