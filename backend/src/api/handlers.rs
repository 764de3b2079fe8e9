//! What the account and history endpoints do once their request is understood.

use std::net::IpAddr;

use shared::SignIn;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

pub use super::history::{parse_history_query, HistoryQuery, HISTORY_PAGE};

use super::history::history_reply;
use crate::accounts::SignedIn;
use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;
use crate::store::rooms;

/// Signs in: with a password as that account, without as a new guest.
pub async fn signin(
    body: SignIn,
    addr: Option<IpAddr>,
    state: AppState,
) -> Result<Response, Rejection> {
    let signed_in = state
        .accounts
        .sign_in(&body.name, body.password.as_deref(), addr)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(signed_in.user.id, signed_in.user.name, "signed in");
    Ok(with_session(&state, signed_in, StatusCode::OK).await)
}

/// Creates an account and signs it in; guests whose names look the same are signed
/// out, their sockets closed with 4001.
pub async fn register(
    body: SignIn,
    addr: Option<IpAddr>,
    state: AppState,
) -> Result<Response, Rejection> {
    let password = body
        .password
        .ok_or_else(|| ApiError::BadPassword("password is required".into()))?;
    let signed_in = state
        .accounts
        .register(&body.name, &password, addr)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(signed_in.user.id, signed_in.user.name, "registered");
    Ok(with_session(&state, signed_in, StatusCode::CREATED).await)
}

/// The user object, with the cookie for its new session. Closes the sockets of the
/// sessions that signing in ended.
async fn with_session(state: &AppState, signed_in: SignedIn, status: StatusCode) -> Response {
    for session in signed_in.ended_sessions {
        state
            .hub
            .close_session(session, shared::CLOSE_INVALID_USER)
            .await;
    }
    let reply = warp::reply::with_status(warp::reply::json(&signed_in.user), status);
    let set_cookie = state.sessions.set_cookie(&signed_in.cookie);
    warp::reply::with_header(reply, header::SET_COOKIE, set_cookie).into_response()
}

/// Who the session belongs to.
pub fn me(session: Session) -> Response {
    warp::reply::json(&session.user).into_response()
}

/// Ends the session, if any, and closes its sockets with 4001.
pub async fn signout(session: Option<Session>, state: AppState) -> Result<Response, Rejection> {
    if let Some(session) = session {
        state
            .sessions
            .revoke(&session)
            .await
            .map_err(ApiError::from)?;
        state
            .hub
            .close_session(session.id, shared::CLOSE_INVALID_USER)
            .await;
        tracing::info!(user.id = session.user.id, "signed out");
    }
    let reply = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT);
    Ok(
        warp::reply::with_header(reply, header::SET_COOKIE, state.sessions.clear_cookie())
            .into_response(),
    )
}

/// Stored events of `general` older than `before`, oldest first, as their original
/// envelopes. Other rooms have their own endpoint, which checks membership.
pub async fn history(
    _session: Session,
    raw_query: String,
    state: AppState,
) -> Result<Response, Rejection> {
    let (before, limit) = parse_history_query(&raw_query)?;
    let rows = state
        .store
        .call(move |db| rooms::history(db, shared::GENERAL, before, limit))
        .await
        .map_err(ApiError::from)?;
    Ok(history_reply(&rows)?)
}
