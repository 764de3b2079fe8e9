//! PostgreSQL's own versioned migrations, applied in order at start-up under a lock, so
//! that servers starting together migrate once. `schema_version` records how far a
//! database has come. The schema matches SQLite's at its latest version; integers are
//! all `BIGINT`, so every id and time reads back as the same 64-bit value.

use super::PgDb;
use crate::store::db::{args, Db, DbError, Tx};

/// Advisory lock key held while migrating ("chat" + 1).
const MIGRATION_LOCK: i64 = 0x6368_6174_0001;

/// Each entry moves the schema one version up. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, messages, settings, rooms, members, mentions; `general`.
    "CREATE TABLE users (
         id BIGSERIAL PRIMARY KEY,
         name TEXT NOT NULL,
         name_key TEXT NOT NULL,
         canon TEXT NOT NULL DEFAULT '',
         password_hash TEXT,
         created_ms BIGINT NOT NULL
     );
     CREATE UNIQUE INDEX users_account_canon ON users(canon) WHERE password_hash IS NOT NULL;
     CREATE INDEX users_guest_canon ON users(canon) WHERE password_hash IS NULL;
     CREATE TABLE sessions (
         id BIGSERIAL PRIMARY KEY,
         token_hash BYTEA NOT NULL UNIQUE,
         user_id BIGINT NOT NULL REFERENCES users(id),
         created_ms BIGINT NOT NULL,
         last_seen_ms BIGINT NOT NULL
     );
     CREATE INDEX sessions_user ON sessions(user_id);
     CREATE TABLE messages (
         id BIGINT PRIMARY KEY,
         user_id BIGINT NOT NULL,
         cid TEXT,
         json TEXT NOT NULL,
         room_id BIGINT NOT NULL DEFAULT 1,
         kind TEXT NOT NULL DEFAULT ''
     );
     CREATE UNIQUE INDEX messages_cid ON messages(user_id, cid) WHERE cid IS NOT NULL;
     CREATE INDEX messages_room ON messages(room_id, id);
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value BIGINT NOT NULL
     );
     CREATE TABLE rooms (
         id BIGSERIAL PRIMARY KEY,
         slug TEXT NOT NULL UNIQUE,
         name TEXT NOT NULL,
         canon TEXT,
         topic TEXT NOT NULL DEFAULT '',
         kind TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
         dm_key TEXT UNIQUE,
         created_by BIGINT,
         created_ms BIGINT NOT NULL
     );
     CREATE UNIQUE INDEX rooms_canon ON rooms(canon) WHERE canon IS NOT NULL;
     CREATE TABLE members (
         room_id BIGINT NOT NULL,
         user_id BIGINT NOT NULL,
         read_id BIGINT NOT NULL DEFAULT 0,
         muted BIGINT NOT NULL DEFAULT 0,
         joined_ms BIGINT NOT NULL,
         PRIMARY KEY (room_id, user_id)
     );
     CREATE INDEX members_user ON members(user_id, room_id);
     CREATE TABLE mentions (
         user_id BIGINT NOT NULL,
         room_id BIGINT NOT NULL,
         message_id BIGINT NOT NULL,
         PRIMARY KEY (user_id, room_id, message_id)
     );
     INSERT INTO rooms (id, slug, name, canon, topic, kind, created_ms)
         VALUES (1, 'general', 'general', 'general', '', 'public', 0);
     SELECT setval(pg_get_serial_sequence('rooms', 'id'), 1);",
    // 2: servers sharing the database (heartbeats), who is online on each, the
    // counters of limits that hold across servers, and the one sequence of message ids, and
    // settings every server shares (the generated session key).
    "CREATE TABLE servers (
         id BIGSERIAL PRIMARY KEY,
         started_ms BIGINT NOT NULL,
         heartbeat_ms BIGINT NOT NULL
     );
     CREATE TABLE presence (
         server_id BIGINT NOT NULL,
         user_id BIGINT NOT NULL,
         PRIMARY KEY (server_id, user_id)
     );
     CREATE INDEX presence_user ON presence(user_id);
     CREATE TABLE limit_hits (
         key TEXT NOT NULL,
         at_ms BIGINT NOT NULL
     );
     CREATE INDEX limit_hits_key ON limit_hits(key, at_ms);
     CREATE SEQUENCE message_ids;
     CREATE TABLE settings (
         key TEXT PRIMARY KEY,
         value BYTEA NOT NULL
     );",
];

pub fn migrate(db: &PgDb) -> Result<(), DbError> {
    db.query("SELECT pg_advisory_lock(?1)::text", args![MIGRATION_LOCK])?;
    let result = migrate_locked(db);
    db.query("SELECT pg_advisory_unlock(?1)", args![MIGRATION_LOCK])?;
    result
}

fn migrate_locked(db: &PgDb) -> Result<(), DbError> {
    db.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let current = db
        .query_opt("SELECT version FROM schema_version", args![])?
        .map(|row| row.uint(0))
        .transpose()?
        .unwrap_or(0) as usize;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        let tx = Tx::begin(db)?;
        tx.batch(sql)?;
        tx.execute("DELETE FROM schema_version", args![])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            args![version],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}
