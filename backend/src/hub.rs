//! The chat hub: who is online, and the one ordered stream of messages they all see.
//!
//! Every message gets its id from one counter while the hub's lock is held, and is put
//! into the recipients' queues under that same lock, so each socket sees ids in
//! increasing order. A broadcast is serialized once; every queue gets a cheap clone of
//! the same encoded frame.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use shared::{ServerBody, ServerMessage, User};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One encoded text frame, shared by every socket that sends it.
pub type Frame = Utf8Bytes;

/// Close code for a socket whose outgoing queue overflowed (policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;

/// Identifies one `/ws/chat` socket.
pub type ConnId = u64;

/// Shared handle to the hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    /// Held only for in-memory work (no `.await` inside), so a std mutex is right.
    state: Mutex<State>,
    queue_capacity: usize,
}

#[derive(Default)]
struct State {
    next_message_id: u64,
    next_conn_id: ConnId,
    conns: HashMap<ConnId, Peer>,
    /// Online users by id (so `list` comes out ordered) with their open socket count.
    online: BTreeMap<u64, (User, usize)>,
}

struct Peer {
    user: User,
    session: u64,
    tx: mpsc::Sender<Frame>,
    kick: Arc<Kick>,
}

/// Tells a socket's task to close with a given code; it is never blocked by a full queue.
#[derive(Default)]
pub struct Kick {
    notify: Notify,
    code: AtomicU16,
}

impl Kick {
    fn fire(&self, code: u16) {
        // The first reason wins; later ones are ignored.
        if self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// Waits until the socket must close and returns the close code.
    pub async fn fired(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// What a newly joined socket holds: its id, its queue and its kick signal.
pub struct Membership {
    pub id: ConnId,
    pub rx: mpsc::Receiver<Frame>,
    pub kick: Arc<Kick>,
}

impl Hub {
    /// A hub whose sockets each queue at most `queue_capacity` outgoing frames.
    pub fn new(queue_capacity: usize) -> Self {
        Hub {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    next_message_id: 1,
                    next_conn_id: 1,
                    ..State::default()
                }),
                queue_capacity,
            }),
        }
    }

    /// Accepts a socket: `join` to everyone when it is the user's first, then `list` to it.
    pub fn join(&self, user: User, session: u64) -> Membership {
        let (tx, rx) = mpsc::channel(self.shared.queue_capacity);
        let kick = Arc::new(Kick::default());
        let mut state = self.lock();
        let id = state.next_conn_id;
        state.next_conn_id += 1;
        state.conns.insert(
            id,
            Peer {
                user: user.clone(),
                session,
                tx,
                kick: kick.clone(),
            },
        );
        let first = {
            let entry = state.online.entry(user.id).or_insert((user.clone(), 0));
            entry.1 += 1;
            entry.1 == 1
        };
        if first {
            let text = format!("{} joined.", user.name);
            state.broadcast(user.clone(), ServerBody::Join(text));
        }
        let users = state.online.values().map(|(u, _)| u.clone()).collect();
        state.send_to(id, user, ServerBody::List(users));
        Membership { id, rx, kick }
    }

    /// Removes a socket: `left` to the others when it was the user's last.
    pub fn leave(&self, id: ConnId) {
        let mut state = self.lock();
        let Some(peer) = state.conns.remove(&id) else {
            return;
        };
        let last = match state.online.get_mut(&peer.user.id) {
            Some(entry) => {
                entry.1 -= 1;
                entry.1 == 0
            }
            None => false,
        };
        if last {
            state.online.remove(&peer.user.id);
            let text = format!("{} left.", peer.user.name);
            state.broadcast(peer.user, ServerBody::Left(text));
        }
    }

    /// Broadcasts a chat line from socket `id`'s user. `text` is already validated.
    pub fn chat(&self, id: ConnId, text: String) {
        let mut state = self.lock();
        if let Some(user) = state.conns.get(&id).map(|p| p.user.clone()) {
            state.broadcast(user, ServerBody::Chat(text));
        }
    }

    /// Sends an `error` to socket `id` alone.
    pub fn reject(&self, id: ConnId, reason: impl Into<String>) {
        let mut state = self.lock();
        if let Some(user) = state.conns.get(&id).map(|p| p.user.clone()) {
            state.send_to(id, user, ServerBody::Error(reason.into()));
        }
    }

    /// Closes every socket of a signed-out session with `code`.
    pub fn close_session(&self, session: u64, code: u16) {
        let state = self.lock();
        for peer in state.conns.values().filter(|p| p.session == session) {
            peer.kick.fire(code);
        }
    }

    /// The users online now, ordered by id.
    pub fn online(&self) -> Vec<User> {
        self.lock()
            .online
            .values()
            .map(|(u, _)| u.clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before anything can panic.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl State {
    fn envelope(&mut self, user: User, body: ServerBody) -> Frame {
        let msg = ServerMessage {
            id: self.next_message_id,
            ts: unix_millis(),
            user,
            body,
        };
        self.next_message_id += 1;
        // Our own message types always serialize.
        Frame::from(serde_json::to_string(&msg).unwrap_or_default())
    }

    fn broadcast(&mut self, user: User, body: ServerBody) {
        let frame = self.envelope(user, body);
        for peer in self.conns.values() {
            deliver(peer, frame.clone());
        }
    }

    fn send_to(&mut self, id: ConnId, user: User, body: ServerBody) {
        let frame = self.envelope(user, body);
        if let Some(peer) = self.conns.get(&id) {
            deliver(peer, frame);
        }
    }
}

/// Queues a frame, or closes a socket that has fallen too far behind.
fn deliver(peer: &Peer, frame: Frame) {
    if let Err(mpsc::error::TrySendError::Full(_)) = peer.tx.try_send(frame) {
        peer.kick.fire(CLOSE_SLOW_CONSUMER);
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

    fn next(m: &mut Membership) -> ServerMessage {
        let frame = m.rx.try_recv().expect("a frame is queued");
        serde_json::from_str(&frame).unwrap()
    }

    #[test]
    fn second_socket_of_a_user_gets_list_without_join() {
        let hub = Hub::new(8);
        let mut a = hub.join(User::new(1, "A"), 1);
        assert!(matches!(next(&mut a).body, ServerBody::Join(_)));
        assert!(matches!(next(&mut a).body, ServerBody::List(_)));
        let mut a2 = hub.join(User::new(1, "A"), 1);
        assert!(matches!(next(&mut a2).body, ServerBody::List(ref u) if u.len() == 1));
        assert!(a.rx.try_recv().is_err(), "no second join");
    }

    #[test]
    fn full_queue_kicks_with_1008() {
        let hub = Hub::new(2);
        let a = hub.join(User::new(1, "A"), 1);
        hub.chat(a.id, "x".into());
        assert_eq!(a.kick.code.load(Ordering::Acquire), CLOSE_SLOW_CONSUMER);
    }
}
