//! Users (guests and registered accounts) and their sessions.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use shared::User;

/// Last-seen times are written at most this often per session, not on every request.
const TOUCH_EVERY_MS: u64 = 60 * 60 * 1000;

/// The form of a name used to compare account names without regard to case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A registered account: its user and password hash.
pub struct Account {
    pub user: User,
    pub password_hash: String,
}

/// Creates a user. With a password hash it is an account, and `Ok(None)` means an
/// account already holds the name.
pub fn create_user(
    conn: &Connection,
    name: &str,
    password_hash: Option<&str>,
    now_ms: u64,
) -> rusqlite::Result<Option<User>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (name, name_key, password_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![name, name_key(name), password_hash, now_ms as i64]);
    match inserted {
        Ok(_) => {
            let id = conn.last_insert_rowid() as u64;
            match password_hash {
                Some(_) => Ok(Some(User::new(id, name))),
                None => Ok(Some(User::guest(id, name))),
            }
        }
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == ErrorCode::ConstraintViolation =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The account holding `name` (compared without case), if there is one.
pub fn account(conn: &Connection, name: &str) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(
        "SELECT id, name, password_hash FROM users
         WHERE name_key = ?1 AND password_hash IS NOT NULL",
    )?
    .query_row(params![name_key(name)], |r| {
        Ok(Account {
            user: User::new(r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?),
            password_hash: r.get(2)?,
        })
    })
    .optional()
}

/// Stores a new session for `user_id`, returning its id.
pub fn create_session(
    conn: &Connection,
    token_hash: &[u8],
    user_id: u64,
    now_ms: u64,
) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, created_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![token_hash, user_id as i64, now_ms as i64])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// The session and user for a token hash, unless idle for longer than `idle_ms`
/// (an idle session is deleted). Refreshes the last-seen time now and then.
pub fn session(
    conn: &Connection,
    token_hash: &[u8],
    idle_ms: u64,
    now_ms: u64,
) -> rusqlite::Result<Option<(u64, User)>> {
    let found = conn
        .prepare_cached(
            "SELECT s.id, s.last_seen_ms, u.id, u.name, u.password_hash IS NULL FROM sessions s
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        )?
        .query_row(params![token_hash], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                match r.get::<_, bool>(4)? {
                    false => User::new(r.get::<_, i64>(2)? as u64, r.get::<_, String>(3)?),
                    true => User::guest(r.get::<_, i64>(2)? as u64, r.get::<_, String>(3)?),
                },
            ))
        })
        .optional()?;
    let Some((id, last_seen, user)) = found else {
        return Ok(None);
    };
    if now_ms.saturating_sub(last_seen) > idle_ms {
        conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
            .execute(params![id as i64])?;
        return Ok(None);
    }
    if now_ms.saturating_sub(last_seen) > TOUCH_EVERY_MS {
        conn.prepare_cached("UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1")?
            .execute(params![id as i64, now_ms as i64])?;
    }
    Ok(Some((id, user)))
}

/// Deletes the session with this token hash, returning its id if it existed.
pub fn delete_session(conn: &Connection, token_hash: &[u8]) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1 RETURNING id")?
        .query_row(params![token_hash], |r| Ok(r.get::<_, i64>(0)? as u64))
        .optional()
}

/// Moves a session's last-seen time (tests use it to age a session).
pub fn set_last_seen(conn: &Connection, session_id: u64, at_ms: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1")?
        .execute(params![session_id as i64, at_ms as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&conn).unwrap();
        conn
    }

    #[test]
    fn account_names_are_unique_without_regard_to_case() {
        let conn = db();
        assert!(create_user(&conn, "Ada", Some("h"), 0).unwrap().is_some());
        assert!(create_user(&conn, "ADA", Some("h"), 0).unwrap().is_none());
        // Guests may share a name among themselves.
        assert!(create_user(&conn, "ada", None, 0).unwrap().is_some());
        assert!(create_user(&conn, "ada", None, 0).unwrap().is_some());
    }

    #[test]
    fn idle_session_expires_and_is_deleted() {
        let conn = db();
        let user = create_user(&conn, "Ada", None, 0).unwrap().unwrap();
        create_session(&conn, b"t", user.id, 1_000).unwrap();
        assert!(session(&conn, b"t", 500, 1_400).unwrap().is_some());
        assert!(session(&conn, b"t", 500, 1_600).unwrap().is_none());
        assert!(session(&conn, b"t", 500_000, 1_600).unwrap().is_none());
    }
}
