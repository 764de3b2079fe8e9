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
    /// A status this client does not expect, without a readable error body.
    #[error("The server answered with an unexpected status ({0}).")]
    Status(u16),
    /// A success answer whose body is not what the protocol promises.
    #[error("The server sent an answer this page does not understand.")]
    Decode,
}

impl From<gloo_net::Error> for Error {
    fn from(error: gloo_net::Error) -> Self {
        match error {
            gloo_net::Error::SerdeError(_) => Error::Decode,
            _ => Error::Network,
        }
    }
}
