//! Rooms, memberships (with each member's read marker and mute), and mentions.
//!
//! Plain functions on a connection, so the hub can call them inside its batch
//! transaction and request handlers on the shared connection. Everything that creates
//! a stored event (joining, leaving, inviting) is done by the hub; handlers only read.

use super::db::{args, Db, DbError, Row};
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

/// `r.id, r.slug, r.name, r.topic, r.kind`, in that order.
fn room_row(r: &Row) -> Result<RoomRow, DbError> {
    let kind = r.text(4)?;
    Ok(RoomRow {
        id: r.uint(0)?,
        slug: r.text(1)?,
        name: r.text(2)?,
        topic: r.text(3)?,
        // The column has a CHECK constraint: only the three kinds are stored.
        kind: RoomKind::parse(&kind).unwrap_or(RoomKind::Private),
    })
}

/// `(id, name, is_account)` from `first` on.
fn user_row(r: &Row, first: usize) -> Result<User, DbError> {
    let (id, name) = (r.uint(first)?, r.text(first + 1)?);
    Ok(if r.bool(first + 2)? {
        User::new(id, name)
    } else {
        User::guest(id, name)
    })
}

fn rows<T>(found: Vec<Row>, read: impl Fn(&Row) -> Result<T, DbError>) -> Result<Vec<T>, DbError> {
    found.iter().map(read).collect()
}

/// The room with this id, if it exists.
pub fn room(db: &dyn Db, id: RoomId) -> Result<Option<RoomRow>, DbError> {
    db.query_opt(
        "SELECT r.id, r.slug, r.name, r.topic, r.kind FROM rooms r WHERE r.id = ?1",
        args![id],
    )?
    .map(|r| room_row(&r))
    .transpose()
}

/// Every room, for the hub to load at start.
pub fn all(db: &dyn Db) -> Result<Vec<RoomRow>, DbError> {
    rows(
        db.query(
            "SELECT r.id, r.slug, r.name, r.topic, r.kind FROM rooms r ORDER BY r.id",
            args![],
        )?,
        room_row,
    )
}

/// Every membership of every room but `general` (whose members are all users), as
/// `(room, user)`, for the hub to load at start.
pub fn memberships(db: &dyn Db) -> Result<Vec<(RoomId, u64)>, DbError> {
    rows(
        db.query(
            "SELECT room_id, user_id FROM members WHERE room_id <> ?1",
            args![GENERAL],
        )?,
        |r| Ok((r.uint(0)?, r.uint(1)?)),
    )
}

pub fn is_member(db: &dyn Db, room: RoomId, user: u64) -> Result<bool, DbError> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2",
            args![room, user],
        )?
        .is_some())
}

/// The room if `user` may see it: a public room, or one they are a member of. A private
/// room or DM is `None` for a non-member, exactly like a room that does not exist.
pub fn visible(db: &dyn Db, room: RoomId, user: u64) -> Result<Option<RoomRow>, DbError> {
    let Some(row) = self::room(db, room)? else {
        return Ok(None);
    };
    if row.kind == RoomKind::Public || is_member(db, room, user)? {
        Ok(Some(row))
    } else {
        Ok(None)
    }
}

/// The room as `user` sees it (their unread count, marker, mute), if they may see it.
pub fn view(db: &dyn Db, room: RoomId, user: u64) -> Result<Option<Room>, DbError> {
    match visible(db, room, user)? {
        Some(row) => view_of(db, row, user).map(Some),
        None => Ok(None),
    }
}

/// `row` as `user` sees it; `member` is false and the counts zero when they are not in it.
pub fn view_of(db: &dyn Db, row: RoomRow, user: u64) -> Result<Room, DbError> {
    let mark = db
        .query_opt(
            "SELECT read_id, muted FROM members WHERE room_id = ?1 AND user_id = ?2",
            args![row.id, user],
        )?
        .map(|r| Ok::<_, DbError>((r.uint(0)?, r.bool(1)?)))
        .transpose()?;
    let members = db
        .query_one(
            "SELECT COUNT(*) FROM members WHERE room_id = ?1",
            args![row.id],
        )?
        .uint(0)?;
    let last_id = db
        .query_one(
            "SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1",
            args![row.id],
        )?
        .uint(0)?;
    let peer = match row.kind {
        RoomKind::Dm => db
            .query_opt(
                "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM members m
                 JOIN users u ON u.id = m.user_id
                 WHERE m.room_id = ?1 AND m.user_id <> ?2 LIMIT 1",
                args![row.id, user],
            )?
            .map(|r| user_row(&r, 0))
            .transpose()?,
        _ => None,
    };
    let (member, read, muted) = match mark {
        Some((read, muted)) => (true, read, muted),
        None => (false, 0, false),
    };
    let (unread, mentions) = if member {
        counts(db, row.id, user, read)?
    } else {
        (0, 0)
    };
    Ok(Room {
        id: row.id,
        slug: row.slug,
        name: row.name,
        topic: row.topic,
        kind: row.kind,
        members,
        peer,
        member,
        unread,
        mentions,
        last_id,
        read,
        muted,
    })
}

fn counts(db: &dyn Db, room: RoomId, user: u64, read: u64) -> Result<(u64, u64), DbError> {
    let unread = db
        .query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages
             WHERE room_id = ?1 AND id > ?2 AND kind = 'chat' AND user_id <> ?3 LIMIT ?4) c",
            args![room, read, user, COUNT_CAP],
        )?
        .uint(0)?;
    let mentions = db
        .query_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM mentions
             WHERE user_id = ?1 AND room_id = ?2 AND message_id > ?3 LIMIT ?4) c",
            args![user, room, read, COUNT_CAP],
        )?
        .uint(0)?;
    Ok((unread, mentions))
}

/// The rooms `user` is a member of, as they see them, `general` first, then by id.
pub fn rooms_of(db: &dyn Db, user: u64) -> Result<Vec<Room>, DbError> {
    let found = rows(
        db.query(
            "SELECT r.id, r.slug, r.name, r.topic, r.kind FROM members m
             JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ?1 ORDER BY r.id",
            args![user],
        )?,
        room_row,
    )?;
    found
        .into_iter()
        .map(|row| view_of(db, row, user))
        .collect()
}

/// What `GET /api/rooms` lists: the user's rooms, then the public rooms they are not in.
pub fn directory(db: &dyn Db, user: u64) -> Result<Vec<Room>, DbError> {
    let mut rooms = rooms_of(db, user)?;
    let others = rows(
        db.query(
            "SELECT r.id, r.slug, r.name, r.topic, r.kind FROM rooms r
             WHERE r.kind = 'public' AND NOT EXISTS (
                 SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = ?1)
             ORDER BY r.id",
            args![user],
        )?,
        room_row,
    )?;
    for row in others {
        rooms.push(view_of(db, row, user)?);
    }
    Ok(rooms)
}

/// Up to `limit` members of a room, ordered by name.
pub fn members(db: &dyn Db, room: RoomId, limit: usize) -> Result<Vec<User>, DbError> {
    rows(
        db.query(
            "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM members m
             JOIN users u ON u.id = m.user_id WHERE m.room_id = ?1
             ORDER BY LOWER(u.name), u.id LIMIT ?2",
            args![room, limit],
        )?,
        |r| user_row(r, 0),
    )
}

/// The user with this id, if there is one.
pub fn user(db: &dyn Db, id: u64) -> Result<Option<User>, DbError> {
    db.query_opt(
        "SELECT id, name, password_hash IS NOT NULL FROM users WHERE id = ?1",
        args![id],
    )?
    .map(|r| user_row(&r, 0))
    .transpose()
}

/// The member of `room` whose name has this canonical form, if any: how `@Name` finds
/// the user it mentions.
pub fn member_by_canon(db: &dyn Db, room: RoomId, canon: &str) -> Result<Option<u64>, DbError> {
    db.query_opt(
        "SELECT u.id FROM users u JOIN members m ON m.user_id = u.id AND m.room_id = ?1
         WHERE u.canon = ?2 ORDER BY u.password_hash IS NOT NULL DESC, u.id DESC LIMIT 1",
        args![room, canon],
    )?
    .map(|r| r.uint(0))
    .transpose()
}

/// Creates a public or private room with a free slug derived from its name. The caller
/// adds the creator as a member.
pub fn create(
    db: &dyn Db,
    name: &str,
    topic: &str,
    kind: RoomKind,
    by: u64,
    now_ms: u64,
) -> Result<CreateOutcome, DbError> {
    let canon = shared::canonical_name(name);
    if db
        .query_opt("SELECT 1 FROM rooms WHERE canon = ?1", args![&canon])?
        .is_some()
    {
        return Ok(CreateOutcome::NameTaken);
    }
    let slug = free_slug(db, &shared::slug_for(name))?;
    let id = db
        .query_one(
            "INSERT INTO rooms (slug, name, canon, topic, kind, created_by, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            args![&slug, name, &canon, topic, kind.as_str(), by, now_ms],
        )?
        .uint(0)?;
    Ok(CreateOutcome::Created(id))
}

fn free_slug(db: &dyn Db, base: &str) -> Result<String, DbError> {
    let mut n = 1u64;
    loop {
        let slug = if n == 1 {
            base.to_owned()
        } else {
            format!("{base}-{n}")
        };
        if db
            .query_opt("SELECT 1 FROM rooms WHERE slug = ?1", args![&slug])?
            .is_none()
        {
            return Ok(slug);
        }
        n += 1;
    }
}

/// The one DM room of users `a` and `b`, and whether this call created it (with both as
/// members). The pair's key is unique, so two racing calls cannot make two rooms.
pub fn dm(db: &dyn Db, a: u64, b: u64, now_ms: u64) -> Result<(RoomId, bool), DbError> {
    let key = format!("{}:{}", a.min(b), a.max(b));
    if let Some(existing) = db.query_opt("SELECT id FROM rooms WHERE dm_key = ?1", args![&key])? {
        return Ok((existing.uint(0)?, false));
    }
    let slug = free_slug(db, &format!("dm-{}-{}", a.min(b), a.max(b)))?;
    let id = db
        .query_one(
            "INSERT INTO rooms (slug, name, canon, topic, kind, dm_key, created_by, created_ms)
             VALUES (?1, '', NULL, '', 'dm', ?2, ?3, ?4) RETURNING id",
            args![&slug, &key, a, now_ms],
        )?
        .uint(0)?;
    add_member(db, id, a, now_ms)?;
    add_member(db, id, b, now_ms)?;
    Ok((id, true))
}

/// Makes `user` a member, with everything stored so far counted as read. `false` when
/// they already were one.
pub fn add_member(db: &dyn Db, room: RoomId, user: u64, now_ms: u64) -> Result<bool, DbError> {
    let added = db.execute(
        "INSERT INTO members (room_id, user_id, read_id, joined_ms)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1), ?3)
         ON CONFLICT DO NOTHING",
        args![room, user, now_ms],
    )?;
    Ok(added == 1)
}

/// Ends a membership. `false` when there was none.
pub fn remove_member(db: &dyn Db, room: RoomId, user: u64) -> Result<bool, DbError> {
    let removed = db.execute(
        "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
        args![room, user],
    )?;
    Ok(removed == 1)
}

/// Moves the read marker up to `id`; never down. `true` when it moved.
pub fn set_read(db: &dyn Db, room: RoomId, user: u64, id: u64) -> Result<bool, DbError> {
    let moved = db.execute(
        "UPDATE members SET read_id = ?3 WHERE room_id = ?1 AND user_id = ?2 AND read_id < ?3",
        args![room, user, id],
    )?;
    Ok(moved == 1)
}

/// Mutes or unmutes a room for a member. `false` when they are not one.
pub fn set_muted(db: &dyn Db, room: RoomId, user: u64, muted: bool) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE members SET muted = ?3 WHERE room_id = ?1 AND user_id = ?2",
        args![room, user, muted],
    )?;
    Ok(changed == 1)
}

/// Records that message `message` in `room` mentions each of `users`.
pub fn add_mentions(db: &dyn Db, room: RoomId, message: u64, users: &[u64]) -> Result<(), DbError> {
    for user in users {
        db.execute(
            "INSERT INTO mentions (user_id, room_id, message_id) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            args![*user, room, message],
        )?;
    }
    Ok(())
}

/// Up to `limit` stored events of `room` with ids below `before`, oldest first.
pub fn history(
    db: &dyn Db,
    room: RoomId,
    before: u64,
    limit: usize,
) -> Result<Vec<Stored>, DbError> {
    let mut found = rows(
        db.query(
            "SELECT id, json FROM messages WHERE room_id = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3",
            args![room, before, limit],
        )?,
        |r| {
            Ok(Stored {
                id: r.uint(0)?,
                json: r.text(1)?,
            })
        },
    )?;
    found.reverse();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts;

    use crate::store::sqlite::SqliteDb;

    #[test]
    fn every_new_user_is_a_member_of_general_and_nothing_else() {
        let conn = SqliteDb::memory().unwrap();
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
        let conn = SqliteDb::memory().unwrap();
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
        let conn = SqliteDb::memory().unwrap();
        let ada = accounts::create_user(&conn, "Ada", None, 1)
            .unwrap()
            .unwrap();
        assert!(set_read(&conn, GENERAL, ada.id, 50).unwrap());
        assert!(!set_read(&conn, GENERAL, ada.id, 40).unwrap());
        assert_eq!(view(&conn, GENERAL, ada.id).unwrap().unwrap().read, 50);
    }

    #[test]
    fn slugs_stay_unique() {
        let conn = SqliteDb::memory().unwrap();
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
