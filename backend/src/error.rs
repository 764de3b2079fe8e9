//! Error types, one per layer: [`ApiError`] for HTTP answers, [`Error`] for the process.

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

/// Everything an HTTP request can fail with; each maps to one status and a JSON body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not signed in")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body must be at most {0} bytes")]
    PayloadTooLarge(usize),
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("this path only accepts WebSocket upgrades")]
    UpgradeRequired,
    #[error("{0}")]
    BadCredentials(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many failed attempts; try again in {} seconds", .0.as_secs())]
    TooManyRequests(std::time::Duration),
    /// Any other limit (registrations, guest sign-ins per address): 429 with `Retry-After`.
    #[error("{what}; try again in {secs} seconds", what = .0, secs = .1.as_secs().max(1))]
    Limited(&'static str, std::time::Duration),
    /// Every password-hashing thread is busy and the queue is full: 503 with `Retry-After`.
    #[error("the server is busy; try again in {} seconds", .0.as_secs().max(1))]
    Busy(std::time::Duration),
    /// Details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ApiError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) | ApiError::Limited(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code clients translate.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UpgradeRequired | ApiError::MethodNotAllowed => {
                ErrorCode::BadRequest
            }
            ApiError::Unauthorized => ErrorCode::SignedOut,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::PayloadTooLarge(_) => ErrorCode::TooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::NotJson,
            ApiError::BadCredentials(_) => ErrorCode::WrongPassword,
            ApiError::Conflict(_) => ErrorCode::NameTaken,
            ApiError::TooManyRequests(_) | ApiError::Limited(..) => ErrorCode::RateLimited,
            ApiError::Busy(_) => ErrorCode::Busy,
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
        ApiError::PayloadTooLarge(crate::api::MAX_BODY_BYTES)
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::UnsupportedMediaType
    } else {
        tracing::debug!(?err, "unhandled rejection");
        ApiError::BadRequest("bad request".into())
    };
    Ok(api.into_response())
}
