//! The chat as this client sees it: every room's log, the room list with unread and
//! mention counts and read markers, who is online and who is typing, the connection
//! status, the messages still on their way out (a copy of what [`Delivery`] holds) and the
//! latest notice from the server. It changes only through [`Action`]s, in a pure reducer
//! that the tests below exercise on the host.
//!
//! [`Delivery`]: crate::services::delivery::Delivery

mod log;
mod membership;
mod mention;
mod typing;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use shared::{Room, RoomId, RoomKind, ServerBody, ServerMessage, Signal, User, GENERAL};
use yew::Reducible;

pub use log::RoomLog;
pub use membership::{collapse_membership, list_names};
pub use mention::{complete, mention_at, suggestions};
pub use typing::{typing_due, typing_text, Typing};

/// Most lines kept in a room's log, so a tab left open for days does not grow without
/// bound. Older pages the reader scrolled up for come on top of it.
pub const MAX_LOG_LINES: usize = 500;

/// Messages asked for per history page; a shorter page is the last one.
pub const OLDER_PAGE: usize = 50;

/// The state of the chat connection, as shown in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    /// Not connected and not retrying yet: before the first connect, or the browser is offline.
    #[default]
    Offline,
    Connected,
    /// The socket dropped and the client is trying again.
    Reconnecting,
}

impl ConnectionStatus {
    /// The exact text users (and the browser tests) see.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionStatus::Offline => "Offline",
            ConnectionStatus::Connected => "Connected",
            ConnectionStatus::Reconnecting => "Reconnecting\u{2026}",
        }
    }
}

/// What is known about messages older than the first line of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Older {
    /// No `history` has arrived yet.
    #[default]
    Unknown,
    /// Some exist; scrolling to the top fetches them.
    Available,
    /// A page is on its way.
    Loading,
    /// The last page could not be fetched; the reader may try again.
    Failed,
    /// The log starts at the first message of the conversation.
    Exhausted,
}

/// A chat message typed here whose broadcast has not come back yet. It is shown at once and
/// resent with the same `cid` until it does, which the server turns into exactly one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub cid: String,
    /// Outboxes saved before rooms existed hold messages for `general`.
    #[serde(default = "general")]
    pub room: RoomId,
    pub text: String,
    /// When it was typed, in milliseconds since the Unix epoch; shown until the real one arrives.
    pub queued_at: u64,
}

fn general() -> RoomId {
    GENERAL
}

/// A server `error` reply, kept until the reader dismisses it or it times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The message id, so a new notice with the same text still restarts its timer.
    pub id: u64,
    pub text: String,
}

/// One room: what the server says it is, its log and the reader's place in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomView {
    /// From `rooms` / `room`; `None` for `general` before the room list came (a v1 server).
    pub info: Option<Room>,
    pub log: RoomLog,
    /// Other users' chat messages after the read marker.
    pub unread: u64,
    /// Messages after the read marker that mention the reader.
    pub mentions: u64,
    /// The reader's read marker: the last id seen.
    pub read: u64,
    /// Where the "New messages" divider stands: the read marker when the room was opened,
    /// if anything newer from someone else was waiting.
    pub divider: Option<u64>,
}

impl RoomView {
    pub fn muted(&self) -> bool {
        self.info.as_ref().is_some_and(|info| info.muted)
    }

    pub fn kind(&self) -> RoomKind {
        self.info
            .as_ref()
            .map_or(RoomKind::Public, |info| info.kind)
    }

    /// The name people see: a DM is named after the other user.
    pub fn title(&self) -> String {
        match &self.info {
            Some(info) if info.kind == RoomKind::Dm => info
                .peer
                .as_ref()
                .map_or_else(|| "Direct message".to_owned(), |peer| peer.name.clone()),
            Some(info) => info.name.clone(),
            None => "General".to_owned(),
        }
    }
}

/// Which room the reader looks at, and whether they see its newest line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct View {
    pub room: Option<RoomId>,
    /// The log is scrolled to the bottom.
    pub at_bottom: bool,
    /// The tab is hidden (another tab, minimised).
    pub hidden: bool,
}

/// Everything the chat pages render.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatState {
    /// The reader's rooms by id.
    pub rooms: BTreeMap<RoomId, RoomView>,
    /// Messages typed here and not yet confirmed, in the order they were typed.
    pub outbox: Vec<Pending>,
    /// Online users, ordered by id.
    pub users: Vec<User>,
    pub status: ConnectionStatus,
    pub notice: Option<Notice>,
    pub typing: Typing,
    pub view: View,
    /// The reader's user id: counts and typing leave out their own lines.
    me: u64,
    /// Id of the last `list` applied. `join`/`left` lines older than it (a replay of stored
    /// messages) say nothing about who is online now and must not touch `users`.
    users_as_of: u64,
    /// A `rooms` frame came: this is a server that knows rooms.
    rooms_known: bool,
}

/// Everything that can happen to the chat.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Received(ServerMessage),
    /// An id-less frame, at `now` (milliseconds since the epoch).
    Signal {
        signal: Signal,
        now: f64,
    },
    Status(ConnectionStatus),
    DismissNotice,
    /// What still waits to be confirmed, as the connection now holds it.
    Outbox(Vec<Pending>),
    /// The reader opened `room`: the divider goes to its read marker.
    Open(RoomId),
    /// The reader scrolled to (`true`) or away from the bottom of the open room.
    AtBottom(bool),
    /// The tab was hidden (`true`) or shown again.
    Hidden(bool),
    /// The reader has seen `room` up to `id` here (and told the server).
    Read {
        room: RoomId,
        id: u64,
    },
    /// A room as an HTTP answer described it (created, joined, a DM, muted).
    RoomChanged(Room),
    /// The reader left `room`.
    RoomGone(RoomId),
    /// A page of older messages was asked for.
    OlderLoading(RoomId),
    /// The page of messages older than `before` arrived, oldest first.
    OlderLoaded {
        room: RoomId,
        before: u64,
        messages: Vec<ServerMessage>,
    },
    OlderFailed(RoomId),
    /// Time passed: typing notes older than their time go.
    Tick(f64),
}

/// The largest stored id a frame carries, looking inside `history`. `list` and `error`
/// ids are not broadcasts: resuming after one would skip nothing, but the protocol only
/// promises the order of stored messages.
pub fn newest_broadcast_id(message: &ServerMessage) -> Option<u64> {
    match &message.body {
        ServerBody::Join(_)
        | ServerBody::Left(_)
        | ServerBody::Chat { .. }
        | ServerBody::RoomJoin { .. }
        | ServerBody::RoomLeave { .. } => Some(message.id),
        ServerBody::History { messages, .. } => {
            messages.iter().filter_map(newest_broadcast_id).max()
        }
        _ => None,
    }
}

/// The room a log line belongs to: presence lines (`join`/`left`) are shown in `general`.
fn room_of(message: &ServerMessage) -> RoomId {
    message.room_or_general().unwrap_or(GENERAL)
}

impl ChatState {
    /// The chat for user `me`, with what was still in their outbox when the page last closed.
    pub fn new(me: u64, outbox: Vec<Pending>) -> Self {
        let mut rooms = BTreeMap::new();
        rooms.insert(GENERAL, RoomView::default());
        Self {
            me,
            outbox,
            rooms,
            ..Self::default()
        }
    }

    pub fn me(&self) -> u64 {
        self.me
    }

    pub fn room(&self, id: RoomId) -> Option<&RoomView> {
        self.rooms.get(&id)
    }

    /// The room whose slug is `slug`.
    pub fn room_by_slug(&self, slug: &str) -> Option<RoomId> {
        self.rooms
            .iter()
            .find(|(_, room)| room.info.as_ref().is_some_and(|info| info.slug == slug))
            .map(|(&id, _)| id)
    }

    /// The DM room with user `peer`.
    pub fn dm_with(&self, peer: u64) -> Option<RoomId> {
        self.rooms
            .iter()
            .find(|(_, room)| {
                room.info.as_ref().is_some_and(|info| {
                    info.kind == RoomKind::Dm && info.peer.as_ref().is_some_and(|p| p.id == peer)
                })
            })
            .map(|(&id, _)| id)
    }

    /// Whether the room list has come, so a slug that is not in it is truly unknown.
    pub fn rooms_known(&self) -> bool {
        self.rooms_known
    }

    /// Unread messages over all rooms that are not muted: the number in the tab's title.
    pub fn unread_total(&self) -> u64 {
        self.rooms
            .values()
            .filter(|room| !room.muted())
            .map(|room| room.unread)
            .sum()
    }

    /// The read marker to send now: the open room is seen at its newest line, which is
    /// past the marker.
    pub fn read_due(&self) -> Option<(RoomId, u64)> {
        let View {
            room,
            at_bottom,
            hidden,
        } = self.view;
        let room = room?;
        if !at_bottom || hidden {
            return None;
        }
        let view = self.rooms.get(&room)?;
        let newest = view.log.newest_id()?;
        (newest > view.read || view.unread > 0 || view.mentions > 0)
            .then_some((room, newest.max(view.read)))
    }

    /// Whether a chat line should raise a notification: another user's line in a DM, or
    /// one that mentions the reader, while the tab is hidden, in a room not muted.
    pub fn notifies(&self, message: &ServerMessage) -> bool {
        let ServerBody::Chat { mentions, .. } = &message.body else {
            return false;
        };
        let Some(room) = self.rooms.get(&room_of(message)) else {
            return false;
        };
        self.view.hidden
            && message.user.id != self.me
            && !room.muted()
            && (room.kind() == RoomKind::Dm || mentions.contains(&self.me))
    }

    /// Applies one action in place; the whole state machine of the chat.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Status(status) => self.status = status,
            Action::DismissNotice => self.notice = None,
            Action::Received(message) => self.receive(message),
            Action::Signal { signal, now } => self.signal(signal, now),
            Action::Outbox(outbox) => self.outbox = outbox,
            Action::Open(room) => {
                self.view.room = Some(room);
                self.view.at_bottom = true;
                if let Some(view) = self.rooms.get_mut(&room) {
                    let waiting = view
                        .log
                        .lines
                        .iter()
                        .any(|line| line.id > view.read && is_others_chat(line, self.me));
                    view.divider = (waiting || view.unread > 0).then_some(view.read);
                }
            }
            Action::AtBottom(at_bottom) => self.view.at_bottom = at_bottom,
            Action::Hidden(hidden) => self.view.hidden = hidden,
            Action::Read { room, id } => self.mark_read(room, id),
            Action::RoomChanged(room) => self.room_changed(room),
            Action::RoomGone(room) => {
                if room != GENERAL {
                    self.rooms.remove(&room);
                }
            }
            Action::OlderLoading(room) => self.log_mut(room).older_loading(),
            Action::OlderLoaded {
                room,
                before,
                messages,
            } => self.log_mut(room).prepend(before, messages),
            Action::OlderFailed(room) => self.log_mut(room).older_failed(),
            Action::Tick(now) => {
                self.typing.expire(now);
            }
        }
    }

    fn log_mut(&mut self, room: RoomId) -> &mut RoomLog {
        &mut self.rooms.entry(room).or_default().log
    }

    fn receive(&mut self, message: ServerMessage) {
        let id = message.id;
        match message.body {
            ServerBody::List(mut users) => {
                if id > self.users_as_of {
                    self.users_as_of = id;
                    users.sort_by_key(|user| user.id);
                    users.dedup_by_key(|user| user.id);
                    self.users = users;
                }
            }
            ServerBody::Error(refusal) => {
                self.notice = Some(Notice {
                    id,
                    text: crate::messages::sentence(&refusal.code, &refusal.message),
                })
            }
            ServerBody::History {
                messages,
                truncated,
            } => self.merge_history(message.room, messages, truncated),
            ServerBody::Rooms(rooms) => {
                self.rooms_known = true;
                let ids: Vec<RoomId> = rooms.iter().map(|room| room.id).collect();
                self.rooms.retain(|id, _| ids.contains(id));
                for room in rooms {
                    self.room_changed(room);
                }
            }
            ServerBody::Room(room) => self.room_changed(room),
            ServerBody::Join(_)
            | ServerBody::Left(_)
            | ServerBody::Chat { .. }
            | ServerBody::RoomJoin { .. }
            | ServerBody::RoomLeave { .. } => self.live_line(message),
        }
    }

    /// A room's description: the server's counts and marker replace what was counted here.
    fn room_changed(&mut self, room: Room) {
        if !room.member {
            return;
        }
        let view = self.rooms.entry(room.id).or_default();
        view.unread = room.unread;
        view.mentions = room.mentions;
        view.read = view.read.max(room.read);
        if room.last_id == 0 && view.log.lines.is_empty() && view.log.older == Older::Unknown {
            view.log.older = Older::Exhausted;
        }
        view.info = Some(room);
    }

    /// A history with a `room` is that room's recent past; one without is, on a server
    /// that knows rooms, everything after `since` in all of them.
    fn merge_history(
        &mut self,
        room: Option<RoomId>,
        messages: Vec<ServerMessage>,
        truncated: bool,
    ) {
        if let Some(room) = room {
            self.log_mut(room).merge_history(messages, truncated, true);
            return;
        }
        if truncated {
            if let Some(first) = messages.first().map(|message| message.id) {
                for view in self.rooms.values_mut() {
                    view.log.cut_before(first);
                }
            }
        }
        let mut by_room: BTreeMap<RoomId, Vec<ServerMessage>> = BTreeMap::new();
        for message in messages {
            by_room.entry(room_of(&message)).or_default().push(message);
        }
        // Without rooms the history is the whole of `general`'s recent past.
        let complete = !self.rooms_known;
        if complete && by_room.is_empty() {
            self.log_mut(GENERAL)
                .merge_history(Vec::new(), truncated, true);
        }
        for (room, messages) in by_room {
            self.log_mut(room)
                .merge_history(messages, truncated, complete);
        }
    }

    /// A line that happened just now: it joins its room's log and may change counts, who
    /// is online, who is typing and who is a member.
    fn live_line(&mut self, message: ServerMessage) {
        let room = room_of(&message);
        let id = message.id;
        let user = message.user.clone();
        let body = message.body.clone();
        let me = self.me;
        let seen = self.view.room == Some(room) && self.view.at_bottom && !self.view.hidden;
        let view = self.rooms.entry(room).or_default();
        // Everything below happens once per line, however often it arrives.
        if !view.log.add(message, true) {
            return;
        }
        match body {
            ServerBody::Chat { mentions, .. } => {
                self.typing.spoke(room, user.id);
                if user.id != me && id > view.read && !seen {
                    view.unread += 1;
                    if mentions.contains(&me) {
                        view.mentions += 1;
                    }
                }
            }
            ServerBody::RoomJoin { .. } | ServerBody::RoomLeave { .. } => {
                let joined = matches!(body, ServerBody::RoomJoin { .. });
                if let Some(info) = view.info.as_mut() {
                    if joined {
                        info.members += 1;
                    } else {
                        info.members = info.members.saturating_sub(1);
                    }
                }
                if !joined && user.id == me && room != GENERAL {
                    self.rooms.remove(&room);
                }
            }
            ServerBody::Join(_) if id > self.users_as_of => {
                if let Err(at) = self.users.binary_search_by_key(&user.id, |known| known.id) {
                    self.users.insert(at, user);
                }
            }
            ServerBody::Left(_) if id > self.users_as_of => {
                self.users.retain(|known| known.id != user.id);
            }
            _ => {}
        }
    }

    fn signal(&mut self, signal: Signal, now: f64) {
        match signal {
            Signal::Typing { room, user } => {
                if user.id != self.me && self.rooms.contains_key(&room) {
                    self.typing.typed(room, user, now);
                }
            }
            Signal::Read { room, last } => self.mark_read(room, last),
        }
    }

    /// The marker moved to `id` (never back); what is left after it is counted from the log.
    fn mark_read(&mut self, room: RoomId, id: u64) {
        let me = self.me;
        let Some(view) = self.rooms.get_mut(&room) else {
            return;
        };
        if id < view.read {
            return;
        }
        view.read = id;
        let after: Vec<&ServerMessage> = view
            .log
            .lines
            .iter()
            .filter(|line| line.id > id && is_others_chat(line, me))
            .collect();
        view.unread = after.len() as u64;
        view.mentions = after
            .iter()
            .filter(|line| matches!(&line.body, ServerBody::Chat { mentions, .. } if mentions.contains(&me)))
            .count() as u64;
    }
}

fn is_others_chat(line: &ServerMessage, me: u64) -> bool {
    matches!(line.body, ServerBody::Chat { .. }) && line.user.id != me
}

impl Reducible for ChatState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // Returning the same Rc tells Yew nothing changed, so a repeated status does not re-render.
        let unchanged = match &action {
            Action::Status(status) => *status == self.status,
            Action::AtBottom(at_bottom) => *at_bottom == self.view.at_bottom,
            Action::Tick(_) => self.typing.is_empty(),
            _ => false,
        };
        if unchanged {
            return self;
        }
        let mut next = Rc::unwrap_or_clone(self);
        next.apply(action);
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests;
