//! The HTTP side: JSON API routes, and the single-page app for every other `GET`.
//!
//! Layout after warp's todos example: `routes()` is the table, `filters` build the
//! pieces, `handlers` do the work. Every error becomes a rejection, turned into the
//! `{"error": ...}` answer in one place, [`crate::error::handle_rejection`].

use warp::Filter;

use crate::error::handle_rejection;
use crate::state::AppState;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 4096;

/// Every HTTP route of the server.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let api = filters::signin(state.clone())
        .or(filters::me(state.clone()))
        .or(filters::signout(state.clone()));
    let app = crate::web::spa(state.config.dist.clone());
    api.or(filters::ws_without_upgrade())
        .or(app)
        .map(warp::Reply::into_response)
        .recover(handle_rejection)
        .unify()
        .with(warp::trace::request())
}

pub mod filters {
    //! Request matching and extraction.

    use bytes::{Buf, BufMut, BytesMut};
    use futures_util::TryStreamExt;
    use serde::de::DeserializeOwned;
    use warp::http::HeaderMap;
    use warp::{Filter, Rejection};

    use super::{handlers, MAX_BODY_BYTES};
    use crate::error::ApiError;
    use crate::session::Session;
    use crate::state::AppState;

    /// POST /api/signin
    pub fn signin(
        state: AppState,
    ) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
        warp::path!("api" / "signin")
            .and(warp::post())
            .and(json_body())
            .and(with_state(state))
            .and_then(handlers::signin)
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
            .and(optional_session(state.clone()))
            .and(with_state(state))
            .map(handlers::signout)
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
    pub fn session(
        state: AppState,
    ) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
        optional_session(state).and_then(|session: Option<Session>| async move {
            session.ok_or_else(|| Rejection::from(ApiError::Unauthorized))
        })
    }

    /// The session if the request carries a valid one.
    pub fn optional_session(
        state: AppState,
    ) -> impl Filter<Extract = (Option<Session>,), Error = std::convert::Infallible> + Clone {
        warp::header::headers_cloned()
            .map(move |headers: HeaderMap| state.sessions.from_headers(&headers))
    }

    fn with_state(
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
}

pub mod handlers {
    //! What each endpoint does once its request is understood.

    use shared::SignIn;
    use warp::http::{header, StatusCode};
    use warp::reply::Response;
    use warp::{Rejection, Reply};

    use crate::error::ApiError;
    use crate::session::{self, Session};
    use crate::state::AppState;

    /// Signs in as a new user with the given name.
    pub async fn signin(body: SignIn, state: AppState) -> Result<Response, Rejection> {
        let name = shared::validate_name(&body.name)
            .map_err(|err| ApiError::BadRequest(err.to_string()))?;
        let user = state.users.create(name);
        let (_, cookie) = state.sessions.issue(user.clone());
        tracing::info!(user.id, user.name, "signed in");
        let reply = warp::reply::json(&user);
        Ok(
            warp::reply::with_header(reply, header::SET_COOKIE, session::set_cookie(&cookie))
                .into_response(),
        )
    }

    /// Who the session belongs to.
    pub fn me(session: Session) -> Response {
        warp::reply::json(&session.user).into_response()
    }

    /// Ends the session, if any, and closes its sockets with 4001.
    pub fn signout(session: Option<Session>, state: AppState) -> Response {
        if let Some(session) = session {
            state.sessions.revoke(&session);
            state
                .hub
                .close_session(session.id, shared::CLOSE_INVALID_USER);
            tracing::info!(user.id = session.user.id, "signed out");
        }
        let reply = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT);
        warp::reply::with_header(reply, header::SET_COOKIE, session::clear_cookie()).into_response()
    }
}
