//! Versioned migrations, applied in order at start-up; `PRAGMA user_version` records
//! how far a database has come.

use rusqlite::Connection;

/// Each entry moves the schema one version up. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: users (guests and accounts), sessions, messages, settings.
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
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))?;
        tracing::info!(version, "applied database migration");
    }
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
}
