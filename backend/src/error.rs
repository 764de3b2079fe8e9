//! Error types, one per layer: [`ApiError`] for HTTP answers, [`Error`] for the process.
//! Domain errors ([`crate::accounts::AccountError`], [`crate::hub::RoomRefusal`]) become
//! HTTP answers here, each in one `From`.

use std::convert::Infallible;

use shared::{ErrorBody, ErrorCode};
use warp::http::StatusCode;
use warp::reject::{Reject, Rejection};
use warp::Reply;

/// Why the server could not start or keep running. Its `Debug` form is the message, so
/// `main` returning it prints one clear line.
#[derive(thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Secret(#[from] crate::secret::SecretError),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Everything an HTTP request can fail with; each maps to one status, one
/// [`ErrorCode`] and a JSON body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A user name, room name or topic broke a rule: 400 `bad_name`.
    #[error("{0}")]
    BadName(String),
    /// A new password of the wrong length, or none: 400 `bad_password`.
    #[error("{0}")]
    BadPassword(String),
    #[error("not signed in")]
    Unauthorized,
    /// A password sign-in to a name no account holds: 401 `no_account`.
    #[error("no account has that name")]
    NoAccount,
    /// 401 `wrong_password`.
    #[error("wrong name or password")]
    WrongPassword,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A request from a foreign `Origin`: 403 `bad_origin`.
    #[error("origin not allowed")]
    BadOrigin,
    #[error("not found")]
    NotFound,
    /// No such room, or one the user may not see: the same 404 `no_such_room` for both.
    #[error("no such room")]
    NoSuchRoom,
    /// 404 `not_found`.
    #[error("no such user")]
    NoSuchUser,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body must be at most {0} bytes")]
    PayloadTooLarge(usize),
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("this path only accepts WebSocket upgrades")]
    UpgradeRequired,
    /// The name (of a user or a room) is held: 409 `name_taken`.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many failed attempts; try again in {} seconds", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    /// Any other limit (registrations, guest sign-ins per address, rooms per user): 429
    /// with `Retry-After`.
    #[error("{what}; try again in {secs} seconds", what = .0, secs = .1.as_secs().max(1))]
    Limited(&'static str, std::time::Duration),
    /// Every password-hashing thread is busy and the queue is full: 503 with `Retry-After`.
    #[error("the server is busy; try again in {} seconds", .0.as_secs().max(1))]
    Busy(std::time::Duration),
    /// The database does not answer or the hub has stopped: 503 `not_ready`, for
    /// load balancers (`GET /readyz`).
    #[error("not ready: {0}")]
    NotReady(&'static str),
    /// A change could not be stored; nothing happened: 500 `not_saved`.
    #[error("the change could not be saved; try again")]
    NotSaved,
    /// Details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(err: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError as E;
        match err {
            E::BadName(err) => ApiError::BadName(err.to_string()),
            E::BadPassword => ApiError::BadPassword(format!(
                "password must be {} to {} characters",
                shared::PASSWORD_CHARS.start(),
                shared::PASSWORD_CHARS.end()
            )),
            E::AccountHolds => ApiError::Conflict("that name belongs to an account"),
            E::AccountHoldsSignIn => {
                ApiError::Conflict("that name belongs to an account; sign in with its password")
            }
            E::GuestHolds => ApiError::Conflict("a guest with that name is signed in"),
            E::NoAccount => ApiError::NoAccount,
            E::WrongPassword => ApiError::WrongPassword,
            E::GuestsOff => ApiError::Forbidden(
                "guest sign-in is turned off; register or sign in with a password",
            ),
            E::TooManyAttempts(wait) => ApiError::TooManyRequests(wait),
            E::TooManyRegistrations(wait) => ApiError::Limited("too many registrations", wait),
            E::TooManyGuests(wait) => ApiError::Limited("too many guest sign-ins", wait),
            E::Busy(wait) => ApiError::Busy(wait),
            E::Store(err) => err.into(),
            E::Hashing(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<crate::hub::RoomRefusal> for ApiError {
    fn from(refusal: crate::hub::RoomRefusal) -> Self {
        use crate::hub::RoomRefusal as R;
        match refusal {
            R::NoSuchRoom => ApiError::NoSuchRoom,
            R::NoSuchUser => ApiError::NoSuchUser,
            R::NameTaken => ApiError::Conflict("a room with that name exists"),
            R::Forbidden(why) => ApiError::Forbidden(why),
            R::NotSaved => ApiError::NotSaved,
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadName(_) | ApiError::BadPassword(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized | ApiError::NoAccount | ApiError::WrongPassword => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) | ApiError::BadOrigin => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoSuchRoom | ApiError::NoSuchUser => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) | ApiError::Limited(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotSaved | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code clients translate.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UpgradeRequired | ApiError::MethodNotAllowed => {
                ErrorCode::BadRequest
            }
            ApiError::BadName(_) => ErrorCode::BadName,
            ApiError::BadPassword(_) => ErrorCode::BadPassword,
            ApiError::Unauthorized => ErrorCode::SignedOut,
            ApiError::NoAccount => ErrorCode::NoAccount,
            ApiError::WrongPassword => ErrorCode::WrongPassword,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::BadOrigin => ErrorCode::BadOrigin,
            ApiError::NotFound | ApiError::NoSuchUser => ErrorCode::NotFound,
            ApiError::NoSuchRoom => ErrorCode::NoSuchRoom,
            ApiError::PayloadTooLarge(_) => ErrorCode::TooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::NotJson,
            ApiError::Conflict(_) => ErrorCode::NameTaken,
            ApiError::TooManyRequests(_) | ApiError::Limited(..) => ErrorCode::RateLimited,
            ApiError::Busy(_) => ErrorCode::Busy,
            ApiError::NotReady(_) => ErrorCode::NotReady,
            ApiError::NotSaved => ErrorCode::NotSaved,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The `{"error": "...", "code": "..."}` answer for this error.
    pub fn into_response(self) -> warp::reply::Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let status = self.status();
        let wait = match &self {
            ApiError::TooManyRequests(wait) | ApiError::Limited(_, wait) | ApiError::Busy(wait) => {
                Some(wait.as_secs().max(1))
            }
            _ => None,
        };
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code(),
            retry_after: wait,
        };
        let mut res = warp::reply::with_status(warp::reply::json(&body), status).into_response();
        if let Some(secs) = wait {
            let secs = secs.to_string();
            if let Ok(value) = warp::http::HeaderValue::from_str(&secs) {
                res.headers_mut()
                    .insert(warp::http::header::RETRY_AFTER, value);
            }
        }
        res
    }
}

impl Reject for ApiError {}

/// The one place where every rejection becomes a JSON error answer.
pub async fn handle_rejection(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    let api = if let Some(api) = err.find::<ApiError>() {
        api.clone()
    } else if err.is_not_found() {
        ApiError::NotFound
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge(crate::limits::MAX_BODY_BYTES)
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::UnsupportedMediaType
    } else {
        tracing::debug!(?err, "unhandled rejection");
        ApiError::BadRequest("bad request".into())
    };
    Ok(api.into_response())
}
