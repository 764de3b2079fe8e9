//! `history` frames: stored events replayed to a socket, as the exact JSON they were
//! broadcast with, bounded in count and bytes.

use crate::store::db::Db;
use serde::Serialize;
use serde_json::value::RawValue;
use shared::{RoomId, User};

use super::{unix_millis, State, HISTORY_MAX_BYTES};
use crate::hub::Frame;
use crate::store::messages::{self, Scope, Stored};

impl State {
    /// Most bytes of history one frame may hold: never more than half a socket's queue.
    pub(super) fn history_budget(&self) -> usize {
        HISTORY_MAX_BYTES.min(self.settings.queue_bytes / 2)
    }

    /// The `history` envelope with the newest stored messages that `history` asks for
    /// (and that fit in its byte budget), oldest first. Stored messages go in as the exact
    /// JSON they were broadcast with, never decoded and encoded again. Without storage,
    /// the frame holds no messages and says `truncated`.
    pub(super) fn history_frame(
        &mut self,
        tx: Option<&dyn Db>,
        user: User,
        history: History,
    ) -> (u64, Frame) {
        let id = self.next_id;
        self.next_id += 1;
        let ts = unix_millis();
        let envelope = |data: Vec<&RawValue>, truncated: bool| {
            let envelope = HistoryEnvelope {
                id,
                kind: "history",
                user: &user,
                data,
                ts,
                room: history.room,
                truncated,
            };
            serde_json::to_string(&envelope).unwrap_or_default()
        };
        // The envelope with no messages, measured, leaves the rest of the budget to them.
        let budget = history
            .max_bytes
            .saturating_sub(envelope(Vec::new(), true).len());
        let History {
            scope,
            after,
            until,
            limit,
            ..
        } = history;
        let (stored, truncated): (Vec<Stored>, bool) = self
            .store(tx, |tx| {
                messages::between(tx, scope, after, until, limit, budget)
            })
            .unwrap_or((Vec::new(), true));
        let data: Vec<&RawValue> = stored
            .iter()
            // Stored rows were written by this server from valid JSON; one that is not is
            // left out rather than sent broken.
            .filter_map(|s| serde_json::from_str(&s.json).ok())
            .collect();
        (id, Frame::from(envelope(data, truncated)))
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
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<RoomId>,
    truncated: bool,
}

/// What a `history` frame holds: the newest events of `scope` with `after < id < until`,
/// at most `limit` of them and `max_bytes` in all; `room` is the room it is about, if one.
pub(super) struct History {
    pub scope: Scope,
    pub room: Option<RoomId>,
    pub after: u64,
    pub until: u64,
    pub limit: usize,
    pub max_bytes: usize,
}
