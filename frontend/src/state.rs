//! The room as this client sees it: the message log, the messages still on their way out,
//! who is online, the connection status and the latest notice from the server. It changes
//! only through [`Action`]s, in a pure reducer that the tests below exercise on the host.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use shared::{ServerBody, ServerMessage, User};
use yew::Reducible;

/// Most lines kept in the log, so a tab left open for days does not grow without bound.
/// Older pages the reader scrolled up for come on top of it.
pub const MAX_LOG_LINES: usize = 500;

/// Messages asked for per `GET /api/history` page; a shorter page is the last one.
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

/// What is known about messages older than the first line of the log.
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
    pub text: String,
    /// When it was typed, in milliseconds since the Unix epoch; shown until the real one arrives.
    pub queued_at: u64,
}

/// A server `error` reply, kept until the reader dismisses it or it times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The message id, so a new notice with the same text still restarts its timer.
    pub id: u64,
    pub text: String,
}

/// Everything the room page renders.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomState {
    /// `chat`, `join` and `left` messages, ordered by id, each id at most once.
    pub log: Vec<ServerMessage>,
    /// Messages typed here and not yet confirmed, in the order they were typed.
    pub outbox: Vec<Pending>,
    /// Online users, ordered by id.
    pub users: Vec<User>,
    pub status: ConnectionStatus,
    pub notice: Option<Notice>,
    pub older: Older,
    /// The reader's user id: only their own broadcasts confirm outbox entries.
    me: u64,
    /// Largest `join` / `left` / `chat` id seen; the point a new socket resumes from.
    last_broadcast: Option<u64>,
    /// Id of the last `list` applied. `join`/`left` lines older than it (a replay of stored
    /// messages) say nothing about who is online now and must not touch `users`.
    users_as_of: u64,
    /// Lines the reader fetched by scrolling up, kept beyond [`MAX_LOG_LINES`].
    fetched_older: usize,
}

/// Everything that can happen to the room.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Received(ServerMessage),
    Status(ConnectionStatus),
    DismissNotice,
    /// The reader sent a message; it waits in the outbox until its broadcast comes back.
    Queued(Pending),
    /// A page of older messages was asked for.
    OlderLoading,
    /// The page of messages older than `before` arrived, oldest first.
    OlderLoaded {
        before: u64,
        messages: Vec<ServerMessage>,
    },
    OlderFailed,
}

/// The largest broadcast (`join` / `left` / `chat`) id a frame carries, looking inside
/// `history`. `list` and `error` ids are not broadcasts: resuming after one would skip
/// nothing, but the protocol only promises the order of stored messages.
pub fn newest_broadcast_id(message: &ServerMessage) -> Option<u64> {
    match &message.body {
        ServerBody::Join(_) | ServerBody::Left(_) | ServerBody::Chat { .. } => Some(message.id),
        ServerBody::History { messages, .. } => {
            messages.iter().filter_map(newest_broadcast_id).max()
        }
        _ => None,
    }
}

impl RoomState {
    /// The room for user `me`, with what was still in their outbox when the page last closed.
    pub fn new(me: u64, outbox: Vec<Pending>) -> Self {
        Self {
            me,
            outbox,
            ..Self::default()
        }
    }

    /// Largest broadcast id seen so far.
    pub fn last_broadcast_id(&self) -> Option<u64> {
        self.last_broadcast
    }

    /// The first line of the log, which older pages are fetched before.
    pub fn oldest_id(&self) -> Option<u64> {
        self.log.first().map(|line| line.id)
    }

    /// Applies one action in place; the whole state machine of the room.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Status(status) => self.status = status,
            Action::DismissNotice => self.notice = None,
            Action::Received(message) => self.receive(message),
            Action::Queued(pending) => {
                if self.outbox.iter().all(|queued| queued.cid != pending.cid) {
                    self.outbox.push(pending);
                }
            }
            Action::OlderLoading => {
                if matches!(self.older, Older::Available | Older::Failed) {
                    self.older = Older::Loading;
                }
            }
            Action::OlderLoaded { before, messages } => self.prepend(before, messages),
            Action::OlderFailed => {
                if self.older == Older::Loading {
                    self.older = Older::Failed;
                }
            }
        }
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
            } => self.merge_history(messages, truncated),
            ServerBody::Join(_) | ServerBody::Left(_) | ServerBody::Chat { .. } => {
                self.add_line(message, true);
                self.trim();
            }
            ServerBody::Rooms(_)
            | ServerBody::Room(_)
            | ServerBody::RoomJoin { .. }
            | ServerBody::RoomLeave { .. } => {}
        }
    }

    /// Replayed messages are lines like any other, but they say nothing about who is online now.
    fn merge_history(&mut self, messages: Vec<ServerMessage>, truncated: bool) {
        let first_history = self.older == Older::Unknown;
        if truncated {
            // Messages were left out between what the log holds and this history: drop the
            // lines before the gap rather than show a conversation with a hole in it.
            if let Some(first) = messages.first().map(|message| message.id) {
                self.log.retain(|line| line.id >= first);
                self.fetched_older = 0;
            }
            self.older = Older::Available;
        } else if first_history {
            // Without `since` and not truncated: this is everything there is.
            self.older = Older::Exhausted;
        }
        for message in messages {
            self.add_line(message, false);
        }
        self.trim();
    }

    /// Puts a page of older messages on top, unless the log changed under the request.
    fn prepend(&mut self, before: u64, messages: Vec<ServerMessage>) {
        if self.older != Older::Loading {
            return;
        }
        if self.oldest_id() != Some(before) {
            // The log was replaced meanwhile; the page may not join up with it.
            self.older = Older::Available;
            return;
        }
        self.older = if messages.len() < OLDER_PAGE {
            Older::Exhausted
        } else {
            Older::Available
        };
        for message in messages {
            if message.id < before && self.add_line(message, false) {
                self.fetched_older += 1;
            }
        }
    }

    /// Adds a broadcast to the log; `live` ones also update who is online. `false` when that
    /// id is already in the log (or the message is not a log line at all).
    fn add_line(&mut self, message: ServerMessage, live: bool) -> bool {
        let id = message.id;
        let user = message.user.clone();
        let (joined, left) = match &message.body {
            ServerBody::Join(_) => (true, false),
            ServerBody::Left(_) => (false, true),
            ServerBody::Chat { cid, .. } => {
                if let Some(cid) = cid.as_deref().filter(|_| user.id == self.me) {
                    self.outbox.retain(|pending| pending.cid != cid);
                }
                (false, false)
            }
            _ => return false,
        };
        self.last_broadcast = self.last_broadcast.max(Some(id));
        // A live line older than the log (the stored original of a resent message) would
        // leave a hole between it and the rest; scrolling up will show it in its place.
        let unloaded = matches!(
            self.older,
            Older::Available | Older::Loading | Older::Failed
        );
        if live && unloaded && self.oldest_id().is_some_and(|first| id < first) {
            return false;
        }
        let at = match self.log.binary_search_by_key(&id, |line| line.id) {
            Ok(_) => return false,
            Err(at) => at,
        };
        self.log.insert(at, message);
        if live && id > self.users_as_of {
            if joined {
                if let Err(at) = self.users.binary_search_by_key(&user.id, |known| known.id) {
                    self.users.insert(at, user);
                }
            } else if left {
                self.users.retain(|known| known.id != user.id);
            }
        }
        true
    }

    /// Drops the oldest lines beyond the limit; they can be fetched again by scrolling up.
    fn trim(&mut self) {
        let limit = MAX_LOG_LINES + self.fetched_older;
        if self.log.len() > limit {
            let excess = self.log.len() - limit;
            self.log.drain(..excess);
            if self.older == Older::Exhausted {
                self.older = Older::Available;
            }
        }
    }
}

impl Reducible for RoomState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // Returning the same Rc tells Yew nothing changed, so a repeated status does not re-render.
        if matches!(action, Action::Status(status) if status == self.status) {
            return self;
        }
        let mut next = Rc::unwrap_or_clone(self);
        next.apply(action);
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests;
