//! Error types, one per layer: [`ApiError`] for HTTP answers, [`Error`] for the process.

use std::convert::Infallible;

use shared::ErrorBody;
use warp::http::StatusCode;
use warp::reject::{Reject, Rejection};
use warp::Reply;

/// Why the server could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
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
        }
    }

    /// The `{"error": "..."}` answer for this error.
    pub fn into_response(self) -> warp::reply::Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.to_string(),
        };
        warp::reply::with_status(warp::reply::json(&body), status).into_response()
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
