//! Request matching and extraction: one filter per account endpoint, and the pieces
//! every endpoint is built from (session, Origin rule, JSON body, state).

use bytes::{Buf, BufMut, BytesMut};
use futures_util::TryStreamExt;
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;
use warp::{Filter, Rejection};

use super::handlers;
use crate::error::ApiError;
use crate::limits::MAX_BODY_BYTES;
use crate::net::ClientAddr;
use crate::session::Session;
use crate::state::AppState;

/// POST /api/signin
pub fn signin(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "signin")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(json_body())
        .and(client_ip())
        .and(with_state(state))
        .and_then(handlers::signin)
}

/// POST /api/register
pub fn register(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "register")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(json_body())
        .and(client_ip())
        .and(with_state(state))
        .and_then(handlers::register)
}

/// GET /api/me
pub fn me(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "me")
        .and(warp::get())
        .and(session(state))
        .map(handlers::me)
}

/// POST /api/signout
pub fn signout(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "signout")
        .and(warp::post())
        .and(same_origin(state.clone()))
        .and(optional_session(state.clone()))
        .and(with_state(state))
        .and_then(handlers::signout)
}

/// GET /api/history?before=<id>&limit=<n>
pub fn history(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("api" / "history")
        .and(warp::get())
        .and(session(state.clone()))
        .and(query_string())
        .and(with_state(state))
        .and_then(handlers::history)
}

/// The raw query string ("" when there is none).
pub fn query_string() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone
{
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// Passes requests without `Origin` or from an origin this server answers to; 403 for
/// any other, so a foreign page cannot sign a visitor in, up or out.
/// The same rule as for WebSocket handshakes: [`crate::origin::allowed`].
pub fn same_origin(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::host::optional())
        .and_then(
            move |origin: Option<String>, host: Option<warp::host::Authority>| {
                let allowed = crate::origin::allowed(
                    origin.as_deref(),
                    host.as_ref().map(|h| h.as_str()),
                    &state.config,
                );
                async move {
                    if allowed {
                        Ok(())
                    } else {
                        Err(Rejection::from(ApiError::BadOrigin))
                    }
                }
            },
        )
        .untuple_one()
}

/// The client's IP address, as the accept loop recorded it.
fn client_ip(
) -> impl Filter<Extract = (Option<std::net::IpAddr>,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<ClientAddr>().map(|addr: Option<ClientAddr>| addr.map(|a| a.0.ip()))
}

/// GET /ws/chat or /ws/echo without an upgrade: 426. Unknown /ws/* stays a 404.
pub fn ws_without_upgrade(
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path("ws")
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and_then(|endpoint: String| async move {
            match crate::ws::Endpoint::from_name(&endpoint) {
                Some(_) => Err::<warp::reply::Response, _>(ApiError::UpgradeRequired.into()),
                None => Err(warp::reject::not_found()),
            }
        })
}

/// The signed-in user's session; 401 without one.
pub fn session(state: AppState) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    optional_session(state).and_then(|session: Option<Session>| async move {
        session.ok_or_else(|| Rejection::from(ApiError::Unauthorized))
    })
}

/// The session if the request carries a valid one.
pub fn optional_session(
    state: AppState,
) -> impl Filter<Extract = (Option<Session>,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let sessions = state.sessions.clone();
        async move {
            sessions
                .from_headers(&headers)
                .await
                .map_err(|err| Rejection::from(ApiError::from(err)))
        }
    })
}

pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A JSON body of at most [`MAX_BODY_BYTES`]: 415 for another content type, 413 when
/// larger (declared or streamed), 400 when it does not parse.
pub fn json_body<T: DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::stream())
        .and_then(
            |length: Option<u64>, content_type: Option<String>, body| async move {
                if length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
                    return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES).into());
                }
                if !content_type.as_deref().is_some_and(is_json) {
                    return Err(ApiError::UnsupportedMediaType.into());
                }
                let bytes = read_limited(body).await?;
                serde_json::from_slice::<T>(&bytes).map_err(|err| {
                    Rejection::from(ApiError::BadRequest(format!("invalid JSON body: {err}")))
                })
            },
        )
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

async fn read_limited<S, B>(body: S) -> Result<BytesMut, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|_| ApiError::BadRequest("could not read the request body".into()))?
    {
        if out.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES).into());
        }
        out.put(chunk);
    }
    Ok(out)
}
