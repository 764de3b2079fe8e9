//! Playing out a batch's effects once it is committed (or not): each frame to the
//! sockets allowed to have it, in the order the batch made them.

use shared::{ErrorCode, Refusal, ServerBody, CLOSE_INTERNAL};

use super::{Effect, Member, Peer, State};
use crate::hub::rooms::Audience;
use crate::hub::{ConnId, Frame, RoomRefusal};

impl State {
    /// Plays out a batch's effects in order; stored broadcasts only if they were committed,
    /// other frames only if their ids are safe on disk.
    pub(super) fn play(&mut self, effects: Vec<Effect>, committed: bool) {
        // Ids below this cannot be handed out again after a crash.
        let mut safe = self.reserved;
        if let (true, Some(stored)) = (committed, self.stored_max) {
            safe = safe.max(stored + 1);
        }
        for effect in effects {
            match effect {
                Effect::Register(conn, peer) => {
                    self.by_user.entry(peer.user).or_default().push(conn);
                    self.peers.insert(conn, peer);
                }
                Effect::Unregister(conn) => {
                    if let Some(peer) = self.peers.remove(&conn) {
                        if let Some(conns) = self.by_user.get_mut(&peer.user) {
                            conns.retain(|c| *c != conn);
                            if conns.is_empty() {
                                self.by_user.remove(&peer.user);
                            }
                        }
                    }
                }
                Effect::Broadcast { frame, to, .. } if committed => self.to_audience(&frame, to),
                Effect::Broadcast {
                    origin: Some(conn),
                    cid,
                    ..
                } => {
                    if let Some(Member { user, .. }) = self.members.get(&conn).cloned() {
                        let reason = "your message could not be saved; please send it again";
                        let refusal = Refusal::new(ErrorCode::NotSaved, reason).for_cid(cid);
                        let body = ServerBody::Error(refusal);
                        let (id, json) = match self.cluster.as_ref() {
                            // No ids could be taken from the shared database: the refusal
                            // repeats the last id this server handed out, which never
                            // comes back as another event's.
                            Some(cluster) if self.next_id >= safe => {
                                let id = cluster.seen.max(safe.saturating_sub(1));
                                (id, self.envelope_at(id, user, None, body))
                            }
                            _ => self.envelope(user, None, body),
                        };
                        let frame = Frame::from(json);
                        match self.cluster.is_some() {
                            true => self.push(conn, frame),
                            false => self.deliver(conn, id, frame, safe),
                        }
                    }
                }
                Effect::Broadcast { .. } => {}
                Effect::Send(conn, id, frame) => self.deliver(conn, id, frame, safe),
                Effect::ToUser(user, id, frame) if committed => {
                    let conns: Vec<ConnId> = self.by_user.get(&user).cloned().unwrap_or_default();
                    for conn in conns {
                        if self.peers.get(&conn).is_some_and(|p| p.v2) {
                            self.deliver(conn, id, frame.clone(), safe);
                        }
                    }
                }
                Effect::ToUser(..) => {}
                Effect::Typing { frame, to, typist } => match to {
                    Audience::Everyone => {
                        for peer in self.peers.values() {
                            if peer.v2 && peer.user != typist {
                                peer.outbox.push_signal(frame.clone());
                            }
                        }
                    }
                    Audience::Users(users) => {
                        for user in users.into_iter().filter(|u| *u != typist) {
                            for peer in self.room_sockets(user) {
                                peer.outbox.push_signal(frame.clone());
                            }
                        }
                    }
                },
                Effect::Read { frame, user, from } if committed => {
                    let conns = self.by_user.get(&user).cloned().unwrap_or_default();
                    for conn in conns.into_iter().filter(|c| *c != from) {
                        if let Some(peer) = self.peers.get(&conn).filter(|p| p.v2) {
                            peer.outbox.push_signal(frame.clone());
                        }
                    }
                }
                Effect::Read { .. } => {}
                Effect::Reply(reply, result) => {
                    let result = match result {
                        Ok(_) if !committed => Err(RoomRefusal::NotSaved),
                        result => result,
                    };
                    // The asker may have given up waiting; nothing to do then.
                    let _ = reply.send(result);
                }
                Effect::Relay { frame, to } => self.to_audience(&frame, to),
                Effect::Done(done) => {
                    let _ = done.send(());
                }
                Effect::RelayToUser(user, frame) => {
                    for peer in self.room_sockets(user) {
                        peer.outbox.push(frame.clone());
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

    /// A stored event for every socket of its audience.
    fn to_audience(&self, frame: &Frame, to: Audience) {
        match to {
            Audience::Everyone => {
                for peer in self.peers.values() {
                    peer.outbox.push(frame.clone());
                }
            }
            Audience::Users(users) => {
                for user in users {
                    for peer in self.room_sockets(user) {
                        peer.outbox.push(frame.clone());
                    }
                }
            }
        }
    }

    /// Queues a frame for one socket, whatever its id.
    fn push(&self, conn: ConnId, frame: Frame) {
        if let Some(peer) = self.peers.get(&conn) {
            peer.outbox.push(frame);
        }
    }

    /// The room-aware sockets of `user`.
    fn room_sockets(&self, user: u64) -> impl Iterator<Item = &Peer> {
        self.by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|conn| self.peers.get(conn))
            .filter(|peer| peer.v2)
    }

    /// Queues a frame for one socket, or closes the socket when the frame's id is not safe.
    fn deliver(&self, conn: ConnId, id: u64, frame: Frame, safe: u64) {
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        if id < safe {
            peer.outbox.push(frame);
        } else {
            peer.outbox
                .close_with(CLOSE_INTERNAL, "server error; please reconnect");
        }
    }
}
