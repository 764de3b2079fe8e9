//! Messages a client sends on `/ws/chat`.

use serde::{Deserialize, Serialize};

/// Longest chat text accepted, in Unicode scalar values, after trimming.
pub const MAX_TEXT_CHARS: usize = 2000;

/// One frame from a client. Unknown fields are ignored so clients can add their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    Chat { text: String },
}

impl ClientMessage {
    /// Builds a chat message.
    pub fn chat(text: impl Into<String>) -> Self {
        ClientMessage::Chat { text: text.into() }
    }
}
