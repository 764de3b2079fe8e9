//! Messages the server sends: one envelope `{id, type, user, data, ts}` for every frame.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::User;

/// One server frame. `id` increases over everything the server sends; `user` is the
/// subject for `join` / `left` / `chat` and the recipient for `list` / `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    pub id: u64,
    /// Milliseconds since the Unix epoch when the server created the message.
    pub ts: u64,
    pub user: User,
    pub body: ServerBody,
}

/// The `type` and `data` of a frame, which always travel together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBody {
    /// `"<name> joined."`: the user's first socket was accepted.
    Join(String),
    /// `"<name> left."`: the user's last socket closed.
    Left(String),
    /// A chat line, already trimmed.
    Chat(String),
    /// The distinct online users, ordered by id.
    List(Vec<User>),
    /// Why the recipient's last message was rejected.
    Error(String),
}

impl ServerBody {
    /// The wire name of this message type.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerBody::Join(_) => "join",
            ServerBody::Left(_) => "left",
            ServerBody::Chat(_) => "chat",
            ServerBody::List(_) => "list",
            ServerBody::Error(_) => "error",
        }
    }
}

// Written by hand so the keys come out in the documented order: id, type, user, data, ts.
impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("type", self.body.kind())?;
        map.serialize_entry("user", &self.user)?;
        match &self.body {
            ServerBody::Join(text)
            | ServerBody::Left(text)
            | ServerBody::Chat(text)
            | ServerBody::Error(text) => map.serialize_entry("data", text)?,
            ServerBody::List(users) => map.serialize_entry("data", users)?,
        }
        map.serialize_entry("ts", &self.ts)?;
        map.end()
    }
}

/// The envelope as it arrives, before `data` is read according to `type`.
#[derive(Deserialize)]
struct RawMessage {
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    user: User,
    data: serde_json::Value,
    ts: u64,
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawMessage::deserialize(deserializer)?;
        let text = |data: serde_json::Value| String::deserialize(data).map_err(de::Error::custom);
        let body = match raw.kind.as_str() {
            "join" => ServerBody::Join(text(raw.data)?),
            "left" => ServerBody::Left(text(raw.data)?),
            "chat" => ServerBody::Chat(text(raw.data)?),
            "error" => ServerBody::Error(text(raw.data)?),
            "list" => ServerBody::List(Vec::deserialize(raw.data).map_err(de::Error::custom)?),
            other => {
                return Err(de::Error::unknown_variant(
                    other,
                    &["join", "left", "chat", "list", "error"],
                ))
            }
        };
        Ok(ServerMessage {
            id: raw.id,
            ts: raw.ts,
            user: raw.user,
            body,
        })
    }
}
