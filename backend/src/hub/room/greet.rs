//! The greeting of a room-aware socket (`/ws/chat?v=2`) after `join` and `list`: its
//! rooms, then history, bounded so that the whole greeting fits in half the socket's
//! queue.

use crate::store::db::Db;
use shared::{ServerBody, User};

use super::{Effect, History, State, HISTORY_RECENT_PER_ROOM, HISTORY_RESUME, HISTORY_ROOMS};
use crate::hub::ConnId;
use crate::store::messages::Scope;
use crate::store::rooms;

impl State {
    /// `rooms`, then without `since` one `history` per room (the [`HISTORY_ROOMS`] with
    /// the newest activity), or with it one `history` of every room the user is in. Only
    /// events before `live_from`, the socket's first live id, are replayed.
    pub(super) fn greet_rooms(
        &mut self,
        tx: Option<&dyn Db>,
        conn: ConnId,
        user: User,
        since: Option<u64>,
        live_from: u64,
        effects: &mut Vec<Effect>,
    ) {
        let rooms = self
            .store(tx, |tx| rooms::rooms_of(tx, user.id))
            .unwrap_or_default();
        let mut active: Vec<(u64, u64)> = rooms.iter().map(|r| (r.last_id, r.id)).collect();
        self.send(conn, user.clone(), ServerBody::Rooms(rooms), effects);
        if let Some(after) = since {
            let history = History {
                scope: Scope::RoomsOf(user.id),
                room: None,
                after,
                until: live_from,
                limit: HISTORY_RESUME,
                max_bytes: self.history_budget(),
            };
            let (id, frame) = self.history_frame(tx, user, history);
            effects.push(Effect::Send(conn, id, frame));
            return;
        }
        // Newest activity first picks the rooms; they are then sent in the list's order.
        active.sort_unstable_by(|a, b| b.cmp(a));
        active.truncate(HISTORY_ROOMS);
        active.sort_unstable_by_key(|&(_, room)| room);
        let max_bytes = self.history_budget() / active.len().max(1);
        for (_, room) in active {
            let history = History {
                scope: Scope::Room(room),
                room: Some(room),
                after: 0,
                until: live_from,
                limit: HISTORY_RECENT_PER_ROOM,
                max_bytes,
            };
            let (id, frame) = self.history_frame(tx, user.clone(), history);
            effects.push(Effect::Send(conn, id, frame));
        }
    }
}
