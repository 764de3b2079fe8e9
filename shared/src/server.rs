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
    /// A chat line, already trimmed, with the client id its sender gave it, if any.
    Chat { text: String, cid: Option<String> },
    /// The distinct online users, ordered by id.
    List(Vec<User>),
    /// Why the recipient's last message was rejected.
    Error(String),
    /// Stored messages replayed to a new socket, oldest first. `truncated` says that
    /// older ones exist that were left out.
    History {
        messages: Vec<ServerMessage>,
        truncated: bool,
    },
}

impl ServerBody {
    /// The wire name of this message type.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerBody::Join(_) => "join",
            ServerBody::Left(_) => "left",
            ServerBody::Chat { .. } => "chat",
            ServerBody::List(_) => "list",
            ServerBody::Error(_) => "error",
            ServerBody::History { .. } => "history",
        }
    }
}

// Written by hand so the keys come out in the documented order: id, type, user, data, ts,
// then the additions (`cid`, `truncated`).
impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("type", self.body.kind())?;
        map.serialize_entry("user", &self.user)?;
        match &self.body {
            ServerBody::Join(text)
            | ServerBody::Left(text)
            | ServerBody::Chat { text, .. }
            | ServerBody::Error(text) => map.serialize_entry("data", text)?,
            ServerBody::List(users) => map.serialize_entry("data", users)?,
            ServerBody::History { messages, .. } => map.serialize_entry("data", messages)?,
        }
        map.serialize_entry("ts", &self.ts)?;
        match &self.body {
            ServerBody::Chat { cid: Some(cid), .. } => map.serialize_entry("cid", cid)?,
            ServerBody::History { truncated, .. } => map.serialize_entry("truncated", truncated)?,
            _ => {}
        }
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
    #[serde(default)]
    cid: Option<String>,
    #[serde(default)]
    truncated: bool,
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawMessage::deserialize(deserializer)?;
        let text = |data: serde_json::Value| String::deserialize(data).map_err(de::Error::custom);
        let body = match raw.kind.as_str() {
            "join" => ServerBody::Join(text(raw.data)?),
            "left" => ServerBody::Left(text(raw.data)?),
            "chat" => ServerBody::Chat {
                text: text(raw.data)?,
                cid: raw.cid,
            },
            "error" => ServerBody::Error(text(raw.data)?),
            "list" => ServerBody::List(Vec::deserialize(raw.data).map_err(de::Error::custom)?),
            "history" => ServerBody::History {
                messages: Vec::deserialize(raw.data).map_err(de::Error::custom)?,
                truncated: raw.truncated,
            },
            other => {
                return Err(de::Error::unknown_variant(
                    other,
                    &["join", "left", "chat", "list", "error", "history"],
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
