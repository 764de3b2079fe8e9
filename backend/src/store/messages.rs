//! Stored events (`join`, `left`, `chat`, `room_join`, `room_leave`), kept as their exact
//! JSON envelope with the room they belong to, and the message-id watermark.

use rusqlite::{params, Connection, OptionalExtension};

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

pub fn insert(conn: &Connection, row: Row<'_>, json: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages (id, user_id, room_id, kind, cid, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.id as i64,
        row.user_id as i64,
        clamp(row.room),
        row.kind,
        row.cid,
        json
    ])?;
    Ok(())
}

/// The message `user_id` already sent with this client id, if any.
pub fn by_cid(conn: &Connection, user_id: u64, cid: &str) -> rusqlite::Result<Option<Stored>> {
    conn.prepare_cached("SELECT id, json FROM messages WHERE user_id = ?1 AND cid = ?2")?
        .query_row(params![user_id as i64, cid], row)
        .optional()
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
/// `true` when older ones were left out. Rows are read newest first and reading stops at
/// the budget, so a long history never passes through memory whole.
pub fn between(
    conn: &Connection,
    scope: Scope,
    after: u64,
    until: u64,
    limit: usize,
    max_bytes: usize,
) -> rusqlite::Result<(Vec<Stored>, bool)> {
    let (sql, key) = match scope {
        Scope::Room(room) => (
            "SELECT id, json FROM messages WHERE room_id = ?4 AND id > ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3",
            room,
        ),
        Scope::RoomsOf(user) => (
            "SELECT id, json FROM messages WHERE id > ?1 AND id < ?2 AND (room_id = ?5
                 OR room_id IN (SELECT room_id FROM members WHERE user_id = ?4))
             ORDER BY id DESC LIMIT ?3",
            user,
        ),
    };
    let mut statement = conn.prepare_cached(sql)?;
    let general = shared::GENERAL as i64;
    let mut rows = match scope {
        Scope::Room(_) => statement.query(params![
            clamp(after),
            clamp(until),
            limit as i64 + 1,
            clamp(key)
        ])?,
        Scope::RoomsOf(_) => statement.query(params![
            clamp(after),
            clamp(until),
            limit as i64 + 1,
            clamp(key),
            general
        ])?,
    };
    let mut found = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    while let Some(r) = rows.next()? {
        let stored = row(r)?;
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
pub fn before(conn: &Connection, before: u64, limit: usize) -> rusqlite::Result<Vec<Stored>> {
    let mut rows: Vec<Stored> = conn
        .prepare_cached(
            "SELECT id, json FROM messages WHERE room_id = 1 AND id < ?1 ORDER BY id DESC LIMIT ?2",
        )?
        .query_map(params![clamp(before), limit as i64], row)?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// The first id this run may use: above every stored message and every id an earlier
/// run may have sent without storing it (`list`, `error`, `history`).
pub fn first_free_id(conn: &Connection) -> rusqlite::Result<u64> {
    let max_stored: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
        r.get(0)
    })?;
    let reserved = reserved(conn)?;
    Ok((max_stored as u64 + 1).max(reserved))
}

/// Ids below the stored watermark count as possibly used.
pub fn reserved(conn: &Connection) -> rusqlite::Result<u64> {
    let value: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            params![ID_RESERVED],
            |r| r.get(0),
        )
        .optional()?;
    Ok(value.unwrap_or(0) as u64)
}

/// Moves the watermark up to `until`.
pub fn reserve(conn: &Connection, until: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![ID_RESERVED, until as i64])?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: r.get::<_, i64>(0)? as u64,
        json: r.get(1)?,
    })
}

/// SQLite integers are signed; ids from clients may be any `u64`.
fn clamp(id: u64) -> i64 {
    id.min(i64::MAX as u64) as i64
}
