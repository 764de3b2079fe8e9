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
}
