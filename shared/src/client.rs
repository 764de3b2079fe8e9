//! Messages a client sends on `/ws/chat`.

use serde::{Deserialize, Serialize};

use crate::rooms::RoomId;

/// Longest chat text accepted, in Unicode scalar values, after trimming.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest client message id (`cid`), in Unicode scalar values.
pub const MAX_CID_CHARS: usize = 64;

/// One frame from a client. Unknown fields are ignored so clients can add their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// A chat line. `cid`, chosen by the client, makes resending it safe: a second message
    /// with a `cid` the user already used is not broadcast again. Without a `room`, the
    /// line goes to [`crate::GENERAL`] (v1 clients know no rooms).
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomId>,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    /// The user has seen `room` up to message `id`. Read markers never move backwards.
    Read { room: RoomId, id: u64 },
    /// The user is typing in `room`; sent at most every [`crate::TYPING_EVERY_MS`].
    Typing { room: RoomId },
}

impl ClientMessage {
    /// Builds a chat message for `general` without a client id.
    pub fn chat(text: impl Into<String>) -> Self {
        ClientMessage::Chat {
            room: None,
            text: text.into(),
            cid: None,
        }
    }

    /// Builds a chat message for `general` that can be resent safely.
    pub fn chat_with_cid(text: impl Into<String>, cid: impl Into<String>) -> Self {
        ClientMessage::Chat {
            room: None,
            text: text.into(),
            cid: Some(cid.into()),
        }
    }

    /// Builds a chat message for `room` that can be resent safely.
    pub fn chat_in(room: RoomId, text: impl Into<String>, cid: impl Into<String>) -> Self {
        ClientMessage::Chat {
            room: Some(room),
            text: text.into(),
            cid: Some(cid.into()),
        }
    }
}

/// Which chat rule a message broke. The `Display` text is what the sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatError {
    /// The `cid` is empty or longer than [`MAX_CID_CHARS`].
    CidLength,
    /// The `cid` holds a control character.
    CidControl,
    /// The text is longer than [`MAX_TEXT_CHARS`] after trimming.
    TooLong,
    /// The text holds a control character other than newline and tab.
    TextControl,
}

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatError::CidLength => write!(f, "cid must be 1 to {MAX_CID_CHARS} characters"),
            ChatError::CidControl => write!(f, "cid must not contain control characters"),
            ChatError::TooLong => {
                write!(
                    f,
                    "message is too long: at most {MAX_TEXT_CHARS} characters"
                )
            }
            ChatError::TextControl => write!(
                f,
                "message must not contain control characters other than newline and tab"
            ),
        }
    }
}

impl std::error::Error for ChatError {}

/// Checks a chat line against the protocol's rules and returns the text to broadcast:
/// trimmed, or `None` when nothing is left (such a message is dropped silently).
///
/// C0 and C1 control characters (and DEL) are refused, except newline and tab inside the
/// text: they can ring bells, move cursors or hide text in terminals and logs.
///
/// ```
/// use shared::{check_chat, ChatError};
///
/// assert_eq!(check_chat("  hi\tthere\n", None), Ok(Some("hi\tthere")));
/// assert_eq!(check_chat("   ", None), Ok(None));
/// assert_eq!(check_chat("ding\u{7}", None), Err(ChatError::TextControl));
/// assert_eq!(check_chat("hi", Some("c\u{1b}")), Err(ChatError::CidControl));
/// ```
pub fn check_chat<'a>(text: &'a str, cid: Option<&str>) -> Result<Option<&'a str>, ChatError> {
    if let Some(cid) = cid {
        let len = cid.chars().count();
        if len == 0 || len > MAX_CID_CHARS {
            return Err(ChatError::CidLength);
        }
        if cid.chars().any(char::is_control) {
            return Err(ChatError::CidControl);
        }
    }
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ChatError::TooLong);
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ChatError::TextControl);
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_and_c1_controls_are_refused_in_text_but_newline_and_tab_pass() {
        for c in ['\0', '\u{7}', '\u{1b}', '\r', '\u{7f}', '\u{85}', '\u{9b}'] {
            assert_eq!(
                check_chat(&format!("a{c}b"), None),
                Err(ChatError::TextControl),
                "{:?}",
                c
            );
        }
        assert_eq!(check_chat("a\nb\tc", None), Ok(Some("a\nb\tc")));
        // Bidi controls are format characters, not controls: clients isolate them.
        assert_eq!(check_chat("a\u{202e}b", None), Ok(Some("a\u{202e}b")));
    }

    #[test]
    fn controls_are_refused_in_cid_even_tab() {
        for cid in ["\t", "a\nb", "\u{0}", "\u{9f}"] {
            assert_eq!(check_chat("hi", Some(cid)), Err(ChatError::CidControl));
        }
        assert_eq!(check_chat("hi", Some("")), Err(ChatError::CidLength));
        assert_eq!(
            check_chat("hi", Some(&"c".repeat(65))),
            Err(ChatError::CidLength)
        );
        assert_eq!(check_chat("hi", Some("ok-1")), Ok(Some("hi")));
    }

    #[test]
    fn length_is_counted_after_trimming() {
        let text = format!("  {}  ", "é".repeat(MAX_TEXT_CHARS));
        assert!(check_chat(&text, None).is_ok());
        let text = "é".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(check_chat(&text, None), Err(ChatError::TooLong));
    }
}
