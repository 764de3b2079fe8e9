//! Rooms: what a room is on the wire, and the rules for its name, slug and topic.

use serde::{Deserialize, Serialize};

use crate::names::{validate_name, NameError};
use crate::User;

/// A room's id. Rooms and messages have separate id sequences.
pub type RoomId = u64;

/// The room every user is a member of, from the first start; v1 clients talk there.
pub const GENERAL: RoomId = 1;
/// The slug of [`GENERAL`].
pub const GENERAL_SLUG: &str = "general";
/// Longest room topic, in Unicode scalar values, after trimming.
pub const MAX_TOPIC_CHARS: usize = 250;
/// Longest slug, in bytes (slugs are ASCII).
pub const MAX_SLUG_CHARS: usize = 40;

/// Who can see and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Anyone signed in can see it in the list and join it.
    Public,
    /// Only members see it; any member can invite another user.
    Private,
    /// A direct conversation of exactly two users.
    Dm,
}

impl RoomKind {
    /// The wire (and database) name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Dm => "dm",
        }
    }

    /// The kind named `name`, as [`RoomKind::as_str`] writes it.
    pub fn parse(name: &str) -> Option<RoomKind> {
        match name {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "dm" => Some(RoomKind::Dm),
            _ => None,
        }
    }
}

/// A room as one user sees it: the room itself, then that user's own state in it.
///
/// The per-user fields default to zero/false, so the same shape serves the room
/// directory (`GET /api/rooms`), where they are filled only for the rooms the user is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub slug: String,
    /// For a DM, empty: clients show `peer`'s name.
    pub name: String,
    pub topic: String,
    pub kind: RoomKind,
    /// How many users are members.
    pub members: u64,
    /// For a DM, the other user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<User>,
    /// Whether the user is a member.
    #[serde(default)]
    pub member: bool,
    /// Other users' chat messages after the user's read marker.
    #[serde(default)]
    pub unread: u64,
    /// Messages after the read marker that mention the user.
    #[serde(default)]
    pub mentions: u64,
    /// The id of the newest stored event in the room, 0 when there is none.
    #[serde(default)]
    pub last_id: u64,
    /// The user's read marker: the last id they have seen in this room.
    #[serde(default)]
    pub read: u64,
    /// A muted room does not notify and does not count in the title.
    #[serde(default)]
    pub muted: bool,
}

/// Body of `POST /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRoom {
    pub name: String,
    #[serde(default)]
    pub topic: String,
    /// `public` or `private`; DMs are made with `POST /api/dm`.
    pub kind: RoomKind,
}

/// Body of `POST /api/dm` and `POST /api/rooms/{id}/invite`: another user, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub user: u64,
}

/// Body of `POST /api/rooms/{id}/mute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    pub muted: bool,
}

/// Which room rule a name or topic broke. The `Display` text is what users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomError {
    Name(NameError),
    TopicTooLong,
    TopicControl,
}

impl std::fmt::Display for RoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomError::Name(err) => write!(f, "room {err}"),
            RoomError::TopicTooLong => {
                write!(f, "topic must be at most {MAX_TOPIC_CHARS} characters")
            }
            RoomError::TopicControl => write!(
                f,
                "topic must not contain control characters other than newline and tab"
            ),
        }
    }
}

impl std::error::Error for RoomError {}

/// Checks a room's name by the user-name rules (with the `names` feature, the Unicode
/// ones too) and returns it trimmed. Room names are unique by [`crate::canonical_name`].
pub fn validate_room_name(raw: &str) -> Result<String, RoomError> {
    validate_name(raw).map_err(RoomError::Name)
}

/// Trims a topic and checks it: at most [`MAX_TOPIC_CHARS`], no control characters but
/// newline and tab.
pub fn validate_topic(raw: &str) -> Result<String, RoomError> {
    let topic = raw.trim();
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(RoomError::TopicTooLong);
    }
    if topic
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(RoomError::TopicControl);
    }
    Ok(topic.to_owned())
}

/// The slug a room name starts from: ASCII letters and digits lowercased, every other
/// run of characters one `-`, at most [`MAX_SLUG_CHARS`]; `room` when nothing is left
/// (a name in another script). The server appends `-2`, `-3`... while it is taken.
///
/// ```
/// assert_eq!(shared::slug_for("Design Team!"), "design-team");
/// assert_eq!(shared::slug_for("设计"), "room");
/// ```
pub fn slug_for(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG_CHARS);
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "room".to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ascii_and_bounded() {
        assert_eq!(slug_for("  Rust -- Async  "), "rust-async");
        assert_eq!(slug_for("Café crème"), "caf-cr-me");
        assert_eq!(slug_for(&"a".repeat(100)).len(), MAX_SLUG_CHARS);
        assert_eq!(slug_for("!!!"), "room");
    }

    #[test]
    fn topics_are_trimmed_and_bounded() {
        assert_eq!(validate_topic("  hi \n").unwrap(), "hi");
        assert_eq!(
            validate_topic(&"x".repeat(MAX_TOPIC_CHARS + 1)),
            Err(RoomError::TopicTooLong)
        );
        assert_eq!(validate_topic("a\u{7}"), Err(RoomError::TopicControl));
    }

    #[test]
    fn room_json_lists_per_user_fields_after_the_room() {
        let room = Room {
            id: 3,
            slug: "design".into(),
            name: "Design".into(),
            topic: String::new(),
            kind: RoomKind::Private,
            members: 2,
            peer: None,
            member: true,
            unread: 4,
            mentions: 1,
            last_id: 99,
            read: 90,
            muted: false,
        };
        let json = serde_json::to_string(&room).unwrap();
        assert_eq!(
            json,
            r#"{"id":3,"slug":"design","name":"Design","topic":"","kind":"private","members":2,"member":true,"unread":4,"mentions":1,"last_id":99,"read":90,"muted":false}"#
        );
        assert_eq!(serde_json::from_str::<Room>(&json).unwrap(), room);
    }
}
