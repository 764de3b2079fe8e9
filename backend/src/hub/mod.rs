//! The chat hub: who is online, which rooms there are and who is in them, and the one
//! ordered stream of messages, of which each socket sees its user's rooms' share.
//!
//! The hub is a single thread that owns the room and the message database. Sockets send
//! it commands; it takes them in batches, applies them in order (giving every message
//! the next id), commits the batch's stored messages in one transaction, and only then
//! delivers the batch's frames. So nothing is broadcast before it is on disk, every socket
//! sees ids in increasing order, and a busy room pays for one commit per batch rather
//! than per message. A broadcast is serialized once; every queue gets a cheap clone of
//! the same encoded frame.
//!
//! Ids are reserved on disk, in a commit of their own, before a batch may use them; a
//! frame whose id a crash could hand out again is never sent. The hub also keeps a
//! one-second timer: it ends presence grace periods and forgets refilled allowances.

mod mentions;
mod outbox;
mod presence;
mod rate;
mod room;
mod rooms;

pub use outbox::{Outbox, CLOSE_SLOW_CONSUMER};
pub use room::HISTORY_MAX_BYTES;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shared::User;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::store::{SharedDb, StoreError};

/// One encoded text frame, shared by every socket that sends it.
pub type Frame = Utf8Bytes;

/// Identifies one `/ws/chat` socket.
pub type ConnId = u64;

/// Commands waiting for the hub, at most; senders wait beyond that.
const COMMAND_QUEUE: usize = 4096;

/// How the hub limits and sizes things.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Bytes a socket may have queued before it is closed with 1008: what a client that
    /// stops reading can cost the server.
    pub queue_bytes: usize,
    /// Chat sockets one session may hold; one more is closed with 1008 at once.
    pub max_sockets_per_session: usize,
    /// Chat messages a user may send in a burst.
    pub rate_burst: f64,
    /// Chat messages per second a user's allowance refills by.
    pub rate_per_sec: f64,
    /// How long a user whose last socket closed still counts as online; coming back
    /// within it produces no `left`/`join` pair.
    pub presence_grace: Duration,
    /// Set when the database is shared with other servers (PostgreSQL).
    pub shared: Option<SharedSettings>,
}

/// How a server shares its database with others.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    /// For the listener's own connection.
    pub config: postgres::Config,
    /// How often the hub looks for others' events besides the wake-ups.
    pub poll: Duration,
}

/// Shared handle to the hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    commands: mpsc::Sender<Command>,
    next_conn: Arc<AtomicU64>,
    queue_bytes: usize,
}

/// What a socket asks of the hub.
pub(crate) enum Command {
    Join {
        conn: ConnId,
        user: User,
        session: u64,
        since: Option<u64>,
        /// The socket asked for rooms (`/ws/chat?v=2`).
        v2: bool,
        outbox: Arc<Outbox>,
    },
    Leave {
        conn: ConnId,
    },
    Chat {
        conn: ConnId,
        room: Option<shared::RoomId>,
        text: String,
        cid: Option<String>,
    },
    Read {
        conn: ConnId,
        room: shared::RoomId,
        id: u64,
    },
    Typing {
        conn: ConnId,
        room: shared::RoomId,
    },
    Reject {
        conn: ConnId,
        refusal: shared::Refusal,
    },
    CloseSession {
        session: u64,
        code: u16,
    },
    Room {
        op: RoomOp,
        reply: oneshot::Sender<Result<shared::Room, RoomRefusal>>,
    },
    /// From the hub's own timer: grace periods may be over.
    Tick,
    /// Another server may have stored events (a notification, or the poll's turn).
    Wake,
    /// Time for this server's heartbeat in the shared database.
    Heartbeat,
    /// The server stops: its users leave the shared database's presence; `done` is
    /// answered once that is stored.
    Farewell { done: Option<oneshot::Sender<()>> },
}

/// A change to rooms or memberships, asked for by an HTTP handler. The handler has already
/// checked the request's shape (names, topics); the hub checks the rules that need the
/// room's state (membership, visibility) and stores the events, so their ids take their
/// place in the one ordered stream.
#[derive(Debug, Clone)]
pub enum RoomOp {
    /// An account creates a public or private room and becomes its first member.
    Create {
        by: User,
        name: String,
        topic: String,
        kind: shared::RoomKind,
    },
    /// A user joins a public room (joining again changes nothing).
    Join { user: User, room: shared::RoomId },
    /// A member leaves a room; not `general`, not a DM.
    Leave { user: User, room: shared::RoomId },
    /// A member of a public or private room adds another user.
    Invite {
        by: User,
        room: shared::RoomId,
        user: u64,
    },
    /// The one DM of `user` and `with`, made the first time.
    Dm { user: User, with: u64 },
    /// A member mutes or unmutes a room for themselves.
    Mute {
        user: User,
        room: shared::RoomId,
        muted: bool,
    },
}

/// Why the hub refused a [`RoomOp`]; each maps to one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomRefusal {
    /// No such room, or one the user may not see (the same answer, on purpose).
    #[error("no such room")]
    NoSuchRoom,
    #[error("no such user")]
    NoSuchUser,
    #[error("a room with that name exists")]
    NameTaken,
    /// Allowed to see the room, not to do this (leave `general`, invite into a DM...).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change could not be stored; nothing happened.
    #[error("the change could not be saved")]
    NotSaved,
}

/// What a newly joined socket holds: its id and its queue.
pub struct Membership {
    pub id: ConnId,
    pub outbox: Arc<Outbox>,
}

impl Hub {
    /// Starts the hub's thread on `db`, a connection to the message database.
    pub fn start(db: SharedDb, settings: HubSettings) -> Result<Hub, StoreError> {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let queue_bytes = settings.queue_bytes;
        let shared = settings.shared.clone();
        let room = room::Room::open(db, settings)?;
        if let (Some(shared), Some(wake)) = (shared, room.wake()) {
            room::spawn_listener(shared.config, wake, commands.clone())?;
        }
        std::thread::Builder::new()
            .name("chat-hub".into())
            .spawn(move || room.run(rx))?;
        Ok(Hub {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
            queue_bytes,
        })
    }

    /// Whether the hub's thread still takes commands (it stops only when it failed).
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    /// Accepts a socket: `join` to everyone when it is the user's first, then `list` and
    /// `history` to it. `since` asks for every stored message after that id; `v2` for
    /// every room of the user (otherwise the socket sees only `general`).
    pub async fn join(&self, user: User, session: u64, since: Option<u64>, v2: bool) -> Membership {
        let outbox = Arc::new(Outbox::new(self.queue_bytes));
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Join {
            conn: id,
            user,
            session,
            since,
            v2,
            outbox: outbox.clone(),
        })
        .await;
        Membership { id, outbox }
    }

    /// Removes a socket: `left` to the others when it was the user's last.
    pub async fn leave(&self, conn: ConnId) {
        self.send(Command::Leave { conn }).await;
    }

    /// A chat line from socket `conn` to `room` (`None`: `general`); the text is already
    /// trimmed and within limits.
    pub async fn chat(
        &self,
        conn: ConnId,
        room: Option<shared::RoomId>,
        text: String,
        cid: Option<String>,
    ) {
        let command = Command::Chat {
            conn,
            room,
            text,
            cid,
        };
        self.send(command).await;
    }

    /// The user of socket `conn` has read `room` up to `id`.
    pub async fn read(&self, conn: ConnId, room: shared::RoomId, id: u64) {
        self.send(Command::Read { conn, room, id }).await;
    }

    /// The user of socket `conn` is typing in `room`.
    pub async fn typing(&self, conn: ConnId, room: shared::RoomId) {
        self.send(Command::Typing { conn, room }).await;
    }

    /// Sends an `error` to socket `conn` alone.
    pub async fn reject(&self, conn: ConnId, refusal: shared::Refusal) {
        self.send(Command::Reject { conn, refusal }).await;
    }

    /// Applies a room change and answers with the room as the asking user now sees it,
    /// once the change is stored (and before anyone is told of it).
    pub async fn room(&self, op: RoomOp) -> Result<shared::Room, RoomRefusal> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Room { op, reply }).await;
        answer.await.unwrap_or(Err(RoomRefusal::NotSaved))
    }

    /// The server is stopping: with a shared database, its users are marked offline now
    /// (a `left` for those online nowhere else) rather than when others notice it is gone.
    pub async fn farewell(&self) {
        let (done, stored) = oneshot::channel();
        self.send(Command::Farewell { done: Some(done) }).await;
        let _ = stored.await;
    }

    /// Closes every socket of a signed-out session with `code`.
    pub async fn close_session(&self, session: u64, code: u16) {
        self.send(Command::CloseSession { session, code }).await;
    }

    async fn send(&self, command: Command) {
        // The hub thread only stops when every handle is gone, so this cannot fail
        // while a caller holds one.
        if self.commands.send(command).await.is_err() {
            tracing::error!("the chat hub has stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn hub(dir: &tempfile::TempDir, burst: f64) -> Hub {
        let store = crate::store::Store::open(dir.path()).unwrap();
        let settings = HubSettings {
            queue_bytes: 64 * 1024,
            max_sockets_per_session: 16,
            rate_burst: burst,
            rate_per_sec: 0.0,
            presence_grace: Duration::ZERO,
            shared: None,
        };
        Hub::start(store.writer().unwrap(), settings).unwrap()
    }

    async fn next(m: &mut Membership) -> Value {
        let deadline = std::time::Duration::from_secs(5);
        loop {
            let mut frames = Vec::new();
            m.outbox.take(&mut frames, 1);
            if let Some(frame) = frames.pop() {
                return serde_json::from_str(&frame).unwrap();
            }
            tokio::time::timeout(deadline, m.outbox.changed())
                .await
                .expect("a frame in time");
        }
    }

    #[tokio::test]
    async fn new_socket_gets_join_list_then_history_without_its_own_join() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(&dir, 100.0);
        let mut a = hub.join(User::new(1, "A"), 1, None, false).await;
        let join = next(&mut a).await;
        assert_eq!(join["type"], "join");
        assert_eq!(next(&mut a).await["type"], "list");
        let history = next(&mut a).await;
        assert_eq!(history["type"], "history");
        assert_eq!(history["data"], Value::Array(vec![]));
        hub.chat(a.id, None, "one".into(), None).await;
        let chat = next(&mut a).await;
        let mut b = hub.join(User::new(2, "B"), 2, None, false).await;
        let b_join = next(&mut b).await;
        next(&mut b).await;
        let history = next(&mut b).await;
        let ids: Vec<_> = history["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect();
        assert_eq!(ids, vec![join["id"].clone(), chat["id"].clone()]);
        assert!(b_join["id"].as_u64() > chat["id"].as_u64());
    }

    #[tokio::test]
    async fn history_frame_is_byte_for_byte_what_the_protocol_types_write() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(&dir, 100.0);
        let mut a = hub.join(User::new(1, "A \"quoted\""), 1, None, false).await;
        for _ in 0..3 {
            next(&mut a).await;
        }
        hub.chat(a.id, None, "line <b>".into(), Some("c".into()))
            .await;
        next(&mut a).await;
        let mut b = hub.join(User::new(2, "B"), 2, None, false).await;
        next(&mut b).await;
        next(&mut b).await;
        let mut frames = Vec::new();
        while frames.is_empty() {
            b.outbox.changed().await;
            b.outbox.take(&mut frames, 1);
        }
        let raw = frames[0].as_str();
        let typed: shared::ServerMessage = serde_json::from_str(raw).unwrap();
        assert!(
            matches!(typed.body, shared::ServerBody::History { ref messages, .. } if messages.len() == 2)
        );
        assert_eq!(serde_json::to_string(&typed).unwrap(), raw);
    }

    #[tokio::test]
    async fn repeated_cid_is_answered_with_the_original_to_the_sender_only() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(&dir, 100.0);
        let mut a = hub.join(User::new(1, "A"), 1, None, false).await;
        let mut b = hub.join(User::new(2, "B"), 2, None, false).await;
        for _ in 0..3 {
            next(&mut a).await;
        }
        for _ in 0..3 {
            next(&mut b).await;
        }
        next(&mut a).await; // B's join
        hub.chat(a.id, None, "hi".into(), Some("c1".into())).await;
        let original = next(&mut a).await;
        assert_eq!(next(&mut b).await, original);
        hub.chat(a.id, None, "hi again".into(), Some("c1".into()))
            .await;
        assert_eq!(next(&mut a).await, original);
        hub.chat(a.id, None, "marker".into(), None).await;
        assert_eq!(
            next(&mut b).await["data"],
            "marker",
            "B never saw the repeat"
        );
    }

    #[tokio::test]
    async fn chat_over_the_burst_gets_slow_down_and_is_not_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(&dir, 2.0);
        let mut a = hub.join(User::new(1, "A"), 1, None, false).await;
        for _ in 0..3 {
            next(&mut a).await;
        }
        for text in ["1", "2", "3"] {
            hub.chat(a.id, None, text.into(), None).await;
        }
        assert_eq!(next(&mut a).await["data"], "1");
        assert_eq!(next(&mut a).await["data"], "2");
        let refused = next(&mut a).await;
        assert_eq!(refused["type"], "error");
        assert!(refused["data"].as_str().unwrap().contains("slow down"));
        assert_eq!(refused["code"], "rate_limited");
    }

    #[tokio::test]
    async fn ids_continue_after_a_restart_above_any_id_sent_before() {
        let dir = tempfile::tempdir().unwrap();
        let last = {
            let hub = hub(&dir, 100.0);
            let mut a = hub.join(User::new(1, "A"), 1, None, false).await;
            next(&mut a).await;
            next(&mut a).await;
            next(&mut a).await["id"].as_u64().unwrap()
        };
        let hub = hub(&dir, 100.0);
        let mut a = hub.join(User::new(1, "A"), 1, None, false).await;
        assert!(next(&mut a).await["id"].as_u64().unwrap() > last);
    }
}
