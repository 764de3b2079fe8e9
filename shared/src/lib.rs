//! The chat wire protocol, shared by the server and the browser client.
//!
//! Everything here is a contract with third-party clients (see `docs/protocol.md`):
//! the JSON shapes may grow new fields and message types, never change.
//!
//! ```
//! use shared::{ServerBody, ServerMessage, User};
//!
//! let alice = User::new(7, "Alice");
//! let msg = ServerMessage { id: 42, ts: 1_764_070_000_000, user: alice, room: None, body: ServerBody::chat("hello") };
//! let json = serde_json::to_string(&msg).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"id":42,"type":"chat","user":{"id":7,"name":"Alice","image":7,"guest":false},"data":"hello","ts":1764070000000}"#
//! );
//! assert_eq!(serde_json::from_str::<ServerMessage>(&json).unwrap(), msg);
//! ```

mod client;
mod codes;
mod names;
mod rooms;
mod server;

pub use client::{check_chat, ChatError, ClientMessage, MAX_CID_CHARS, MAX_TEXT_CHARS};
pub use codes::{
    ErrorCode, CLOSE_GOING_AWAY, CLOSE_INTERNAL, CLOSE_INVALID_USER, CLOSE_INVALID_USER_REASON,
    CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG, MAX_FRAME_BYTES, TYPING_EVERY_MS, TYPING_SHOWN_MS,
};
#[cfg(feature = "names")]
pub use names::canonical_name;
pub use names::{validate_name, NameError, MAX_NAME_CHARS};
pub use rooms::{
    slug_for, validate_room_name, validate_topic, Mute, NewRoom, Room, RoomError, RoomId, RoomKind,
    UserRef, GENERAL, GENERAL_SLUG, MAX_SLUG_CHARS, MAX_TOPIC_CHARS,
};
pub use server::{Refusal, ServerBody, ServerFrame, ServerMessage, Signal};

use serde::{Deserialize, Serialize};

/// A person in the room. `image` picks one of ten avatars and is always `id % 10`.
/// `guest` is true for a name signed in without a password: clients mark it, so a guest
/// can never pass for the account holder. Envelopes stored before it existed lack it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub image: u8,
    #[serde(default)]
    pub guest: bool,
}

impl User {
    /// Builds an account's user, deriving the avatar from the id as the protocol requires.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            image: (id % 10) as u8,
            guest: false,
        }
    }

    /// Builds a guest's user.
    pub fn guest(id: u64, name: impl Into<String>) -> Self {
        Self {
            guest: true,
            ..Self::new(id, name)
        }
    }
}

/// Body of `POST /api/signin` and `POST /api/register`. Without a password, sign-in is
/// as a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Shortest and longest password accepted at registration, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

/// Body of every JSON error answer: `{"error": "...", "code": "..."}`. `code` (see
/// [`ErrorCode`]) is what clients translate; `retry_after` (seconds) comes with 429/503.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default = "unknown_code")]
    pub code: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

fn unknown_code() -> ErrorCode {
    ErrorCode::Other(String::new())
}
