//! Rooms, memberships (with each member's read marker and mute), and mentions.
//!
//! Plain functions on a connection, so the hub can call them inside its batch
//! transaction and request handlers on the shared connection. Everything that creates
//! a stored event (joining, leaving, inviting) is done by the hub; handlers only read.

use rusqlite::{params, Connection, OptionalExtension};
use shared::{Room, RoomId, RoomKind, User, GENERAL};

use super::messages::Stored;

/// Unread and mention counts stop at this many: counting more costs time and says nothing.
pub const COUNT_CAP: u64 = 1000;

/// A room as stored, without anyone's own state in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub id: RoomId,
    pub slug: String,
    pub name: String,
    pub topic: String,
    pub kind: RoomKind,
}

/// Why a room could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(RoomId),
    /// A room whose name looks the same exists.
    NameTaken,
}

const ROOM_COLUMNS: &str = "r.id, r.slug, r.name, r.topic, r.kind";

fn room_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RoomRow> {
    let kind: String = r.get(4)?;
    Ok(RoomRow {
        id: r.get::<_, i64>(0)? as u64,
        slug: r.get(1)?,
        name: r.get(2)?,
        topic: r.get(3)?,
        // The column has a CHECK constraint: only the three kinds are stored.
        kind: RoomKind::parse(&kind).unwrap_or(RoomKind::Private),
    })
}

fn user_row(id: i64, name: String, is_account: bool) -> User {
    if is_account {
        User::new(id as u64, name)
    } else {
        User::guest(id as u64, name)
    }
}

/// The room with this id, if it exists.
pub fn room(conn: &Connection, id: RoomId) -> rusqlite::Result<Option<RoomRow>> {
    conn.prepare_cached(&format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = ?1"
    ))?
    .query_row(params![clamp(id)], room_row)
    .optional()
}

/// Every room, for the hub to load at start.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<RoomRow>> {
    conn.prepare(&format!("SELECT {ROOM_COLUMNS} FROM rooms r ORDER BY r.id"))?
        .query_map([], room_row)?
        .collect()
}

/// Every membership of every room but `general` (whose members are all users), as
/// `(room, user)`, for the hub to load at start.
pub fn memberships(conn: &Connection) -> rusqlite::Result<Vec<(RoomId, u64)>> {
    conn.prepare("SELECT room_id, user_id FROM members WHERE room_id <> ?1")?
        .query_map(params![GENERAL as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })?
        .collect()
}

pub fn is_member(conn: &Connection, room: RoomId, user: u64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .query_row(params![clamp(room), clamp(user)], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The room if `user` may see it: a public room, or one they are a member of. A private
/// room or DM is `None` for a non-member, exactly like a room that does not exist.
pub fn visible(conn: &Connection, room: RoomId, user: u64) -> rusqlite::Result<Option<RoomRow>> {
    let Some(row) = self::room(conn, room)? else {
        return Ok(None);
    };
    if row.kind == RoomKind::Public || is_member(conn, room, user)? {
        Ok(Some(row))
    } else {
        Ok(None)
    }
}

/// The room as `user` sees it (their unread count, marker, mute), if they may see it.
pub fn view(conn: &Connection, room: RoomId, user: u64) -> rusqlite::Result<Option<Room>> {
    match visible(conn, room, user)? {
        Some(row) => view_of(conn, row, user).map(Some),
        None => Ok(None),
    }
}

/// `row` as `user` sees it; `member` is false and the counts zero when they are not in it.
pub fn view_of(conn: &Connection, row: RoomRow, user: u64) -> rusqlite::Result<Room> {
    let mark: Option<(i64, bool)> = conn
        .prepare_cached("SELECT read_id, muted FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .query_row(params![clamp(row.id), clamp(user)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let members: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM members WHERE room_id = ?1")?
        .query_row(params![clamp(row.id)], |r| r.get(0))?;
    let last_id: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1")?
        .query_row(params![clamp(row.id)], |r| r.get(0))?;
    let peer = match row.kind {
        RoomKind::Dm => conn
            .prepare_cached(
                "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM members m
                 JOIN users u ON u.id = m.user_id
                 WHERE m.room_id = ?1 AND m.user_id <> ?2 LIMIT 1",
            )?
            .query_row(params![clamp(row.id), clamp(user)], |r| {
                Ok(user_row(r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?,
        _ => None,
    };
    let (member, read, muted) = match mark {
        Some((read, muted)) => (true, read as u64, muted),
        None => (false, 0, false),
    };
    let (unread, mentions) = if member {
        counts(conn, row.id, user, read)?
    } else {
        (0, 0)
    };
    Ok(Room {
        id: row.id,
        slug: row.slug,
        name: row.name,
        topic: row.topic,
        kind: row.kind,
        members: members as u64,
        peer,
        member,
        unread,
        mentions,
        last_id: last_id as u64,
        read,
        muted,
    })
}

/// Other users' chat lines after `read`, and mentions of `user` after it; each counted up
/// to [`COUNT_CAP`].
fn counts(conn: &Connection, room: RoomId, user: u64, read: u64) -> rusqlite::Result<(u64, u64)> {
    let unread: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages
             WHERE room_id = ?1 AND id > ?2 AND kind = 'chat' AND user_id <> ?3 LIMIT ?4)",
        )?
        .query_row(
            params![clamp(room), clamp(read), clamp(user), COUNT_CAP as i64],
            |r| r.get(0),
        )?;
    let mentions: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM mentions
             WHERE user_id = ?1 AND room_id = ?2 AND message_id > ?3 LIMIT ?4)",
        )?
        .query_row(
            params![clamp(user), clamp(room), clamp(read), COUNT_CAP as i64],
            |r| r.get(0),
        )?;
    Ok((unread as u64, mentions as u64))
}

/// The rooms `user` is a member of, as they see them, `general` first, then by id.
pub fn rooms_of(conn: &Connection, user: u64) -> rusqlite::Result<Vec<Room>> {
    let rows: Vec<RoomRow> = conn
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = ?1 ORDER BY r.id"
        ))?
        .query_map(params![clamp(user)], room_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|row| view_of(conn, row, user))
        .collect()
}

/// What `GET /api/rooms` lists: the user's rooms, then the public rooms they are not in.
pub fn directory(conn: &Connection, user: u64) -> rusqlite::Result<Vec<Room>> {
    let mut rooms = rooms_of(conn, user)?;
    let others: Vec<RoomRow> = conn
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.kind = 'public' AND NOT EXISTS (
                 SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = ?1)
             ORDER BY r.id"
        ))?
        .query_map(params![clamp(user)], room_row)?
        .collect::<Result<_, _>>()?;
    for row in others {
        rooms.push(view_of(conn, row, user)?);
    }
    Ok(rooms)
}

/// Up to `limit` members of a room, ordered by name.
pub fn members(conn: &Connection, room: RoomId, limit: usize) -> rusqlite::Result<Vec<User>> {
    conn.prepare_cached(
        "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM members m
         JOIN users u ON u.id = m.user_id WHERE m.room_id = ?1
         ORDER BY u.name COLLATE NOCASE, u.id LIMIT ?2",
    )?
    .query_map(params![clamp(room), limit as i64], |r| {
        Ok(user_row(r.get(0)?, r.get(1)?, r.get(2)?))
    })?
    .collect()
}

/// The user with this id, if there is one.
pub fn user(conn: &Connection, id: u64) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached("SELECT id, name, password_hash IS NOT NULL FROM users WHERE id = ?1")?
        .query_row(params![clamp(id)], |r| {
            Ok(user_row(r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
}

/// The member of `room` whose name has this canonical form, if any: how `@Name` finds
/// the user it mentions.
pub fn member_by_canon(
    conn: &Connection,
    room: RoomId,
    canon: &str,
) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached(
        "SELECT u.id FROM users u JOIN members m ON m.user_id = u.id AND m.room_id = ?1
         WHERE u.canon = ?2 ORDER BY u.password_hash IS NOT NULL DESC, u.id DESC LIMIT 1",
    )?
    .query_row(params![clamp(room), canon], |r| r.get::<_, i64>(0))
    .optional()
    .map(|id| id.map(|id| id as u64))
}

/// Creates a public or private room with a free slug derived from its name. The caller
/// adds the creator as a member.
pub fn create(
    conn: &Connection,
    name: &str,
    topic: &str,
    kind: RoomKind,
    by: u64,
    now_ms: u64,
) -> rusqlite::Result<CreateOutcome> {
    let canon = shared::canonical_name(name);
    let taken = conn
        .prepare_cached("SELECT 1 FROM rooms WHERE canon = ?1")?
        .query_row(params![canon], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Ok(CreateOutcome::NameTaken);
    }
    let slug = free_slug(conn, &shared::slug_for(name))?;
    conn.prepare_cached(
        "INSERT INTO rooms (slug, name, canon, topic, kind, created_by, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        slug,
        name,
        canon,
        topic,
        kind.as_str(),
        clamp(by),
        now_ms as i64
    ])?;
    Ok(CreateOutcome::Created(conn.last_insert_rowid() as u64))
}

/// `base`, or `base-2`, `base-3`... whichever is free first.
fn free_slug(conn: &Connection, base: &str) -> rusqlite::Result<String> {
    let mut taken = conn.prepare_cached("SELECT 1 FROM rooms WHERE slug = ?1")?;
    let mut n = 1u64;
    loop {
        let slug = if n == 1 {
            base.to_owned()
        } else {
            format!("{base}-{n}")
        };
        if taken
            .query_row(params![slug], |_| Ok(()))
            .optional()?
            .is_none()
        {
            return Ok(slug);
        }
        n += 1;
    }
}

/// The one DM room of users `a` and `b`, and whether this call created it (with both as
/// members). The pair's key is unique, so two racing calls cannot make two rooms.
pub fn dm(conn: &Connection, a: u64, b: u64, now_ms: u64) -> rusqlite::Result<(RoomId, bool)> {
    let key = format!("{}:{}", a.min(b), a.max(b));
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM rooms WHERE dm_key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok((id as u64, false));
    }
    let slug = free_slug(conn, &format!("dm-{}-{}", a.min(b), a.max(b)))?;
    conn.prepare_cached(
        "INSERT INTO rooms (slug, name, canon, topic, kind, dm_key, created_by, created_ms)
         VALUES (?1, '', NULL, '', 'dm', ?2, ?3, ?4)",
    )?
    .execute(params![slug, key, clamp(a), now_ms as i64])?;
    let id = conn.last_insert_rowid() as u64;
    add_member(conn, id, a, now_ms)?;
    add_member(conn, id, b, now_ms)?;
    Ok((id, true))
}

/// Makes `user` a member, with everything stored so far counted as read. `false` when
/// they already were one.
pub fn add_member(
    conn: &Connection,
    room: RoomId,
    user: u64,
    now_ms: u64,
) -> rusqlite::Result<bool> {
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO members (room_id, user_id, read_id, joined_ms)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1), ?3)",
        )?
        .execute(params![clamp(room), clamp(user), now_ms as i64])?;
    Ok(added == 1)
}

/// Ends a membership. `false` when there was none.
pub fn remove_member(conn: &Connection, room: RoomId, user: u64) -> rusqlite::Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .execute(params![clamp(room), clamp(user)])?;
    Ok(removed == 1)
}

/// Moves the read marker up to `id`; never down. `true` when it moved.
pub fn set_read(conn: &Connection, room: RoomId, user: u64, id: u64) -> rusqlite::Result<bool> {
    let moved = conn
        .prepare_cached(
            "UPDATE members SET read_id = ?3 WHERE room_id = ?1 AND user_id = ?2 AND read_id < ?3",
        )?
        .execute(params![clamp(room), clamp(user), clamp(id)])?;
    Ok(moved == 1)
}

/// Mutes or unmutes a room for a member. `false` when they are not one.
pub fn set_muted(
    conn: &Connection,
    room: RoomId,
    user: u64,
    muted: bool,
) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached("UPDATE members SET muted = ?3 WHERE room_id = ?1 AND user_id = ?2")?
        .execute(params![clamp(room), clamp(user), muted])?;
    Ok(changed == 1)
}

/// Records that message `message` in `room` mentions each of `users`.
pub fn add_mentions(
    conn: &Connection,
    room: RoomId,
    message: u64,
    users: &[u64],
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO mentions (user_id, room_id, message_id) VALUES (?1, ?2, ?3)",
    )?;
    for user in users {
        insert.execute(params![clamp(*user), clamp(room), clamp(message)])?;
    }
    Ok(())
}

/// Up to `limit` stored events of `room` with ids below `before`, oldest first.
pub fn history(
    conn: &Connection,
    room: RoomId,
    before: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Stored>> {
    let mut rows: Vec<Stored> = conn
        .prepare_cached(
            "SELECT id, json FROM messages WHERE room_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        )?
        .query_map(params![clamp(room), clamp(before), limit as i64], |r| {
            Ok(Stored {
                id: r.get::<_, i64>(0)? as u64,
                json: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// SQLite integers are signed; ids from clients may be any `u64`.
fn clamp(id: u64) -> i64 {
    id.min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts;

    fn db() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn every_new_user_is_a_member_of_general_and_nothing_else() {
        let (_dir, store) = db();
        let conn = store.writer().unwrap();
        let conn = crate::store::lock(&conn);
        let ada = accounts::create_user(&conn, "Ada", None, 1)
            .unwrap()
            .unwrap();
        let rooms = rooms_of(&conn, ada.id).unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].slug, "general");
        assert!(rooms[0].member);
    }

    #[test]
    fn private_rooms_and_dms_are_invisible_to_non_members() {
        let (_dir, store) = db();
        let conn = store.writer().unwrap();
        let conn = crate::store::lock(&conn);
        let ada = accounts::create_user(&conn, "Ada", Some("h"), 1)
            .unwrap()
            .unwrap();
        let bo = accounts::create_user(&conn, "Bo", None, 1)
            .unwrap()
            .unwrap();
        let cy = accounts::create_user(&conn, "Cy", None, 1)
            .unwrap()
            .unwrap();
        let CreateOutcome::Created(secret) =
            create(&conn, "Secret", "", RoomKind::Private, ada.id, 1).unwrap()
        else {
            panic!("created");
        };
        add_member(&conn, secret, ada.id, 1).unwrap();
        let (dm, created) = dm(&conn, ada.id, bo.id, 1).unwrap();
        assert!(created);
        assert_eq!(self::dm(&conn, bo.id, ada.id, 2).unwrap(), (dm, false));
        assert!(view(&conn, secret, bo.id).unwrap().is_none());
        assert!(view(&conn, dm, cy.id).unwrap().is_none());
        let seen = view(&conn, dm, bo.id).unwrap().unwrap();
        assert_eq!(seen.peer.map(|p| p.id), Some(ada.id));
        assert_eq!(
            create(&conn, "SECRET", "", RoomKind::Public, ada.id, 1).unwrap(),
            CreateOutcome::NameTaken
        );
    }

    #[test]
    fn read_markers_never_move_backwards() {
        let (_dir, store) = db();
        let conn = store.writer().unwrap();
        let conn = crate::store::lock(&conn);
        let ada = accounts::create_user(&conn, "Ada", None, 1)
            .unwrap()
            .unwrap();
        assert!(set_read(&conn, GENERAL, ada.id, 50).unwrap());
        assert!(!set_read(&conn, GENERAL, ada.id, 40).unwrap());
        assert_eq!(view(&conn, GENERAL, ada.id).unwrap().unwrap().read, 50);
    }

    #[test]
    fn slugs_stay_unique() {
        let (_dir, store) = db();
        let conn = store.writer().unwrap();
        let conn = crate::store::lock(&conn);
        let a = create(&conn, "Design!", "", RoomKind::Public, 1, 1).unwrap();
        let b = create(&conn, "Design?", "", RoomKind::Public, 1, 1).unwrap();
        let slugs: Vec<String> = [a, b]
            .iter()
            .map(|o| match o {
                CreateOutcome::Created(id) => room(&conn, *id).unwrap().unwrap().slug,
                CreateOutcome::NameTaken => panic!("distinct names"),
            })
            .collect();
        assert_eq!(slugs, ["design", "design-2"]);
    }
}
