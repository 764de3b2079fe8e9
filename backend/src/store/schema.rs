//! Versioned migrations, applied in order at start-up; `PRAGMA user_version` records
//! how far a database has come.

use rusqlite::{params, Connection};

/// One step up: plain SQL, or Rust where values must be computed (such as canonical names).
enum Step {
    Sql(&'static str),
    Rust(fn(&Connection) -> rusqlite::Result<()>),
}

/// Each entry moves the schema one version up. Never edit one that has shipped.
const MIGRATIONS: &[Step] = &[
    // 1: users (guests and accounts), sessions, messages, settings.
    Step::Sql(
        "CREATE TABLE users (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         name TEXT NOT NULL,
         name_key TEXT NOT NULL,
         password_hash TEXT,
         created_ms INTEGER NOT NULL
     );
     CREATE UNIQUE INDEX users_account_name ON users(name_key) WHERE password_hash IS NOT NULL;
     CREATE TABLE sessions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         token_hash BLOB NOT NULL UNIQUE,
         user_id INTEGER NOT NULL REFERENCES users(id),
         created_ms INTEGER NOT NULL,
         last_seen_ms INTEGER NOT NULL
     );
     CREATE TABLE messages (
         id INTEGER PRIMARY KEY,
         user_id INTEGER NOT NULL,
         cid TEXT,
         json TEXT NOT NULL
     );
     CREATE UNIQUE INDEX messages_cid ON messages(user_id, cid) WHERE cid IS NOT NULL;
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     );",
    ),
    // 2: the canonical form of each name, by which names are compared.
    Step::Rust(add_canonical_names),
    // 3: rooms, memberships (with read markers and mute), mentions; messages by room.
    Step::Rust(add_rooms),
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        let tx = conn.unchecked_transaction()?;
        match step {
            Step::Sql(sql) => tx.execute_batch(sql)?,
            Step::Rust(apply) => apply(&tx)?,
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// Migration 2: `users.canon` holds [`shared::canonical_name`]; accounts are unique by it.
/// Of older accounts whose names now look alike, the first keeps the name and the later
/// ones get a key nobody can type, so they still sign in but nobody can take the name.
fn add_canonical_names(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("ALTER TABLE users ADD COLUMN canon TEXT NOT NULL DEFAULT ''")?;
    let users: Vec<(i64, String, bool)> = conn
        .prepare("SELECT id, name, password_hash IS NOT NULL FROM users ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut taken = std::collections::HashSet::new();
    let mut update = conn.prepare("UPDATE users SET canon = ?2 WHERE id = ?1")?;
    for (id, name, is_account) in users {
        let mut canon = shared::canonical_name(&name);
        if is_account && !taken.insert(canon.clone()) {
            canon = format!("{canon}\n#{id}");
        }
        update.execute(params![id, canon])?;
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX users_account_canon ON users(canon) WHERE password_hash IS NOT NULL;
         CREATE INDEX users_guest_canon ON users(canon) WHERE password_hash IS NULL;
         CREATE INDEX sessions_user ON sessions(user_id);",
    )
}

/// Migration 3: rooms. `general` (id [`shared::GENERAL`]) is created, every existing user
/// becomes its member with everything stored so far counted as read, and every stored
/// message is filed under it.
///
/// - `rooms.canon` is the room name's canonical form (unique; NULL for DMs), `dm_key`
///   `"<lower user id>:<higher user id>"` makes the one DM of a pair unique.
/// - `members.read_id` is the read marker; `muted` is 0 or 1.
/// - `messages.kind` is the stored `type` (`chat`, `join`, `room_join`...), so unread
///   counts need not parse JSON.
fn add_rooms(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE rooms (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             slug TEXT NOT NULL UNIQUE,
             name TEXT NOT NULL,
             canon TEXT,
             topic TEXT NOT NULL DEFAULT '',
             kind TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
             dm_key TEXT UNIQUE,
             created_by INTEGER,
             created_ms INTEGER NOT NULL
         );
         CREATE UNIQUE INDEX rooms_canon ON rooms(canon) WHERE canon IS NOT NULL;
         CREATE TABLE members (
             room_id INTEGER NOT NULL,
             user_id INTEGER NOT NULL,
             read_id INTEGER NOT NULL DEFAULT 0,
             muted INTEGER NOT NULL DEFAULT 0,
             joined_ms INTEGER NOT NULL,
             PRIMARY KEY (room_id, user_id)
         ) WITHOUT ROWID;
         CREATE INDEX members_user ON members(user_id, room_id);
         CREATE TABLE mentions (
             user_id INTEGER NOT NULL,
             room_id INTEGER NOT NULL,
             message_id INTEGER NOT NULL,
             PRIMARY KEY (user_id, room_id, message_id)
         ) WITHOUT ROWID;
         ALTER TABLE messages ADD COLUMN room_id INTEGER NOT NULL DEFAULT 1;
         ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
         UPDATE messages SET kind = COALESCE(json_extract(json, '$.type'), '');
         CREATE INDEX messages_room ON messages(room_id, id);",
    )?;
    conn.execute(
        "INSERT INTO rooms (id, slug, name, canon, topic, kind, created_ms)
         VALUES (?1, ?2, ?2, ?3, '', 'public', 0)",
        params![
            shared::GENERAL as i64,
            shared::GENERAL_SLUG,
            shared::canonical_name(shared::GENERAL_SLUG)
        ],
    )?;
    conn.execute(
        "INSERT INTO members (room_id, user_id, read_id, joined_ms)
         SELECT ?1, id, (SELECT COALESCE(MAX(id), 0) FROM messages), created_ms FROM users",
        params![shared::GENERAL as i64],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn canonical_names_are_filled_in_for_existing_users() {
        let conn = Connection::open_in_memory().unwrap();
        let Step::Sql(first) = MIGRATIONS[0] else {
            panic!("migration 1 is SQL");
        };
        conn.execute_batch(first).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        // Two accounts that only now count as the same name, and a guest.
        for (name, hash) in [("Ada", Some("h")), ("\u{410}da", Some("h")), ("Bo", None)] {
            conn.execute(
                "INSERT INTO users (name, name_key, password_hash, created_ms) VALUES (?1, ?1, ?2, 0)",
                params![name, hash],
            )
            .unwrap();
        }
        migrate(&conn).unwrap();
        let canons: Vec<String> = conn
            .prepare("SELECT canon FROM users ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(canons[0], shared::canonical_name("Ada"));
        assert_ne!(
            canons[1], canons[0],
            "the later look-alike account stays unique"
        );
        assert_eq!(canons[2], shared::canonical_name("Bo"));
    }

    #[test]
    fn existing_users_and_messages_move_into_general_with_nothing_unread() {
        let conn = Connection::open_in_memory().unwrap();
        let Step::Sql(first) = MIGRATIONS[0] else {
            panic!("migration 1 is SQL");
        };
        conn.execute_batch(first).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            r#"INSERT INTO users (name, name_key, created_ms) VALUES ('Ada', 'ada', 5);
               INSERT INTO messages (id, user_id, json) VALUES
                 (7, 1, '{"id":7,"type":"chat","data":"hi"}'),
                 (9, 1, '{"id":9,"type":"left","data":"Ada left."}');"#,
        )
        .unwrap();
        migrate(&conn).unwrap();
        let (room, kind): (i64, String) = conn
            .query_row("SELECT room_id, kind FROM messages WHERE id = 7", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((room, kind.as_str()), (shared::GENERAL as i64, "chat"));
        let read: i64 = conn
            .query_row(
                "SELECT read_id FROM members WHERE room_id = 1 AND user_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(read, 9);
        let slug: String = conn
            .query_row("SELECT slug FROM rooms WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(slug, "general");
    }
}
