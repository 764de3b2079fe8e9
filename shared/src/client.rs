//! Messages a client sends on `/ws/chat`.

use serde::{Deserialize, Serialize};

/// Longest chat text accepted, in Unicode scalar values, after trimming.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest client message id (`cid`), in Unicode scalar values.
pub const MAX_CID_CHARS: usize = 64;

/// One frame from a client. Unknown fields are ignored so clients can add their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// A chat line. `cid`, chosen by the client, makes resending it safe: a second message
    /// with a `cid` the user already used is not broadcast again.
    Chat {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
}

impl ClientMessage {
    /// Builds a chat message without a client id.
    pub fn chat(text: impl Into<String>) -> Self {
        ClientMessage::Chat {
            text: text.into(),
            cid: None,
        }
    }

    /// Builds a chat message that can be resent safely.
    pub fn chat_with_cid(text: impl Into<String>, cid: impl Into<String>) -> Self {
        ClientMessage::Chat {
            text: text.into(),
            cid: Some(cid.into()),
        }
    }
}
