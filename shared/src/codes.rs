//! Machine-readable codes: why something was refused (in `error` frames and JSON error
//! bodies), and why a socket was closed. Clients translate codes, never messages.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Close code: the server is shutting down or restarting; reconnect soon.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: a normal close (the client's own, or the server answering one).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the socket broke a rule (too many sockets, a reader that does not read).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: a frame over [`MAX_FRAME_BYTES`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the server could not give the socket's frames safe ids; reconnect.
pub const CLOSE_INTERNAL: u16 = 1011;
/// Close code: the socket has no valid session (also after sign-out).
pub const CLOSE_INVALID_USER: u16 = 4001;
/// Reason sent with [`CLOSE_INVALID_USER`].
pub const CLOSE_INVALID_USER_REASON: &str = "Invalid user";

/// Largest frame a client may send, in bytes; larger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// A client sends `typing` at most this often while the user types, in milliseconds.
pub const TYPING_EVERY_MS: u64 = 3_000;
/// A client forgets a `typing` signal after this long without another, in milliseconds.
pub const TYPING_SHOWN_MS: u64 = 6_000;

/// Why a request or a frame was refused.
///
/// On the wire a code is a `snake_case` string. Clients must accept codes they do not
/// know (newer servers add some): those parse as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed JSON, an unknown `type`, a binary frame or a malformed request.
    BadRequest,
    /// The chat text is over [`crate::MAX_TEXT_CHARS`].
    TooLong,
    /// The text holds a control character.
    ControlCharacter,
    /// The `cid` is empty, too long or holds a control character.
    BadCid,
    /// Too many messages or requests: wait, then try again.
    RateLimited,
    /// The message could not be stored; send it again.
    NotSaved,
    /// No such room, or not one the user may see (the two answers are the same).
    NoSuchRoom,
    /// A name, room name or topic broke a rule.
    BadName,
    /// The name belongs to an account or a signed-in guest.
    NameTaken,
    /// A password sign-in to a name that has no account.
    NoAccount,
    /// The password does not match.
    WrongPassword,
    /// A password shorter or longer than the rules allow.
    BadPassword,
    /// Not signed in, or the session ended.
    SignedOut,
    /// Signed in, but not allowed (a guest creating a room, leaving `general`...).
    Forbidden,
    /// The request's `Origin` is not this server's.
    BadOrigin,
    /// Nothing is at that path.
    NotFound,
    /// The body is over the size limit.
    TooLarge,
    /// The body is not JSON.
    NotJson,
    /// The server is too busy right now; try again shortly.
    Busy,
    /// The server cannot serve now (its database does not answer): `GET /readyz`.
    NotReady,
    /// Something broke on the server.
    Internal,
    /// A code this build does not know.
    Other(String),
}

impl ErrorCode {
    /// Every code this build knows, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::TooLong,
        ErrorCode::ControlCharacter,
        ErrorCode::BadCid,
        ErrorCode::RateLimited,
        ErrorCode::NotSaved,
        ErrorCode::NoSuchRoom,
        ErrorCode::BadName,
        ErrorCode::NameTaken,
        ErrorCode::NoAccount,
        ErrorCode::WrongPassword,
        ErrorCode::BadPassword,
        ErrorCode::SignedOut,
        ErrorCode::Forbidden,
        ErrorCode::BadOrigin,
        ErrorCode::NotFound,
        ErrorCode::TooLarge,
        ErrorCode::NotJson,
        ErrorCode::Busy,
        ErrorCode::NotReady,
        ErrorCode::Internal,
    ];

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::TooLong => "too_long",
            ErrorCode::ControlCharacter => "control_character",
            ErrorCode::BadCid => "bad_cid",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotSaved => "not_saved",
            ErrorCode::NoSuchRoom => "no_such_room",
            ErrorCode::BadName => "bad_name",
            ErrorCode::NameTaken => "name_taken",
            ErrorCode::NoAccount => "no_account",
            ErrorCode::WrongPassword => "wrong_password",
            ErrorCode::BadPassword => "bad_password",
            ErrorCode::SignedOut => "signed_out",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadOrigin => "bad_origin",
            ErrorCode::NotFound => "not_found",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotJson => "not_json",
            ErrorCode::Busy => "busy",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Internal => "internal",
            ErrorCode::Other(code) => code,
        }
    }

    /// The code written `code`; unknown ones are kept as [`ErrorCode::Other`].
    pub fn parse(code: &str) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .find(|known| known.as_str() == code)
            .cloned()
            .unwrap_or_else(|| ErrorCode::Other(code.to_owned()))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&code))
    }
}

impl From<crate::ChatError> for ErrorCode {
    fn from(err: crate::ChatError) -> Self {
        match err {
            crate::ChatError::CidLength | crate::ChatError::CidControl => ErrorCode::BadCid,
            crate::ChatError::TooLong => ErrorCode::TooLong,
            crate::ChatError::TextControl => ErrorCode::ControlCharacter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_and_unknown_ones_are_kept() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let later: ErrorCode = serde_json::from_str(r#""banned""#).unwrap();
        assert_eq!(later, ErrorCode::Other("banned".into()));
        assert_eq!(later.as_str(), "banned");
    }
}
