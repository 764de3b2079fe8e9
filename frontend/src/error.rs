//! The one error type of the client's HTTP layer, with the text a user is shown.

use shared::ErrorCode;
use thiserror::Error;

use crate::messages::{retry_hint, sentence};

/// Why a call to the server's `/api` failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The request never got an answer (server down, browser offline).
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
    /// The server refused with a `{"error": ..., "code": ...}` body; the reader is shown the
    /// sentence for its code.
    #[error("{}", sentence(code, message))]
    Rejected {
        status: u16,
        code: ErrorCode,
        message: String,
    },
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
    /// The server's code for a refusal, if it gave one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Rejected { code, .. } => Some(code),
            Error::TooManyAttempts(_) => Some(&ErrorCode::RateLimited),
            _ => None,
        }
    }

    /// The server no longer recognises the session.
    pub fn is_signed_out(&self) -> bool {
        match self {
            Error::Rejected {
                status: 401, code, ..
            } => !matches!(code, ErrorCode::NoAccount | ErrorCode::WrongPassword),
            Error::Status(status) => *status == 401,
            _ => false,
        }
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

    #[test]
    fn a_refusal_reads_as_the_sentence_for_its_code_not_the_servers_words() {
        let refused = Error::Rejected {
            status: 401,
            code: ErrorCode::WrongPassword,
            message: "unknown account or wrong password".into(),
        };
        assert_eq!(refused.to_string(), "Wrong password for this name.");
        assert!(
            !refused.is_signed_out(),
            "a wrong password is not a session that ended"
        );
        let ended = Error::Rejected {
            status: 401,
            code: ErrorCode::SignedOut,
            message: "not signed in".into(),
        };
        assert!(ended.is_signed_out());
    }
}
