//! What a socket says in its rooms: chat lines (with their mentions), read markers and
//! typing. Only a member may speak in a room; anything else is answered, or dropped, as
//! if the room did not exist.

use std::time::Instant;

use crate::store::db::Db;
use shared::{ErrorCode, Refusal, RoomId, ServerBody, Signal, User, GENERAL};

use super::{Effect, Member, State};
use crate::hub::mentions::mentioned;
use crate::hub::{ConnId, Frame};
use crate::store::messages;
use crate::store::rooms;

impl State {
    /// A chat line to `room` (`None`: `general`): refused for a non-member, answered with
    /// the original for a repeated `cid`, limited by the user's allowance, then stored
    /// and sent to the room's members.
    pub(super) fn chat(
        &mut self,
        tx: Option<&dyn Db>,
        conn: ConnId,
        room: Option<RoomId>,
        text: String,
        cid: Option<String>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(Member { user, .. }) = self.members.get(&conn).cloned() else {
            return;
        };
        let room = room.unwrap_or(GENERAL);
        if !self.speaks_in(room, user.id) {
            let refusal = Refusal::new(ErrorCode::NoSuchRoom, "no such room").for_cid(cid);
            crate::metrics::message_refused(&refusal.code);
            self.send(conn, user, ServerBody::Error(refusal), effects);
            return;
        }
        if let Some(cid) = &cid {
            let found = self.store(tx, |tx| messages::by_cid(tx, user.id, cid));
            if let Some(Some(original)) = found {
                let frame = Frame::from(original.json);
                effects.push(Effect::Send(conn, original.id, frame));
                return;
            }
        }
        if !self.allowances.take(user.id, Instant::now()) {
            let reason = "slow down: you are sending messages too fast";
            let refusal = Refusal::new(ErrorCode::RateLimited, reason).for_cid(cid);
            crate::metrics::message_refused(&refusal.code);
            self.send(conn, user, ServerBody::Error(refusal), effects);
            return;
        }
        let mentions = self.mentions(tx, room, &text, &user);
        let body = ServerBody::Chat {
            text,
            cid,
            mentions: mentions.clone(),
        };
        let to = self.rooms.audience(room);
        let id = self.broadcast(tx, user, Some(room), body, to, Some(conn), effects);
        if !mentions.is_empty() {
            self.store(tx, |tx| rooms::add_mentions(tx, room, id, &mentions));
        }
    }

    /// Moves the user's read marker in `room` up to `id` (never past the newest id given
    /// out); when it moved, their other sockets are told. A marker for a room the user is
    /// not in is ignored.
    pub(super) fn read(
        &mut self,
        tx: Option<&dyn Db>,
        conn: ConnId,
        room: RoomId,
        id: u64,
        effects: &mut Vec<Effect>,
    ) {
        let Some(Member { user, .. }) = self.members.get(&conn).cloned() else {
            return;
        };
        if !self.speaks_in(room, user.id) {
            return;
        }
        let last = id.min(self.next_id.saturating_sub(1));
        let moved = self.store(tx, |tx| rooms::set_read(tx, room, user.id, last));
        if moved == Some(true) {
            let frame = signal(&Signal::Read { room, last });
            effects.push(Effect::Read {
                frame,
                user: user.id,
                from: conn,
            });
        }
    }

    /// Relays `typing` to the room's other members, at most once per user and room in
    /// [`crate::hub::rate::TYPING_EVERY`]; extras, and typing in a room the user is not
    /// in, are dropped silently.
    pub(super) fn typing(&mut self, conn: ConnId, room: RoomId, effects: &mut Vec<Effect>) {
        let Some(Member { user, .. }) = self.members.get(&conn).cloned() else {
            return;
        };
        if !self.speaks_in(room, user.id) || !self.typing.allow(user.id, room, Instant::now()) {
            return;
        }
        let typist = user.id;
        let frame = signal(&Signal::Typing { room, user });
        let to = self.rooms.audience(room);
        effects.push(Effect::Typing { frame, to, typist });
    }

    /// Whether `room` exists and `user` is a member.
    fn speaks_in(&self, room: RoomId, user: u64) -> bool {
        self.rooms.get(room).is_some() && self.rooms.is_member(room, user)
    }

    /// The members of `room` that `text` mentions, without the sender.
    fn mentions(
        &mut self,
        tx: Option<&dyn Db>,
        room: RoomId,
        text: &str,
        sender: &User,
    ) -> Vec<u64> {
        if !text.contains('@') {
            return Vec::new();
        }
        let found = self.store(tx, |tx| {
            let mut failed = None;
            let ids = mentioned(text, sender.id, |candidate| {
                let canon = shared::canonical_name(candidate);
                match rooms::member_by_canon(tx, room, &canon) {
                    Ok(id) => id,
                    Err(err) => {
                        failed = Some(err);
                        None
                    }
                }
            });
            match failed {
                Some(err) => Err(err),
                None => Ok(ids),
            }
        });
        found.unwrap_or_default()
    }
}

/// An id-less signal, encoded.
fn signal(signal: &Signal) -> Frame {
    // Our own signal types always serialize.
    Frame::from(serde_json::to_string(signal).unwrap_or_default())
}
