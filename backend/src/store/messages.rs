//! Stored events (`join`, `left`, `chat`, `room_join`, `room_leave`), kept as their exact
//! JSON envelope with the room they belong to, and the message-id watermark.

use super::db::{self, args, Db, DbError};

/// Meta key: every id below this value may have been sent already.
const ID_RESERVED: &str = "id_reserved";

/// One stored message: its id and the envelope exactly as it was broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: u64,
    pub json: String,
}

/// What [`insert`] stores besides the envelope: who it is about, in which room, its
/// `type`, and the sender's client id.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub id: u64,
    pub user_id: u64,
    pub room: shared::RoomId,
    pub kind: &'a str,
    pub cid: Option<&'a str>,
}

impl Row<'_> {
    /// A chat line in `general` without a client id.
    pub fn chat(id: u64, user_id: u64) -> Self {
        Row {
            id,
            user_id,
            room: shared::GENERAL,
            kind: "chat",
            cid: None,
        }
    }
}

pub fn insert(db: &dyn Db, row: Row<'_>, json: &str) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO messages (id, user_id, room_id, kind, cid, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![row.id, row.user_id, row.room, row.kind, row.cid, json],
    )?;
    Ok(())
}

/// The message `user_id` already sent with this client id, if any.
pub fn by_cid(db: &dyn Db, user_id: u64, cid: &str) -> Result<Option<Stored>, DbError> {
    db.query_opt(
        "SELECT id, json FROM messages WHERE user_id = ?1 AND cid = ?2",
        args![user_id, cid],
    )?
    .map(|r| stored(&r))
    .transpose()
}

/// Whose messages a history reads: one room's, or those of every room a user is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Room(shared::RoomId),
    /// `general` and every room the user is a member of.
    RoomsOf(u64),
}

/// The newest messages of `scope` with `after < id < until`, oldest first: at most
/// `limit` of them, and at most `max_bytes` of JSON counting a separating comma each.
/// `true` when older ones were left out.
pub fn between(
    db: &dyn Db,
    scope: Scope,
    after: u64,
    until: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<(Vec<Stored>, bool), DbError> {
    let rows = match scope {
        Scope::Room(room) => db.query(
            "SELECT id, json FROM messages WHERE room_id = ?4 AND id > ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3",
            args![after, until, limit + 1, room],
        )?,
        Scope::RoomsOf(user) => db.query(
            "SELECT id, json FROM messages WHERE id > ?1 AND id < ?2 AND (room_id = ?5
                 OR room_id IN (SELECT room_id FROM members WHERE user_id = ?4))
             ORDER BY id DESC LIMIT ?3",
            args![after, until, limit + 1, user, shared::GENERAL],
        )?,
    };
    let mut found = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    for r in &rows {
        let stored = stored(r)?;
        let cost = stored.json.len() + 1;
        if found.len() == limit || bytes + cost > max_bytes {
            truncated = true;
            break;
        }
        bytes += cost;
        found.push(stored);
    }
    found.reverse();
    Ok((found, truncated))
}

/// Up to `limit` messages of `general` with ids below `before`, oldest first: the
/// history of clients that know no rooms, which must never show another room's events.
pub fn before(db: &dyn Db, before: u64, limit: usize) -> Result<Vec<Stored>, DbError> {
    let mut rows = db
        .query(
            "SELECT id, json FROM messages WHERE room_id = 1 AND id < ?1 ORDER BY id DESC LIMIT ?2",
            args![before, limit],
        )?
        .iter()
        .map(stored)
        .collect::<Result<Vec<_>, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Every stored message with `after < id`, oldest first, at most `limit`: what another
/// server stored since this one last looked.
pub fn after(db: &dyn Db, after: u64, limit: usize) -> Result<Vec<Stored>, DbError> {
    db.query(
        "SELECT id, json FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
        args![after, limit],
    )?
    .iter()
    .map(stored)
    .collect()
}

/// The highest stored id, 0 when there is none.
pub fn max_id(db: &dyn Db) -> Result<u64, DbError> {
    db.query_one("SELECT COALESCE(MAX(id), 0) FROM messages", args![])?
        .uint(0)
}

/// The first id this run may use: above every stored message and every id an earlier
/// run may have sent without storing it (`list`, `error`, `history`).
pub fn first_free_id(db: &dyn Db) -> Result<u64, DbError> {
    Ok((max_id(db)? + 1).max(reserved(db)?))
}

/// Ids below the stored watermark count as possibly used.
pub fn reserved(db: &dyn Db) -> Result<u64, DbError> {
    match db.query_opt("SELECT value FROM meta WHERE key = ?1", args![ID_RESERVED])? {
        Some(row) => row.uint(0),
        None => Ok(0),
    }
}

/// Moves the watermark up to `until`.
pub fn reserve(db: &dyn Db, until: u64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        args![ID_RESERVED, until],
    )?;
    Ok(())
}

fn stored(r: &db::Row) -> Result<Stored, DbError> {
    Ok(Stored {
        id: r.uint(0)?,
        json: r.text(1)?,
    })
}
