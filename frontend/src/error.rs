//! The one error type of the client's HTTP layer, with the text a user is shown.

use thiserror::Error;

/// Why a call to the server's `/api` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The request never got an answer (server down, browser offline).
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
    /// The server refused with a `{"error": ...}` body; its message is meant for users.
    #[error("{message}")]
    Rejected { status: u16, message: String },
    /// 429: too many wrong passwords. Holds the `Retry-After` seconds, so the reader knows
    /// how long to wait rather than keep trying.
    #[error("Too many failed attempts. {}", retry_hint(*.0))]
    TooManyAttempts(Option<u64>),
    /// A status this client does not expect, without a readable error body.
    #[error("The server answered with an unexpected status ({0}).")]
    Status(u16),
    /// A success answer whose body is not what the protocol promises.
    #[error("The server sent an answer this page does not understand.")]
    Decode,
}

impl Error {
    /// The server no longer recognises the session.
    pub fn is_signed_out(&self) -> bool {
        matches!(
            self,
            Error::Rejected { status: 401, .. } | Error::Status(401)
        )
    }
}

fn retry_hint(seconds: Option<u64>) -> String {
    match seconds {
        Some(1) => "Try again in 1 second.".into(),
        Some(seconds) if seconds < 120 => format!("Try again in {seconds} seconds."),
        Some(seconds) => format!("Try again in {} minutes.", seconds.div_ceil(60)),
        None => "Wait a minute, then try again.".into(),
    }
}

impl From<gloo_net::Error> for Error {
    fn from(error: gloo_net::Error) -> Self {
        match error {
            gloo_net::Error::SerdeError(_) => Error::Decode,
            _ => Error::Network,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_attempts_says_when_to_try_again() {
        assert_eq!(
            Error::TooManyAttempts(Some(42)).to_string(),
            "Too many failed attempts. Try again in 42 seconds."
        );
        assert_eq!(
            Error::TooManyAttempts(Some(1)).to_string(),
            "Too many failed attempts. Try again in 1 second."
        );
        assert_eq!(
            Error::TooManyAttempts(Some(600)).to_string(),
            "Too many failed attempts. Try again in 10 minutes."
        );
        assert_eq!(
            Error::TooManyAttempts(None).to_string(),
            "Too many failed attempts. Wait a minute, then try again."
        );
    }
}
