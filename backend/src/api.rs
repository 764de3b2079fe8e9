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
        .or(filters::register(state.clone()))
        .or(filters::me(state.clone()))
        .or(filters::signout(state.clone()))
        .or(filters::history(state.clone()));
    let site = crate::web::Site::load(&state.config.dist, state.config.public_url.as_ref());
    let security = site.security_headers();
    api.or(filters::ws_without_upgrade())
        .or(crate::web::spa(site))
        .map(warp::Reply::into_response)
        .recover(handle_rejection)
        .unify()
        .map(move |res| security.apply(res))
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
    fn query_string() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone
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
                            Err(Rejection::from(ApiError::Forbidden("origin not allowed")))
                        }
                    }
                },
            )
            .untuple_one()
    }

    /// The client's IP address, as the accept loop recorded it.
    fn client_ip(
    ) -> impl Filter<Extract = (Option<std::net::IpAddr>,), Error = std::convert::Infallible> + Clone
    {
        warp::ext::optional::<crate::server::ClientAddr>()
            .map(|addr: Option<crate::server::ClientAddr>| addr.map(|a| a.0.ip()))
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

    use std::net::IpAddr;

    use serde::Deserialize;
    use shared::SignIn;
    use warp::http::{header, StatusCode};
    use warp::reply::Response;
    use warp::{Rejection, Reply};

    use crate::accounts::SignedIn;
    use crate::error::ApiError;
    use crate::session::Session;
    use crate::state::AppState;
    use crate::store::messages;

    /// Signs in: with a password as that account, without as a new guest.
    pub async fn signin(
        body: SignIn,
        addr: Option<IpAddr>,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let signed_in = state
            .accounts
            .sign_in(&body.name, body.password.as_deref(), addr)
            .await?;
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
            .ok_or_else(|| ApiError::BadRequest("password is required".into()))?;
        let signed_in = state.accounts.register(&body.name, &password, addr).await?;
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

    /// Query of `GET /api/history`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HistoryQuery {
        pub before: Option<u64>,
        pub limit: Option<usize>,
    }

    /// Default and largest page of `GET /api/history`.
    pub const HISTORY_PAGE: (usize, usize) = (50, 100);

    /// Parses the history query: ids are unsigned integers, `limit` is 1..=100.
    pub fn parse_history_query(raw: &str) -> Result<(u64, usize), ApiError> {
        let query: HistoryQuery = serde_urlencoded::from_str(raw).map_err(|err| {
            ApiError::BadRequest(format!(
                "bad query: {err}; expected before=<message id>&limit=<1..=100>"
            ))
        })?;
        let limit = query.limit.unwrap_or(HISTORY_PAGE.0);
        if !(1..=HISTORY_PAGE.1).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {}",
                HISTORY_PAGE.1
            )));
        }
        Ok((query.before.unwrap_or(u64::MAX), limit))
    }

    /// Stored messages older than `before`, oldest first, as their original envelopes.
    pub async fn history(
        _session: Session,
        raw_query: String,
        state: AppState,
    ) -> Result<Response, Rejection> {
        let (before, limit) = parse_history_query(&raw_query)?;
        let rows = state
            .store
            .call(move |db| messages::before(db, before, limit))
            .await
            .map_err(ApiError::from)?;
        let body = format!(
            "[{}]",
            rows.iter()
                .map(|r| r.json.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        Ok(
            warp::reply::with_header(body, header::CONTENT_TYPE, "application/json")
                .into_response(),
        )
    }
}
