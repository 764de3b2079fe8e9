//! Messages the server sends: one envelope `{id, type, user, data, ts}` for every frame
//! that has an id, and id-less signals (`typing`, `read`) that are never stored.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;
use crate::rooms::{Room, RoomId};
use crate::User;

/// One server frame. `id` increases over everything the server sends; `user` is the
/// subject for `join` / `left` / `chat` / `room_join` / `room_leave` and the recipient
/// for `list` / `error` / `rooms` / `room`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    pub id: u64,
    /// Milliseconds since the Unix epoch when the server created the message.
    pub ts: u64,
    pub user: User,
    /// The room a room-scoped frame belongs to. A stored `chat` without one (written
    /// before rooms existed) belongs to [`crate::GENERAL`].
    pub room: Option<RoomId>,
    pub body: ServerBody,
}

impl ServerMessage {
    /// The room this frame belongs to, if it is room-scoped: `general` for chat lines
    /// stored before rooms existed.
    pub fn room_or_general(&self) -> Option<RoomId> {
        match (&self.body, self.room) {
            (_, Some(room)) => Some(room),
            (ServerBody::Chat { .. }, None) => Some(crate::GENERAL),
            _ => None,
        }
    }
}

/// Why a client's frame was refused: a sentence for people, a code for programs, and
/// the refused message's `cid` when it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub code: ErrorCode,
    pub cid: Option<String>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
            code,
            cid: None,
        }
    }

    /// The same refusal, naming the refused message.
    pub fn for_cid(self, cid: Option<String>) -> Self {
        Refusal { cid, ..self }
    }
}

/// The `type` and `data` of a frame, which always travel together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBody {
    /// `"<name> joined."`: the user's first socket was accepted (came online).
    Join(String),
    /// `"<name> left."`: the user's last socket closed (went offline).
    Left(String),
    /// A chat line, already trimmed, with the client id its sender gave it, if any, and
    /// the ids of the room's members it mentions.
    Chat {
        text: String,
        cid: Option<String>,
        mentions: Vec<u64>,
    },
    /// The distinct online users, ordered by id.
    List(Vec<User>),
    /// Why the recipient's last message was rejected.
    Error(Refusal),
    /// Stored messages replayed to a socket, oldest first. `truncated` says that older
    /// ones exist that were left out. With a `room`, that room's recent messages; without,
    /// everything after `since` in all of the user's rooms.
    History {
        messages: Vec<ServerMessage>,
        truncated: bool,
    },
    /// The recipient's rooms, sent once on connect before any history.
    Rooms(Vec<Room>),
    /// One of the recipient's rooms is new to them or changed (joined, invited, muted).
    Room(Room),
    /// `"<name> joined #<slug>."`: the user became a member of the room; `by` invited them.
    RoomJoin { text: String, by: Option<User> },
    /// `"<name> left #<slug>."`: the user is no longer a member of the room.
    RoomLeave { text: String, by: Option<User> },
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
            ServerBody::Rooms(_) => "rooms",
            ServerBody::Room(_) => "room",
            ServerBody::RoomJoin { .. } => "room_join",
            ServerBody::RoomLeave { .. } => "room_leave",
        }
    }

    /// A chat line with no client id and no mentions.
    pub fn chat(text: impl Into<String>) -> Self {
        ServerBody::Chat {
            text: text.into(),
            cid: None,
            mentions: Vec::new(),
        }
    }
}

const KINDS: &[&str] = &[
    "join",
    "left",
    "chat",
    "list",
    "error",
    "history",
    "rooms",
    "room",
    "room_join",
    "room_leave",
];

// Written by hand so the keys come out in the documented order: id, type, user, data, ts,
// then the additions (`room`, `cid`, `mentions`, `truncated`, `code`, `by`).
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
            | ServerBody::RoomJoin { text, .. }
            | ServerBody::RoomLeave { text, .. } => map.serialize_entry("data", text)?,
            ServerBody::Error(refusal) => map.serialize_entry("data", &refusal.message)?,
            ServerBody::List(users) => map.serialize_entry("data", users)?,
            ServerBody::History { messages, .. } => map.serialize_entry("data", messages)?,
            ServerBody::Rooms(rooms) => map.serialize_entry("data", rooms)?,
            ServerBody::Room(room) => map.serialize_entry("data", room)?,
        }
        map.serialize_entry("ts", &self.ts)?;
        if let Some(room) = self.room {
            map.serialize_entry("room", &room)?;
        }
        match &self.body {
            ServerBody::Chat { cid, mentions, .. } => {
                if let Some(cid) = cid {
                    map.serialize_entry("cid", cid)?;
                }
                if !mentions.is_empty() {
                    map.serialize_entry("mentions", mentions)?;
                }
            }
            ServerBody::History { truncated, .. } => map.serialize_entry("truncated", truncated)?,
            ServerBody::Error(refusal) => {
                map.serialize_entry("code", &refusal.code)?;
                if let Some(cid) = &refusal.cid {
                    map.serialize_entry("cid", cid)?;
                }
            }
            ServerBody::RoomJoin { by: Some(by), .. }
            | ServerBody::RoomLeave { by: Some(by), .. } => map.serialize_entry("by", by)?,
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
    room: Option<RoomId>,
    #[serde(default)]
    cid: Option<String>,
    #[serde(default)]
    mentions: Vec<u64>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    code: Option<ErrorCode>,
    #[serde(default)]
    by: Option<User>,
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
                mentions: raw.mentions,
            },
            "error" => ServerBody::Error(Refusal {
                message: text(raw.data)?,
                // Servers before codes existed sent none.
                code: raw.code.unwrap_or(ErrorCode::BadRequest),
                cid: raw.cid,
            }),
            "list" => ServerBody::List(Vec::deserialize(raw.data).map_err(de::Error::custom)?),
            "history" => ServerBody::History {
                messages: Vec::deserialize(raw.data).map_err(de::Error::custom)?,
                truncated: raw.truncated,
            },
            "rooms" => ServerBody::Rooms(Vec::deserialize(raw.data).map_err(de::Error::custom)?),
            "room" => ServerBody::Room(Room::deserialize(raw.data).map_err(de::Error::custom)?),
            "room_join" => ServerBody::RoomJoin {
                text: text(raw.data)?,
                by: raw.by,
            },
            "room_leave" => ServerBody::RoomLeave {
                text: text(raw.data)?,
                by: raw.by,
            },
            other => return Err(de::Error::unknown_variant(other, KINDS)),
        };
        Ok(ServerMessage {
            id: raw.id,
            ts: raw.ts,
            user: raw.user,
            room: raw.room,
            body,
        })
    }
}

/// A frame with no `id`: never stored, never replayed, and the first thing dropped when a
/// socket's queue is full. Only sockets that asked for rooms (`/ws/chat?v=2`) get them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Signal {
    /// `user` is typing in `room`. Clients show it for [`crate::TYPING_SHOWN_MS`].
    Typing { room: RoomId, user: User },
    /// The recipient read `room` up to `last` on another socket (tab or device).
    Read { room: RoomId, last: u64 },
}

/// Anything the server sends on `/ws/chat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    Message(ServerMessage),
    Signal(Signal),
}

impl ServerFrame {
    /// Reads one text frame: an envelope with an `id`, or a signal without one.
    pub fn parse(text: &str) -> Result<ServerFrame, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            id: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_str(text)?;
        if probe.id.is_some() {
            serde_json::from_str(text).map(ServerFrame::Message)
        } else {
            serde_json::from_str(text).map(ServerFrame::Signal)
        }
    }
}
