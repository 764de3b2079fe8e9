//! The hub's thread: applies a batch of commands (ids, storage), then plays out what they
//! lead to. The parts live beside it: `greet` (a socket's first frames), `history`,
//! `talk` (chat, read markers, typing), `ops` (room changes) and `deliver`; presence,
//! allowances, rooms and mentions in their own files one level up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::store::db::{Db, DbError, Tx};
use shared::{RoomId, ServerBody, ServerMessage, User, CLOSE_POLICY, GENERAL};
use tokio::sync::{mpsc, oneshot};

use super::presence::Presence;
use super::rate::{Allowances, TypingLimits};
use super::rooms::{Audience, Rooms};
use super::{Command, ConnId, Frame, HubSettings, Outbox, RoomRefusal};
use crate::store::messages::{self, Scope};
use crate::store::{lock, SharedDb, StoreError};

mod cluster;
mod deliver;
mod greet;
mod history;
mod ops;
mod talk;

pub(crate) use cluster::spawn_listener;
use cluster::Cluster;
use history::History;

/// Commands taken in one batch (and one commit) at most.
const MAX_BATCH: usize = 512;
/// Stored messages replayed to a fresh socket that knows no rooms.
const HISTORY_RECENT: usize = 100;
/// Stored events per room replayed to a fresh room-aware socket.
const HISTORY_RECENT_PER_ROOM: usize = 50;
/// Rooms (those with the newest activity) whose recent events a fresh room-aware socket
/// gets; it fetches the others when it opens them.
const HISTORY_ROOMS: usize = 20;
/// Stored messages replayed to a resuming socket, at most.
const HISTORY_RESUME: usize = 1000;
/// Largest `history` frame; older messages are left out (`truncated`) and paged with
/// `/api/history`. Never more than half a socket's queue.
pub const HISTORY_MAX_BYTES: usize = 256 * 1024;
/// Ids reserved on disk ahead of use, so a crash never leads to an id being reused.
const ID_RESERVE_STEP: u64 = 10_000;
/// How often the hub looks for users whose grace period is over.
const TICK: Duration = Duration::from_secs(1);

pub struct Room {
    /// Shared with request handlers only when the database lives in memory.
    db: SharedDb,
    state: State,
}

/// Everything but the database, so a transaction and the state can be borrowed together.
struct State {
    settings: HubSettings,
    next_id: u64,
    /// Every id below this is reserved on disk: frames with such ids may be sent.
    reserved: u64,
    /// The highest id stored by the batch being applied.
    stored_max: Option<u64>,
    /// False once a storage step of the batch being applied failed: nothing of it is
    /// committed or broadcast, though every command is still applied.
    storing: bool,
    /// Sockets as the logic sees them, updated while a batch is applied.
    members: HashMap<ConnId, Member>,
    /// Rooms and their members, changed in step with what the batch stores.
    rooms: Rooms,
    /// Open sockets per session.
    sessions: HashMap<u64, usize>,
    /// Sessions told to close (signed out) that still have sockets: their user leaves
    /// without a grace period.
    ended: HashSet<u64>,
    presence: Presence,
    allowances: Allowances,
    typing: TypingLimits,
    /// Set when the database is shared with other servers.
    cluster: Option<Cluster>,
    /// Sockets as delivery sees them, updated as a batch's effects are played out.
    peers: HashMap<ConnId, Peer>,
    /// Each user's sockets in `peers`.
    by_user: HashMap<u64, Vec<ConnId>>,
}

/// A socket as the logic sees it.
#[derive(Clone)]
struct Member {
    user: User,
    session: u64,
}

struct Peer {
    session: u64,
    user: u64,
    /// Asked for rooms (`/ws/chat?v=2`); otherwise it sees only `general`.
    v2: bool,
    outbox: Arc<Outbox>,
}

/// The answer to a room change, for the HTTP handler waiting on it.
type Reply = oneshot::Sender<Result<shared::Room, RoomRefusal>>;

/// What applying a command leads to, played out in order after the commit.
enum Effect {
    Register(ConnId, Peer),
    Unregister(ConnId),
    /// A stored message for its audience, if the batch was committed; `origin` sent it,
    /// if it was a chat line, and is told otherwise that it was not saved.
    Broadcast {
        frame: Frame,
        to: Audience,
        origin: Option<ConnId>,
        cid: Option<String>,
    },
    /// A frame for one socket, with its id.
    Send(ConnId, u64, Frame),
    /// A frame with its id for every room-aware socket of a user, if the batch was
    /// committed: a `room` frame about a change that was stored.
    ToUser(u64, u64, Frame),
    /// The answer to a room change: as given if the batch was committed, `NotSaved`
    /// otherwise.
    Reply(Reply, Result<shared::Room, RoomRefusal>),
    /// A `typing` signal for the room-aware sockets of the audience but the typist's.
    Typing {
        frame: Frame,
        to: Audience,
        typist: u64,
    },
    /// A `read` signal for the user's other room-aware sockets, if the batch (which moved
    /// the marker) was committed.
    Read {
        frame: Frame,
        user: u64,
        from: ConnId,
    },
    CloseSession {
        session: u64,
        code: u16,
    },
    /// An event another server stored, for its audience here, whatever this batch does.
    Relay {
        frame: Frame,
        to: Audience,
    },
    /// A frame about an event another server stored, for a user's room-aware sockets.
    RelayToUser(u64, Frame),
    /// Tells a waiting caller that the batch is over.
    Done(oneshot::Sender<()>),
}

impl Command {
    /// The most ids applying this command (and playing it out) can take.
    fn max_ids(&self) -> u64 {
        match self {
            // `join`, `list`, `history`.
            // `join`, `list`, `rooms` and a `history` per room.
            Command::Join { .. } => 3 + HISTORY_ROOMS as u64,
            // The line, and an `error` when it could not be stored.
            Command::Chat { .. } => 2,
            Command::Leave { .. } | Command::Reject { .. } => 1,
            // Two `room` frames (a new DM) or one and the stored event.
            Command::Room { .. } => 3,
            Command::CloseSession { .. }
            | Command::Read { .. }
            | Command::Typing { .. }
            | Command::Wake
            // They take more ids when they find users to announce (`State::more_ids`).
            | Command::Heartbeat
            | Command::Farewell { .. } => 0,
            Command::Tick => MAX_BATCH as u64,
        }
    }
}

impl Room {
    pub fn open(db: SharedDb, settings: HubSettings) -> Result<Room, StoreError> {
        let (next_id, reserved, rooms, cluster) = {
            let guard = lock(&db);
            let conn: &dyn Db = &**guard;
            let rooms = Rooms::load(conn)?;
            if settings.shared.is_some() {
                // Ids come from the shared sequence, batch by batch.
                let cluster = Cluster::join(conn)?;
                let next = cluster.seen + 1;
                (next, next, rooms, Some(cluster))
            } else {
                let next_id = messages::first_free_id(conn)?;
                let reserved = next_id + ID_RESERVE_STEP;
                messages::reserve(conn, reserved)?;
                tracing::info!(next_id, "message ids continue");
                crate::metrics::servers_alive(1);
                (next_id, reserved, rooms, None)
            }
        };
        Ok(Room {
            db,
            state: State {
                presence: Presence::new(settings.presence_grace),
                allowances: Allowances::new(settings.rate_burst, settings.rate_per_sec),
                typing: TypingLimits::default(),
                settings,
                next_id,
                reserved,
                stored_max: None,
                storing: false,
                members: HashMap::new(),
                rooms,
                cluster,
                sessions: HashMap::new(),
                ended: HashSet::new(),
                peers: HashMap::new(),
                by_user: HashMap::new(),
            },
        })
    }

    /// The flag the listener sets to ask for a wake-up, when the database is shared.
    pub fn wake(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        self.state.cluster.as_ref().map(|c| c.wake.clone())
    }

    /// Takes commands in batches until every `Hub` handle is gone; once a second, ends
    /// the grace periods that are over. Waiting happens on a small runtime; the database
    /// work between waits happens outside it, where blocking is allowed.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(%err, "the chat hub could not start its timer");
                return;
            }
        };
        let poll = self.state.settings.shared.as_ref().map(|s| s.poll);
        let mut timers = runtime.block_on(async { Timers::new(poll) });
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while runtime.block_on(self.collect(&mut rx, &mut timers, &mut batch)) {
            // The database work blocks this thread, which is the hub's alone.
            self.process(&mut batch);
        }
    }

    /// Waits for the next batch: at least one command, then whatever else is queued.
    /// `false` once every `Hub` handle is gone.
    async fn collect(
        &mut self,
        rx: &mut mpsc::Receiver<Command>,
        timers: &mut Timers,
        batch: &mut Vec<Command>,
    ) -> bool {
        loop {
            tokio::select! {
                first = rx.recv() => match first {
                    Some(command) => {
                        batch.push(command);
                        break;
                    }
                    None => return false,
                },
                _ = timers.tick.tick() => {
                    let now = Instant::now();
                    self.state.allowances.forget_full(now);
                    self.state.typing.forget_old(now);
                    if self.state.presence.any_due(now) {
                        batch.push(Command::Tick);
                        break;
                    }
                }
                _ = timers.heartbeat.tick(), if timers.shared => {
                    batch.push(Command::Heartbeat);
                    break;
                }
                _ = timers.poll.tick(), if timers.shared => {
                    batch.push(Command::Wake);
                    break;
                }
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        true
    }

    fn process(&mut self, batch: &mut Vec<Command>) {
        let needed = batch.iter().map(Command::max_ids).sum();
        let changes_rooms = batch.iter().any(|c| matches!(c, Command::Room { .. }));
        let mut effects = Vec::with_capacity(batch.len());
        let guard = lock(&self.db);
        let conn: &dyn Db = &**guard;
        self.state.stored_max = None;
        if let Some(cluster) = self.state.cluster.as_mut() {
            cluster
                .wake
                .store(false, std::sync::atomic::Ordering::Release);
            if batch.iter().all(|c| matches!(c, Command::Wake)) {
                // Only looking: no lock, no ids, no transaction.
                batch.clear();
                if let Err(err) = self.state.catch_up(conn, &mut effects) {
                    tracing::warn!(%err, "could not read what other servers stored");
                }
                drop(guard);
                self.state.play(effects, true);
                return;
            }
        } else {
            self.state.reserve_ids(conn, needed);
        }
        let mut tx = Tx::begin(conn)
            .map_err(|err| tracing::error!(%err, "could not start storing messages"))
            .ok();
        if let Some(open) = &tx {
            if self.state.cluster.is_some() {
                if let Err(err) = self.state.begin_shared(open, needed, &mut effects) {
                    tracing::error!(%err, "could not take the shared batch lock");
                    tx = None;
                }
            }
        }
        self.state.storing = tx.is_some();
        // Every command is applied, stored or not, so who is online stays right.
        for command in batch.drain(..) {
            self.state
                .apply(command, tx.as_ref().map(|tx| tx as &dyn Db), &mut effects);
        }
        if let (Some(open), true, Some(last)) = (&tx, self.state.storing, self.state.stored_max) {
            if self.state.cluster.is_some() {
                if let Err(err) = cluster::notify(open, last) {
                    tracing::error!(%err, "could not announce stored messages");
                    self.state.storing = false;
                }
            }
        }
        let committed = match (tx, self.state.storing) {
            (Some(tx), true) => {
                let started = Instant::now();
                let done = tx
                    .commit()
                    .map_err(|err| tracing::error!(%err, "could not store messages"))
                    .is_ok();
                crate::metrics::commit(started.elapsed());
                done
            }
            // Dropped, the transaction is rolled back.
            _ => false,
        };
        if !committed {
            tracing::error!("a batch of messages was not stored; not broadcasting it");
            if changes_rooms {
                // The rooms in memory went ahead of the rolled-back database.
                match Rooms::load(conn) {
                    Ok(rooms) => self.state.rooms = rooms,
                    Err(err) => tracing::error!(%err, "could not reload the rooms"),
                }
            }
        }
        if let Some(cluster) = self.state.cluster.as_mut() {
            if committed {
                // Every id up to the batch's last was this batch's, used or not.
                cluster.seen = cluster.seen.max(self.state.reserved.saturating_sub(1));
                cluster.healthy_since.get_or_insert_with(Instant::now);
            } else {
                cluster.healthy_since = None;
                cluster.resync = true;
            }
            // Unused ids of this batch are never used later: the stream has moved on.
            self.state.next_id = self.state.reserved;
        }
        drop(guard);
        batch.clear();
        self.state.play(effects, committed);
    }
}

/// The hub's clocks: grace periods and allowances every second; with a shared database
/// also the heartbeat and the poll.
struct Timers {
    tick: tokio::time::Interval,
    heartbeat: tokio::time::Interval,
    poll: tokio::time::Interval,
    shared: bool,
}

impl Timers {
    /// Must be made inside the hub's runtime.
    fn new(poll: Option<Duration>) -> Timers {
        let every = |period: Duration| {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        };
        Timers {
            tick: every(TICK),
            heartbeat: every(cluster::HEARTBEAT),
            poll: every(poll.unwrap_or(TICK)),
            shared: poll.is_some(),
        }
    }
}

impl State {
    fn apply(&mut self, command: Command, tx: Option<&dyn Db>, effects: &mut Vec<Effect>) {
        match command {
            Command::Join {
                conn,
                user,
                session,
                since,
                v2,
                outbox,
            } => {
                let open = self.sessions.entry(session).or_insert(0);
                if *open >= self.settings.max_sockets_per_session {
                    outbox.close_with(CLOSE_POLICY, "too many sockets open for this session");
                    return;
                }
                *open += 1;
                let peer = Peer {
                    session,
                    user: user.id,
                    v2,
                    outbox,
                };
                effects.push(Effect::Register(conn, peer));
                let member = Member {
                    user: user.clone(),
                    session,
                };
                self.members.insert(conn, member);
                // History covers everything stored before this socket's first live message.
                let live_from = self.next_id;
                if self.presence.arrive(&user) && self.arrived(tx, &user) {
                    self.announce_join(tx, user.clone(), effects);
                }
                let users = self.online_users();
                self.send(conn, user.clone(), ServerBody::List(users), effects);
                if v2 {
                    self.greet_rooms(tx, conn, user, since, live_from, effects);
                    return;
                }
                let (after, limit) = match since {
                    Some(after) => (after, HISTORY_RESUME),
                    None => (0, HISTORY_RECENT),
                };
                let history = History {
                    scope: Scope::Room(GENERAL),
                    room: None,
                    after,
                    until: live_from,
                    limit,
                    max_bytes: self.history_budget(),
                };
                let (id, frame) = self.history_frame(tx, user, history);
                effects.push(Effect::Send(conn, id, frame));
            }
            Command::Leave { conn } => {
                effects.push(Effect::Unregister(conn));
                let Some(Member { user, session, .. }) = self.members.remove(&conn) else {
                    return;
                };
                let ended = self.ended.contains(&session);
                if let Some(open) = self.sessions.get_mut(&session) {
                    *open -= 1;
                    if *open == 0 {
                        self.sessions.remove(&session);
                        self.ended.remove(&session);
                    }
                }
                if let Some(user) = self.presence.depart(user.id, Instant::now(), !ended) {
                    self.left(tx, user, effects);
                }
            }
            Command::Chat {
                conn,
                room,
                text,
                cid,
            } => self.chat(tx, conn, room, text, cid, effects),
            Command::Read { conn, room, id } => self.read(tx, conn, room, id, effects),
            Command::Typing { conn, room } => self.typing(conn, room, effects),
            Command::Reject { conn, refusal } => {
                if let Some(Member { user, .. }) = self.members.get(&conn).cloned() {
                    self.send(conn, user, ServerBody::Error(refusal), effects);
                }
            }
            Command::CloseSession { session, code } => {
                if self.sessions.contains_key(&session) {
                    self.ended.insert(session);
                }
                effects.push(Effect::CloseSession { session, code });
            }
            Command::Room { op, reply } => {
                let result = self.room_op(op, tx, effects);
                effects.push(Effect::Reply(reply, result));
            }
            Command::Tick => {
                for user in self.presence.take_due(Instant::now(), MAX_BATCH) {
                    self.left(tx, user, effects);
                }
            }
            Command::Heartbeat => self.heartbeat(tx, effects),
            Command::Farewell { done } => {
                self.farewell(tx, effects);
                if let Some(done) = done {
                    effects.push(Effect::Done(done));
                }
            }
            // Looking happened when the batch began.
            Command::Wake => {}
        }
    }

    /// Runs a storage step unless an earlier one of this batch failed. A failure marks the
    /// batch as not stored, and is logged; the caller carries on without the result.
    fn store<T>(
        &mut self,
        tx: Option<&dyn Db>,
        step: impl FnOnce(&dyn Db) -> Result<T, DbError>,
    ) -> Option<T> {
        let tx = tx.filter(|_| self.storing)?;
        match step(tx) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::error!(%err, "could not store messages");
                self.storing = false;
                None
            }
        }
    }

    /// The user's last socket here is gone: `left`, unless they are online elsewhere.
    fn left(&mut self, tx: Option<&dyn Db>, user: User, effects: &mut Vec<Effect>) {
        if self.departed(tx, &user) {
            self.announce_left(tx, user, effects);
        }
    }

    fn announce_join(&mut self, tx: Option<&dyn Db>, user: User, effects: &mut Vec<Effect>) {
        let body = ServerBody::Join(format!("{} joined.", user.name));
        self.broadcast(tx, user, None, body, Audience::Everyone, None, effects);
    }

    fn announce_left(&mut self, tx: Option<&dyn Db>, user: User, effects: &mut Vec<Effect>) {
        let text = format!("{} left.", user.name);
        let body = ServerBody::Left(text);
        self.broadcast(tx, user, None, body, Audience::Everyone, None, effects);
    }

    fn envelope(&mut self, user: User, room: Option<RoomId>, body: ServerBody) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        (id, self.envelope_at(id, user, room, body))
    }

    /// The envelope of a frame with a given id.
    fn envelope_at(&self, id: u64, user: User, room: Option<RoomId>, body: ServerBody) -> String {
        let msg = ServerMessage {
            id,
            ts: unix_millis(),
            user,
            room,
            body,
        };
        // Our own message types always serialize.
        serde_json::to_string(&msg).unwrap_or_default()
    }

    /// Stores an event of `room` (`None`: presence, kept with `general`) in the open
    /// transaction and queues its delivery to `to`, which happens only if the batch is
    /// committed. Returns the event's id.
    #[allow(clippy::too_many_arguments)]
    fn broadcast(
        &mut self,
        tx: Option<&dyn Db>,
        user: User,
        room: Option<RoomId>,
        body: ServerBody,
        to: Audience,
        origin: Option<ConnId>,
        effects: &mut Vec<Effect>,
    ) -> u64 {
        let user_id = user.id;
        let kind = body.kind();
        let cid = match &body {
            ServerBody::Chat { cid, .. } => cid.clone(),
            _ => None,
        };
        let (id, json) = self.envelope(user, room, body);
        let row = messages::Row {
            id,
            user_id,
            room: room.unwrap_or(GENERAL),
            kind,
            cid: cid.as_deref(),
        };
        if self
            .store(tx, |tx| messages::insert(tx, row, &json))
            .is_some()
        {
            self.stored_max = Some(id);
        }
        effects.push(Effect::Broadcast {
            frame: Frame::from(json),
            to,
            origin,
            cid,
        });
        id
    }

    fn send(&mut self, conn: ConnId, user: User, body: ServerBody, effects: &mut Vec<Effect>) {
        let (id, json) = self.envelope(user, None, body);
        effects.push(Effect::Send(conn, id, Frame::from(json)));
    }

    /// Makes sure the next `needed` ids are reserved on disk, in a commit of their own,
    /// before any of them is used: a frame sent with an id that a crash could hand out
    /// again would break "ids always increase".
    fn reserve_ids(&mut self, conn: &dyn Db, needed: u64) {
        if self.next_id + needed <= self.reserved {
            return;
        }
        let until = self.next_id + needed + ID_RESERVE_STEP;
        match messages::reserve(conn, until) {
            Ok(()) => self.reserved = until,
            Err(err) => tracing::error!(%err, "could not reserve message ids"),
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use shared::CLOSE_INTERNAL;

    fn settings() -> HubSettings {
        HubSettings {
            queue_bytes: 1024 * 1024,
            max_sockets_per_session: 16,
            rate_burst: 100.0,
            rate_per_sec: 100.0,
            presence_grace: Duration::ZERO,
            shared: None,
        }
    }

    /// A room whose reservation is used up but for two ids, and the socket joining it.
    fn nearly_out_of_ids(db: &SharedDb) -> (Room, Arc<Outbox>, u64) {
        let mut room = Room::open(db.clone(), settings()).unwrap();
        room.state.next_id = room.state.reserved - 2;
        let outbox = Arc::new(Outbox::new(1024 * 1024));
        let mut batch = vec![Command::Join {
            conn: 1,
            user: User::new(1, "A"),
            session: 1,
            since: None,
            v2: false,
            outbox: outbox.clone(),
        }];
        let reserved = room.state.reserved;
        room.process(&mut batch);
        (room, outbox, reserved)
    }

    fn sent_ids(outbox: &Outbox) -> Vec<u64> {
        let mut frames = Vec::new();
        outbox.take(&mut frames, 100);
        frames
            .iter()
            .map(|f| {
                serde_json::from_str::<Value>(f).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn ids_are_reserved_on_disk_before_a_batch_uses_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Store::open(dir.path())
            .unwrap()
            .writer()
            .unwrap();
        let (room, outbox, old_mark) = nearly_out_of_ids(&db);
        let sent = sent_ids(&outbox);
        assert_eq!(sent.len(), 3, "join, list and history were sent");
        assert!(
            sent.iter().any(|&id| id >= old_mark),
            "the batch went past the old mark"
        );
        let on_disk = messages::reserved(&**lock(&db)).unwrap();
        assert!(sent.iter().all(|&id| id < on_disk), "{sent:?} vs {on_disk}");
        // A crash now: the next run starts above every id sent.
        drop(room);
        let reopened = Room::open(db, settings()).unwrap();
        assert!(sent.iter().all(|&id| id < reopened.state.next_id));
    }

    #[test]
    fn frames_whose_ids_a_crash_could_reuse_are_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Store::open(dir.path())
            .unwrap()
            .writer()
            .unwrap();
        let mut room = Room::open(db.clone(), settings()).unwrap();
        // From now on the reservation cannot be written; messages still can.
        lock(&db)
            .batch(
                "CREATE TRIGGER no_insert BEFORE INSERT ON meta BEGIN SELECT RAISE(FAIL, 'full'); END;
                 CREATE TRIGGER no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(FAIL, 'full'); END;",
            )
            .unwrap();
        room.state.next_id = room.state.reserved - 2;
        let outbox = Arc::new(Outbox::new(1024 * 1024));
        let mut batch = vec![Command::Join {
            conn: 1,
            user: User::new(1, "A"),
            session: 1,
            since: None,
            v2: false,
            outbox: outbox.clone(),
        }];
        room.process(&mut batch);
        let sent = sent_ids(&outbox);
        assert_eq!(
            outbox.closing(),
            Some((CLOSE_INTERNAL, "server error; please reconnect")),
            "the socket whose history could not get a safe id is closed"
        );
        // A crash now, then a restart once the disk works again.
        drop(room);
        lock(&db)
            .batch("DROP TRIGGER no_insert; DROP TRIGGER no_update;")
            .unwrap();
        let reopened = Room::open(db, settings()).unwrap();
        assert!(!sent.is_empty());
        assert!(
            sent.iter().all(|&id| id < reopened.state.next_id),
            "{sent:?} vs {}",
            reopened.state.next_id
        );
    }

    #[test]
    fn batch_that_cannot_be_stored_still_greets_every_socket_and_keeps_presence_right() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::Store::open(dir.path())
            .unwrap()
            .writer()
            .unwrap();
        let mut room = Room::open(db.clone(), settings()).unwrap();
        lock(&db)
            .batch(
                "CREATE TRIGGER full BEFORE INSERT ON messages BEGIN SELECT RAISE(FAIL, 'full'); END;",
            )
            .unwrap();
        let (a, b) = (
            Arc::new(Outbox::new(1024 * 1024)),
            Arc::new(Outbox::new(1024 * 1024)),
        );
        let join = |conn, id, outbox: &Arc<Outbox>| Command::Join {
            conn,
            user: User::new(id, format!("U{id}")),
            session: id,
            since: None,
            v2: false,
            outbox: outbox.clone(),
        };
        room.process(&mut vec![join(1, 1, &a), join(2, 2, &b)]);
        let kinds = |outbox: &Outbox| {
            let mut frames = Vec::new();
            outbox.take(&mut frames, 100);
            frames
                .iter()
                .map(|f| serde_json::from_str::<Value>(f).unwrap()["type"].clone())
                .collect::<Vec<_>>()
        };
        // Neither `join` was stored, so neither is broadcast; both sockets are greeted.
        assert_eq!(kinds(&a), ["list", "history"]);
        assert_eq!(kinds(&b), ["list", "history"]);
        lock(&db).batch("DROP TRIGGER full;").unwrap();
        room.process(&mut vec![Command::Leave { conn: 2 }]);
        assert_eq!(kinds(&a), ["left"], "B was counted online and leaves once");
    }
}
