//! The room as the hub's thread sees it: presence, rate limits, ids, storage, delivery.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Transaction;
use serde::Serialize;
use serde_json::value::RawValue;
use shared::{ServerBody, ServerMessage, User};
use tokio::sync::mpsc;

use super::{Command, ConnId, Frame, HubSettings, Outbox};
use crate::store::messages::{self, Stored};
use crate::store::{lock, SharedConnection, StoreError};

/// Commands taken in one batch (and one commit) at most.
const MAX_BATCH: usize = 512;
/// Stored messages replayed to a fresh socket.
const HISTORY_RECENT: usize = 100;
/// Stored messages replayed to a resuming socket, at most.
const HISTORY_RESUME: usize = 1000;
/// Ids reserved on disk ahead of use, so a crash never leads to an id being reused.
const ID_RESERVE_STEP: u64 = 10_000;

pub struct Room {
    /// Shared with request handlers only when the database lives in memory.
    db: SharedConnection,
    state: State,
}

/// Everything but the database, so a transaction and the state can be borrowed together.
struct State {
    settings: HubSettings,
    next_id: u64,
    reserved: u64,
    /// Sockets as the logic sees them, updated while a batch is applied.
    members: HashMap<ConnId, (User, u64)>,
    /// Online users by id (so `list` comes out ordered) with their open socket count.
    online: BTreeMap<u64, (User, usize)>,
    buckets: HashMap<u64, Bucket>,
    /// Sockets as delivery sees them, updated as a batch's effects are played out.
    peers: HashMap<ConnId, Peer>,
}

struct Peer {
    session: u64,
    outbox: Arc<Outbox>,
}

/// What applying a command leads to, played out in order after the commit.
enum Effect {
    Register(ConnId, Peer),
    Unregister(ConnId),
    /// A stored message for every socket; `origin` sent it, if it was a chat line.
    Broadcast {
        frame: Frame,
        origin: Option<ConnId>,
    },
    Send(ConnId, Frame),
    CloseSession {
        session: u64,
        code: u16,
    },
}

impl Room {
    pub fn open(db: SharedConnection, settings: HubSettings) -> Result<Room, StoreError> {
        let (next_id, reserved) = {
            let conn = lock(&db);
            let next_id = messages::first_free_id(&conn)?;
            let reserved = next_id + ID_RESERVE_STEP;
            messages::reserve(&conn, reserved)?;
            (next_id, reserved)
        };
        tracing::info!(next_id, "message ids continue");
        Ok(Room {
            db,
            state: State {
                settings,
                next_id,
                reserved,
                members: HashMap::new(),
                online: BTreeMap::new(),
                buckets: HashMap::new(),
                peers: HashMap::new(),
            },
        })
    }

    /// Takes commands in batches until every `Hub` handle is gone.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            self.process(&mut batch);
        }
    }

    fn process(&mut self, batch: &mut Vec<Command>) {
        let mut effects = Vec::with_capacity(batch.len());
        let mut conn = lock(&self.db);
        let committed = conn
            .transaction()
            .and_then(|tx| {
                for command in batch.drain(..) {
                    self.state.apply(command, &tx, &mut effects)?;
                }
                self.state.keep_ids_reserved(&tx)?;
                tx.commit()
            })
            .map_err(|err| tracing::error!(%err, "could not store messages; not broadcasting them"))
            .is_ok();
        drop(conn);
        batch.clear();
        self.state.play(effects, committed);
    }
}

impl State {
    fn apply(
        &mut self,
        command: Command,
        tx: &Transaction<'_>,
        effects: &mut Vec<Effect>,
    ) -> rusqlite::Result<()> {
        match command {
            Command::Join {
                conn,
                user,
                session,
                since,
                outbox,
            } => {
                let peer = Peer { session, outbox };
                effects.push(Effect::Register(conn, peer));
                self.members.insert(conn, (user.clone(), session));
                let entry = self.online.entry(user.id).or_insert((user.clone(), 0));
                entry.1 += 1;
                // History covers everything stored before this socket's first live message.
                let live_from = self.next_id;
                if entry.1 == 1 {
                    let text = format!("{} joined.", user.name);
                    self.broadcast(
                        tx,
                        user.clone(),
                        ServerBody::Join(text),
                        None,
                        None,
                        effects,
                    )?;
                }
                let users = self.online.values().map(|(u, _)| u.clone()).collect();
                self.send(conn, user.clone(), ServerBody::List(users), effects);
                let (stored, truncated) = match since {
                    Some(after) => messages::between(tx, after, live_from, HISTORY_RESUME)?,
                    None => messages::between(tx, 0, live_from, HISTORY_RECENT)?,
                };
                let frame = self.history_frame(user, &stored, truncated);
                effects.push(Effect::Send(conn, frame));
            }
            Command::Leave { conn } => {
                effects.push(Effect::Unregister(conn));
                let Some((user, _)) = self.members.remove(&conn) else {
                    return Ok(());
                };
                let last = self.online.get_mut(&user.id).is_some_and(|entry| {
                    entry.1 -= 1;
                    entry.1 == 0
                });
                if last {
                    self.online.remove(&user.id);
                    self.buckets.remove(&user.id);
                    let text = format!("{} left.", user.name);
                    self.broadcast(tx, user, ServerBody::Left(text), None, None, effects)?;
                }
            }
            Command::Chat { conn, text, cid } => {
                let Some((user, _)) = self.members.get(&conn).cloned() else {
                    return Ok(());
                };
                if let Some(cid) = &cid {
                    if let Some(original) = messages::by_cid(tx, user.id, cid)? {
                        effects.push(Effect::Send(conn, Frame::from(original.json)));
                        return Ok(());
                    }
                }
                if !self.take_token(user.id) {
                    let reason = "slow down: you are sending messages too fast".to_owned();
                    self.send(conn, user, ServerBody::Error(reason), effects);
                    return Ok(());
                }
                let body = ServerBody::Chat {
                    text,
                    cid: cid.clone(),
                };
                self.broadcast(tx, user, body, cid.as_deref(), Some(conn), effects)?;
            }
            Command::Reject { conn, reason } => {
                if let Some((user, _)) = self.members.get(&conn).cloned() {
                    self.send(conn, user, ServerBody::Error(reason), effects);
                }
            }
            Command::CloseSession { session, code } => {
                effects.push(Effect::CloseSession { session, code });
            }
        }
        Ok(())
    }

    fn envelope(&mut self, user: User, body: ServerBody) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let msg = ServerMessage {
            id,
            ts: unix_millis(),
            user,
            body,
        };
        // Our own message types always serialize.
        (id, serde_json::to_string(&msg).unwrap_or_default())
    }

    /// Stores a message (in the open transaction) and queues its broadcast.
    fn broadcast(
        &mut self,
        tx: &Transaction<'_>,
        user: User,
        body: ServerBody,
        cid: Option<&str>,
        origin: Option<ConnId>,
        effects: &mut Vec<Effect>,
    ) -> rusqlite::Result<()> {
        let user_id = user.id;
        let (id, json) = self.envelope(user, body);
        messages::insert(tx, id, user_id, cid, &json)?;
        effects.push(Effect::Broadcast {
            frame: Frame::from(json),
            origin,
        });
        Ok(())
    }

    fn send(&mut self, conn: ConnId, user: User, body: ServerBody, effects: &mut Vec<Effect>) {
        let (_, json) = self.envelope(user, body);
        effects.push(Effect::Send(conn, Frame::from(json)));
    }

    /// The `history` envelope. Stored messages go in as the exact JSON they were
    /// broadcast with, never decoded and encoded again.
    fn history_frame(&mut self, user: User, stored: &[Stored], truncated: bool) -> Frame {
        let id = self.next_id;
        self.next_id += 1;
        let data: Vec<&RawValue> = stored
            .iter()
            // Stored rows were written by this server from valid JSON; one that is not is
            // left out rather than sent broken.
            .filter_map(|s| serde_json::from_str(&s.json).ok())
            .collect();
        let envelope = HistoryEnvelope {
            id,
            kind: "history",
            user: &user,
            data,
            ts: unix_millis(),
            truncated,
        };
        Frame::from(serde_json::to_string(&envelope).unwrap_or_default())
    }

    /// Reserves the next block of ids on disk before this run could use them.
    fn keep_ids_reserved(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if self.next_id + ID_RESERVE_STEP / 2 > self.reserved {
            self.reserved = self.next_id + ID_RESERVE_STEP;
            messages::reserve(tx, self.reserved)?;
        }
        Ok(())
    }

    fn take_token(&mut self, user_id: u64) -> bool {
        let (burst, per_sec) = (self.settings.rate_burst, self.settings.rate_per_sec);
        self.buckets
            .entry(user_id)
            .or_insert_with(|| Bucket::full(burst))
            .take(burst, per_sec)
    }

    /// Plays out a batch's effects in order; stored broadcasts only if they were committed.
    fn play(&mut self, effects: Vec<Effect>, committed: bool) {
        for effect in effects {
            match effect {
                Effect::Register(conn, peer) => {
                    self.peers.insert(conn, peer);
                }
                Effect::Unregister(conn) => {
                    self.peers.remove(&conn);
                }
                Effect::Broadcast { frame, .. } if committed => {
                    for peer in self.peers.values() {
                        peer.outbox.push(frame.clone());
                    }
                }
                Effect::Broadcast { origin, .. } => {
                    if let Some((user, _)) = origin.and_then(|c| self.members.get(&c).cloned()) {
                        let reason = "your message could not be saved; please send it again";
                        let (_, json) = self.envelope(user, ServerBody::Error(reason.into()));
                        if let Some(peer) = origin.and_then(|c| self.peers.get(&c)) {
                            peer.outbox.push(Frame::from(json));
                        }
                    }
                }
                Effect::Send(conn, frame) => {
                    if let Some(peer) = self.peers.get(&conn) {
                        peer.outbox.push(frame);
                    }
                }
                Effect::CloseSession { session, code } => {
                    for peer in self.peers.values().filter(|p| p.session == session) {
                        peer.outbox.close(code);
                    }
                }
            }
        }
    }
}

/// The `history` message with its stored messages as raw JSON; fields in the documented
/// order, as `shared::ServerMessage` writes them.
#[derive(Serialize)]
struct HistoryEnvelope<'a> {
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    user: &'a User,
    data: Vec<&'a RawValue>,
    ts: u64,
    truncated: bool,
}

/// A token bucket: `burst` messages at once, refilled at `per_sec`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64) -> Self {
        Bucket {
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, burst: f64, per_sec: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * per_sec;
        self.tokens = (self.tokens + refill).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
