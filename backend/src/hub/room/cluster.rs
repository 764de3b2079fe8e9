//! Several servers on one PostgreSQL database, acting as one chat.
//!
//! The database is the only message log; servers only wake each other up:
//!
//! - **Ids.** A batch takes `pg_advisory_xact_lock` first, so batches of all servers
//!   commit one after another. Holding the lock, it plays out what others stored since it
//!   last looked, then takes its ids from the `message_ids` sequence (values a rolled-back
//!   batch took are never handed out again), stores, `pg_notify`s and commits. Ids are
//!   therefore one sequence in commit order across servers, and a server delivers its own
//!   batch directly: everything below the batch's ids was played out before it.
//! - **Wake-ups.** `NOTIFY chat` carries only the last id. A listener thread turns
//!   notifications into wake-ups, and the hub also looks every `--poll-ms`; either way it
//!   reads `id > seen` in order. A lost notification costs latency, never a message: a
//!   snapshot that holds an id holds every id below it (they were committed under the
//!   lock before it).
//! - **Presence.** `presence(server_id, user_id)` says who is online where; `join` and
//!   `left` are stored when a user's first socket anywhere opens or their last anywhere
//!   closes, decided under the lock. The online list is the stream's own: every server
//!   applies the same `join`/`left` events in the same order. Servers heartbeat every
//!   2 s; a server silent for 10 s is reaped by whichever server notices first, under the
//!   lock, so its users' `left` events are stored once.
//! - **Ephemeral signals** (`typing`, read markers) stay on the server that made them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use shared::{ServerBody, ServerMessage, User, GENERAL};
use tokio::sync::mpsc;

use super::{unix_millis, Effect, State};
use crate::hub::rooms::{Audience, Rooms};
use crate::hub::{Command, Frame};
use crate::store::db::{args, Db, DbError, Row, Tx};
use crate::store::messages::{self, Stored};

/// The advisory lock every batch of every server takes ("chat" + 2).
const BATCH_LOCK: i64 = 0x6368_6174_0002;
/// How often a server says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A server whose heartbeat is older than this is gone: its users are marked offline.
const DEAD_AFTER: Duration = Duration::from_secs(10);
/// Stored events read per query while catching up.
const CATCH_UP_PAGE: usize = 1000;
/// The channel of wake-ups between servers.
const CHANNEL: &str = "chat";
/// How long the listener waits before connecting again after losing its connection.
const LISTEN_RETRY: Duration = Duration::from_millis(500);

/// This server's part in a shared database.
pub(crate) struct Cluster {
    /// This server's row in `servers`.
    pub server: u64,
    /// Every stored event up to this id has been played out here.
    pub seen: u64,
    /// Users online on any live server, kept by applying the stream's `join`/`left`.
    pub online: BTreeMap<u64, User>,
    /// Since when every batch reached the database: only a server that has been able to
    /// see others' heartbeats for a while judges them dead.
    pub healthy_since: Option<Instant>,
    /// A batch failed: this server's presence rows and the online list are to be checked
    /// against the database again.
    pub resync: bool,
    /// Set by whoever asks for a wake-up, cleared by the hub when it looks.
    pub wake: Arc<AtomicBool>,
}

impl Cluster {
    /// Registers this server and reads where the stream stands.
    pub fn join(db: &dyn Db) -> Result<Cluster, DbError> {
        let tx = Tx::begin(db)?;
        tx.query("SELECT pg_advisory_xact_lock(?1)", args![BATCH_LOCK])?;
        let now = unix_millis();
        let server = tx
            .query_one(
                "INSERT INTO servers (started_ms, heartbeat_ms) VALUES (?1, ?1) RETURNING id",
                args![now],
            )?
            .uint(0)?;
        // Ids continue above everything stored (a database moved from SQLite included).
        tx.query(
            "SELECT setval('message_ids', GREATEST(
                 (SELECT last_value FROM message_ids),
                 (SELECT COALESCE(MAX(id), 0) FROM messages),
                 (SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = 'id_reserved'),
                 1))",
            args![],
        )?;
        let seen = messages::max_id(&tx)?;
        let online = online_users(&tx)?;
        tx.commit()?;
        tracing::info!(server, seen, "joined the servers sharing the database");
        Ok(Cluster {
            server,
            seen,
            online,
            healthy_since: Some(Instant::now()),
            resync: false,
            wake: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// Users with a presence row on any server, by id.
fn online_users(db: &dyn Db) -> Result<BTreeMap<u64, User>, DbError> {
    let rows = db.query(
        "SELECT DISTINCT u.id, u.name, u.password_hash IS NOT NULL FROM presence p
         JOIN users u ON u.id = p.user_id ORDER BY u.id",
        args![],
    )?;
    rows.iter().map(|r| Ok((r.uint(0)?, user_of(r)?))).collect()
}

fn user_of(r: &Row) -> Result<User, DbError> {
    let (id, name) = (r.uint(0)?, r.text(1)?);
    Ok(if r.bool(2)? {
        User::new(id, name)
    } else {
        User::guest(id, name)
    })
}

impl State {
    /// The start of a batch on a shared database, inside its transaction: the lock, what
    /// others stored meanwhile, then `needed` ids of the one sequence.
    pub(super) fn begin_shared(
        &mut self,
        tx: &dyn Db,
        needed: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<(), DbError> {
        tx.query("SELECT pg_advisory_xact_lock(?1)", args![BATCH_LOCK])?;
        self.catch_up(tx, effects)?;
        if needed > 0 {
            let top = tx
                .query_one(
                    "SELECT setval('message_ids', nextval('message_ids') + ?1 - 1)",
                    args![needed],
                )?
                .uint(0)?;
            self.next_id = top + 1 - needed;
            self.reserved = top + 1;
        }
        Ok(())
    }

    /// Makes sure `n` more ids are this batch's, taken from the sequence under the lock
    /// (above every id handed out so far, by any server).
    fn more_ids(&mut self, tx: Option<&dyn Db>, n: u64) {
        if n == 0 || self.next_id + n <= self.reserved {
            return;
        }
        let top = self.store(tx, |tx| {
            tx.query_one(
                "SELECT setval('message_ids', nextval('message_ids') + ?1 - 1)",
                args![n],
            )?
            .uint(0)
        });
        if let Some(top) = top {
            self.next_id = top + 1 - n;
            self.reserved = top + 1;
        }
    }

    /// Plays out, in id order, every event stored after `seen`.
    pub(super) fn catch_up(
        &mut self,
        db: &dyn Db,
        effects: &mut Vec<Effect>,
    ) -> Result<(), DbError> {
        loop {
            let Some(seen) = self.cluster.as_ref().map(|c| c.seen) else {
                return Ok(());
            };
            let page = messages::after(db, seen, CATCH_UP_PAGE)?;
            let full = page.len() == CATCH_UP_PAGE;
            for stored in page {
                let id = stored.id;
                self.relay(db, stored, effects)?;
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.seen = id;
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// One event another server stored: the state it changes here, and its delivery.
    fn relay(
        &mut self,
        db: &dyn Db,
        stored: Stored,
        effects: &mut Vec<Effect>,
    ) -> Result<(), DbError> {
        let Ok(message) = serde_json::from_str::<ServerMessage>(&stored.json) else {
            tracing::error!(id = stored.id, "a stored event could not be read; skipped");
            return Ok(());
        };
        let id = stored.id;
        let frame = Frame::from(stored.json);
        let room = message.room.unwrap_or(GENERAL);
        let to = match &message.body {
            ServerBody::Join(_) => {
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.online.insert(message.user.id, message.user.clone());
                }
                Audience::Everyone
            }
            ServerBody::Left(_) => {
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.online.remove(&message.user.id);
                }
                Audience::Everyone
            }
            ServerBody::RoomJoin { .. } | ServerBody::RoomLeave { .. } => {
                self.rooms = Rooms::load(db)?;
                self.relay_room_view(db, id, room, message.user.id, effects)?;
                let to = self.rooms.audience(room);
                match message.body {
                    ServerBody::RoomLeave { .. } => to.and(message.user.id),
                    _ => to,
                }
            }
            _ => {
                if self.rooms.get(room).is_none() {
                    // A room made elsewhere (a new DM): its members here learn of it first.
                    self.rooms = Rooms::load(db)?;
                    if let Audience::Users(members) = self.rooms.audience(room) {
                        for member in members {
                            self.relay_room_view(db, id, room, member, effects)?;
                        }
                    }
                }
                self.rooms.audience(room)
            }
        };
        effects.push(Effect::Relay { frame, to });
        Ok(())
    }

    /// A `room` frame with `room` as `user` now sees it, for their room-aware sockets
    /// here, carrying the id `id` of the event that changed it (which follows it).
    fn relay_room_view(
        &mut self,
        db: &dyn Db,
        id: u64,
        room: shared::RoomId,
        user: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<(), DbError> {
        if !self.by_user.contains_key(&user) && !self.members.values().any(|m| m.user.id == user) {
            return Ok(());
        }
        let (Some(view), Some(who)) = (
            crate::store::rooms::view(db, room, user)?,
            crate::store::rooms::user(db, user)?,
        ) else {
            return Ok(());
        };
        let json = self.envelope_at(id, who, None, ServerBody::Room(view));
        effects.push(Effect::RelayToUser(user, Frame::from(json)));
        Ok(())
    }

    /// Everyone online, on every server (in the stream's own order of `join`/`left`).
    pub(super) fn online_users(&self) -> Vec<User> {
        match &self.cluster {
            Some(cluster) => cluster.online.values().cloned().collect(),
            None => self.presence.users(),
        }
    }

    /// A user's first socket on this server: their presence row, and `join` unless they
    /// are online elsewhere already.
    pub(super) fn arrived(&mut self, tx: Option<&dyn Db>, user: &User) -> bool {
        let Some(server) = self.cluster.as_ref().map(|c| c.server) else {
            return true;
        };
        self.store(tx, |tx| {
            tx.execute(
                "INSERT INTO presence (server_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![server, user.id],
            )
        });
        let Some(cluster) = self.cluster.as_mut() else {
            return true;
        };
        cluster.online.insert(user.id, user.clone()).is_none()
    }

    /// A user's last socket on this server is gone (grace included): their presence row
    /// goes, and `left` is due unless they are online on another server.
    pub(super) fn departed(&mut self, tx: Option<&dyn Db>, user: &User) -> bool {
        let Some(server) = self.cluster.as_ref().map(|c| c.server) else {
            return true;
        };
        let elsewhere = self.store(tx, |tx| {
            tx.execute(
                "DELETE FROM presence WHERE server_id = ?1 AND user_id = ?2",
                args![server, user.id],
            )?;
            Ok(tx
                .query_opt(
                    "SELECT 1 FROM presence WHERE user_id = ?1 LIMIT 1",
                    args![user.id],
                )?
                .is_some())
        });
        if elsewhere == Some(true) {
            return false;
        }
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.online.remove(&user.id);
        }
        true
    }

    /// Every [`HEARTBEAT`]: this server's heartbeat, its presence put right after a failed
    /// batch, and the reaping of servers that stopped.
    pub(super) fn heartbeat(&mut self, tx: Option<&dyn Db>, effects: &mut Vec<Effect>) {
        let Some((server, resync, healthy_since)) = self
            .cluster
            .as_ref()
            .map(|c| (c.server, c.resync, c.healthy_since))
        else {
            return;
        };
        let now = unix_millis();
        let beat = self.store(tx, |tx| {
            tx.execute(
                "UPDATE servers SET heartbeat_ms = ?2 WHERE id = ?1",
                args![server, now],
            )
        });
        if beat == Some(0) {
            // Others took this server for dead (it could not reach the database for a
            // while): it comes back under the same id, and puts its users back.
            tracing::warn!(server, "this server was taken for gone; registering again");
            self.store(tx, |tx| {
                tx.execute(
                    "INSERT INTO servers (id, started_ms, heartbeat_ms) VALUES (?1, ?2, ?2)",
                    args![server, now],
                )
            });
        }
        if resync || beat == Some(0) {
            self.resync_presence(tx, server, effects);
        }
        let steady = healthy_since.is_some_and(|since| since.elapsed() >= DEAD_AFTER);
        if steady {
            let dead_before = now.saturating_sub(DEAD_AFTER.as_millis() as u64);
            let dead = self.store(tx, |tx| {
                tx.query(
                    "SELECT id FROM servers WHERE heartbeat_ms < ?1 AND id <> ?2",
                    args![dead_before, server],
                )?
                .iter()
                .map(|r| r.uint(0))
                .collect::<Result<Vec<_>, _>>()
            });
            for gone in dead.unwrap_or_default() {
                tracing::warn!(
                    server = gone,
                    "a server stopped answering; its users are gone"
                );
                self.reap(tx, gone, effects);
            }
        }
        let alive = self.store(tx, |tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM servers WHERE heartbeat_ms >= ?1",
                args![now.saturating_sub(DEAD_AFTER.as_millis() as u64)],
            )?
            .uint(0)
        });
        if let Some(alive) = alive {
            crate::metrics::servers_alive(alive as usize);
            tracing::debug!(alive, "servers sharing the database");
        }
    }

    /// Removes server `gone` and its presence; `left` for its users online nowhere else.
    pub(super) fn reap(&mut self, tx: Option<&dyn Db>, gone: u64, effects: &mut Vec<Effect>) {
        let users = self.store(tx, |tx| {
            let users = tx
                .query(
                    "DELETE FROM presence WHERE server_id = ?1 RETURNING user_id",
                    args![gone],
                )?
                .iter()
                .map(|r| r.uint(0))
                .collect::<Result<Vec<_>, _>>()?;
            tx.execute("DELETE FROM servers WHERE id = ?1", args![gone])?;
            let mut offline = Vec::new();
            for user in users {
                let elsewhere = tx
                    .query_opt(
                        "SELECT 1 FROM presence WHERE user_id = ?1 LIMIT 1",
                        args![user],
                    )?
                    .is_some();
                if !elsewhere {
                    offline.push(user);
                }
            }
            Ok(offline)
        });
        let users = users.unwrap_or_default();
        self.more_ids(tx, users.len() as u64);
        for user in users {
            let Some(user) = self.cluster.as_mut().and_then(|c| c.online.remove(&user)) else {
                continue;
            };
            self.announce_left(tx, user, effects);
        }
    }

    /// After a failed batch: this server's presence rows are written again from its own
    /// sockets, and the online list is made to agree with the database, storing `join`
    /// or `left` for whoever it got wrong.
    fn resync_presence(&mut self, tx: Option<&dyn Db>, server: u64, effects: &mut Vec<Effect>) {
        let local: Vec<User> = self.presence.users();
        let truth = self.store(tx, |tx| {
            tx.execute("DELETE FROM presence WHERE server_id = ?1", args![server])?;
            for user in &local {
                tx.execute(
                    "INSERT INTO presence (server_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    args![server, user.id],
                )?;
            }
            online_users(tx)
        });
        let Some(truth) = truth else {
            return;
        };
        let believed = self
            .cluster
            .as_ref()
            .map(|c| c.online.clone())
            .unwrap_or_default();
        let changes = believed.keys().filter(|id| !truth.contains_key(id)).count()
            + truth.keys().filter(|id| !believed.contains_key(id)).count();
        self.more_ids(tx, changes as u64);
        for (id, user) in &believed {
            if !truth.contains_key(id) {
                self.announce_left(tx, user.clone(), effects);
            }
        }
        for (id, user) in &truth {
            if !believed.contains_key(id) {
                self.announce_join(tx, user.clone(), effects);
            }
        }
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.online = truth;
            cluster.resync = false;
        }
    }

    /// This server stops: its presence goes, with `left` for users online nowhere else.
    pub(super) fn farewell(&mut self, tx: Option<&dyn Db>, effects: &mut Vec<Effect>) {
        if let Some(server) = self.cluster.as_ref().map(|c| c.server) {
            self.reap(tx, server, effects);
        }
    }
}

/// Turns `NOTIFY chat` into wake-ups of the hub, on a connection of its own (named
/// `chat-listen`), connecting again whenever it is lost. The hub's own poll covers the
/// time in between.
pub(crate) fn spawn_listener(
    config: postgres::Config,
    wake: Arc<AtomicBool>,
    commands: mpsc::Sender<Command>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("chat-listen".into())
        .spawn(move || {
            let mut config = config;
            config.application_name("chat-listen");
            while !commands.is_closed() {
                if let Err(err) = listen(&config, &wake, &commands) {
                    tracing::warn!(%err, "lost the wake-up connection; connecting again");
                }
                std::thread::sleep(LISTEN_RETRY);
            }
        })
        .map(|_| ())
}

fn listen(
    config: &postgres::Config,
    wake: &AtomicBool,
    commands: &mpsc::Sender<Command>,
) -> Result<(), postgres::Error> {
    let mut client = config.connect(postgres::NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    // Whatever was announced while this connection was away.
    request_wake(wake, commands);
    while !commands.is_closed() && !client.is_closed() {
        let mut notifications = client.notifications();
        let mut waiting = notifications.timeout_iter(Duration::from_secs(1));
        while waiting.next()?.is_some() {
            request_wake(wake, commands);
        }
    }
    Ok(())
}

/// Queues one wake-up unless one is waiting already.
pub(crate) fn request_wake(wake: &AtomicBool, commands: &mpsc::Sender<Command>) {
    if !wake.swap(true, Ordering::AcqRel) {
        // A full queue means the hub is busy and will look anyway.
        let _ = commands.try_send(Command::Wake);
    }
}

/// Announces a batch's last stored id to the other servers (delivered at commit).
pub(super) fn notify(tx: &dyn Db, last: u64) -> Result<(), DbError> {
    tx.query(
        "SELECT pg_notify(?1, ?2)",
        args![CHANNEL, &last.to_string()],
    )?;
    Ok(())
}
