//! Users (guests and registered accounts) and their sessions.

use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior,
};
use shared::User;

/// Last-seen times are written at most this often per session, not on every request.
const TOUCH_EVERY_MS: u64 = 60 * 60 * 1000;

/// The lower-case form of a name, kept in `users.name_key` from the first schema.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A transaction that takes the write lock at once. A deferred one that reads first
/// fails with `SQLITE_BUSY` (no waiting) when the room's writer commits in between.
fn write_transaction(conn: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
}

/// A registered account: its user and password hash.
pub struct Account {
    pub user: User,
    pub password_hash: String,
}

/// What asking for a guest name gave.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestOutcome {
    Created(User),
    /// An account's name looks the same.
    AccountHolds,
    /// A guest with a live session has a name that looks the same.
    GuestHolds,
}

/// Creates a user. With a password hash it is an account, and `Ok(None)` means an
/// account already holds a name that looks the same. Guests are not checked here.
pub fn create_user(
    conn: &Connection,
    name: &str,
    password_hash: Option<&str>,
    now_ms: u64,
) -> rusqlite::Result<Option<User>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (name, name_key, canon, password_hash, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            name,
            name_key(name),
            shared::canonical_name(name),
            password_hash,
            now_ms as i64
        ]);
    match inserted {
        Ok(_) => {
            let id = conn.last_insert_rowid() as u64;
            // Every user is a member of `general`, from the start.
            super::rooms::add_member(conn, shared::GENERAL, id, now_ms)?;
            Ok(Some(match password_hash {
                Some(_) => User::new(id, name),
                None => User::guest(id, name),
            }))
        }
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == ErrorCode::ConstraintViolation =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Creates a guest unless an account, or a guest with a session used since `live_since_ms`,
/// has a name with the same canonical form.
pub fn create_guest(
    conn: &Connection,
    name: &str,
    now_ms: u64,
    live_since_ms: u64,
) -> rusqlite::Result<GuestOutcome> {
    let tx = write_transaction(conn)?;
    let canon = shared::canonical_name(name);
    let holder: Option<bool> = tx
        .prepare_cached(
            "SELECT u.password_hash IS NOT NULL FROM users u
             WHERE u.canon = ?1 AND (u.password_hash IS NOT NULL OR EXISTS (
                 SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.last_seen_ms >= ?2))
             ORDER BY u.password_hash IS NOT NULL DESC LIMIT 1",
        )?
        .query_row(params![canon, live_since_ms as i64], |r| r.get(0))
        .optional()?;
    let outcome = match holder {
        Some(true) => GuestOutcome::AccountHolds,
        Some(false) => GuestOutcome::GuestHolds,
        None => match create_user(&tx, name, None, now_ms)? {
            Some(user) => GuestOutcome::Created(user),
            None => GuestOutcome::GuestHolds,
        },
    };
    tx.commit()?;
    Ok(outcome)
}

/// Creates an account and ends the sessions of guests whose names look the same,
/// returning the account and those sessions' ids (their sockets are to be closed).
/// `Ok(None)`: an account holds a name that looks the same.
pub fn create_account(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now_ms: u64,
) -> rusqlite::Result<Option<(User, Vec<u64>)>> {
    let tx = write_transaction(conn)?;
    let Some(user) = create_user(&tx, name, Some(password_hash), now_ms)? else {
        return Ok(None);
    };
    let ended = tx
        .prepare_cached(
            "DELETE FROM sessions WHERE user_id IN (
                 SELECT id FROM users WHERE canon = ?1 AND password_hash IS NULL)
             RETURNING id",
        )?
        .query_map(params![shared::canonical_name(name)], |r| {
            Ok(r.get::<_, i64>(0)? as u64)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit()?;
    Ok(Some((user, ended)))
}

/// The account whose name looks like `name`, if there is one.
pub fn account(conn: &Connection, name: &str) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(
        "SELECT id, name, password_hash FROM users
         WHERE canon = ?1 AND password_hash IS NOT NULL",
    )?
    .query_row(params![shared::canonical_name(name)], |r| {
        Ok(Account {
            user: User::new(r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?),
            password_hash: r.get(2)?,
        })
    })
    .optional()
}

/// The guests [`purge`] removes: made before `?1`, without a session left.
const PURGED_GUESTS: &str = "WHERE password_hash IS NULL AND created_ms < ?1
     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)";

/// Deletes sessions unused since `idle_before_ms`, then guests left without a session
/// that were created before `guests_before_ms` (younger ones may be signing in right
/// now). Returns how many sessions and guests went. Stored messages keep their copy of
/// the user, so deleting a guest loses nothing.
pub fn purge(
    conn: &Connection,
    idle_before_ms: u64,
    guests_before_ms: u64,
) -> rusqlite::Result<(usize, usize)> {
    let tx = write_transaction(conn)?;
    let sessions = tx
        .prepare_cached("DELETE FROM sessions WHERE last_seen_ms < ?1")?
        .execute(params![idle_before_ms as i64])?;
    // Their memberships and mentions go with them, or room member counts would keep
    // counting users who no longer exist.
    for table in ["members", "mentions"] {
        tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE user_id IN (SELECT id FROM users {PURGED_GUESTS})"
        ))?
        .execute(params![guests_before_ms as i64])?;
    }
    let guests = tx
        .prepare_cached(&format!("DELETE FROM users {PURGED_GUESTS}"))?
        .execute(params![guests_before_ms as i64])?;
    tx.commit()?;
    Ok((sessions, guests))
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
            let (id, name) = (r.get::<_, i64>(2)? as u64, r.get::<_, String>(3)?);
            let user = match r.get::<_, bool>(4)? {
                true => User::guest(id, name),
                false => User::new(id, name),
            };
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, user))
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
    fn account_names_are_unique_by_canonical_form() {
        let conn = db();
        assert!(create_user(&conn, "Ada", Some("h"), 0).unwrap().is_some());
        assert!(create_user(&conn, "ADA", Some("h"), 0).unwrap().is_none());
        assert!(create_user(&conn, "\u{410}da", Some("h"), 0)
            .unwrap()
            .is_none());
        assert!(create_user(&conn, "Bea", Some("h"), 0).unwrap().is_some());
    }

    #[test]
    fn guest_name_is_refused_next_to_an_account_or_a_live_guest() {
        let conn = db();
        let GuestOutcome::Created(bo) = create_guest(&conn, "Bo", 1_000, 0).unwrap() else {
            panic!("the first Bo is created");
        };
        assert!(bo.guest);
        // Without a session Bo is not live yet; with one, "BO" is taken.
        create_session(&conn, b"t", bo.id, 1_000).unwrap();
        assert_eq!(
            create_guest(&conn, "BO", 2_000, 500).unwrap(),
            GuestOutcome::GuestHolds
        );
        // Once Bo's session is older than the live window, the name is free again.
        assert!(matches!(
            create_guest(&conn, "BO", 9_000, 5_000).unwrap(),
            GuestOutcome::Created(_)
        ));
        create_user(&conn, "Ada", Some("h"), 0).unwrap();
        assert_eq!(
            create_guest(&conn, "\u{ff41}da", 2_000, 0).unwrap(),
            GuestOutcome::AccountHolds
        );
    }

    #[test]
    fn registering_ends_the_sessions_of_look_alike_guests_only() {
        let conn = db();
        let ada = create_user(&conn, "ada", None, 0).unwrap().unwrap();
        let bo = create_user(&conn, "Bo", None, 0).unwrap().unwrap();
        let s1 = create_session(&conn, b"a1", ada.id, 0).unwrap();
        let s2 = create_session(&conn, b"a2", ada.id, 0).unwrap();
        create_session(&conn, b"b", bo.id, 0).unwrap();
        let (user, ended) = create_account(&conn, "Ada", "h", 0).unwrap().unwrap();
        assert!(!user.guest);
        assert_eq!(ended, vec![s1, s2]);
        assert!(session(&conn, b"a1", u64::MAX, 0).unwrap().is_none());
        assert!(session(&conn, b"b", u64::MAX, 0).unwrap().is_some());
    }

    #[test]
    fn purge_removes_expired_sessions_and_guests_without_a_session() {
        let conn = db();
        let old = create_user(&conn, "Old", None, 0).unwrap().unwrap();
        let kept = create_user(&conn, "Kept", None, 0).unwrap().unwrap();
        let fresh = create_user(&conn, "Fresh", None, 5_000).unwrap().unwrap();
        let account = create_user(&conn, "Acc", Some("h"), 0).unwrap().unwrap();
        create_session(&conn, b"old", old.id, 100).unwrap();
        create_session(&conn, b"kept", kept.id, 3_000).unwrap();
        create_session(&conn, b"acc", account.id, 100).unwrap();
        // Sessions idle since before 2000 go, then sessionless guests made before 4000.
        assert_eq!(purge(&conn, 2_000, 4_000).unwrap(), (2, 1));
        let names: Vec<String> = conn
            .prepare("SELECT name FROM users ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, ["Kept", "Fresh", "Acc"]);
        let _ = fresh;
    }

    #[test]
    fn purged_guests_leave_no_memberships_or_mentions_behind() {
        let conn = db();
        let gone = create_user(&conn, "Gone", None, 0).unwrap().unwrap();
        let kept = create_user(&conn, "Kept", None, 0).unwrap().unwrap();
        create_session(&conn, b"kept", kept.id, 3_000).unwrap();
        for user in [gone.id, kept.id] {
            conn.execute(
                "INSERT INTO mentions (user_id, room_id, message_id) VALUES (?1, 1, 7)",
                params![user as i64],
            )
            .unwrap();
        }
        assert_eq!(purge(&conn, 2_000, 4_000).unwrap(), (0, 1));
        for table in ["members", "mentions"] {
            let users: Vec<i64> = conn
                .prepare(&format!("SELECT user_id FROM {table} ORDER BY user_id"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(users, [kept.id as i64], "{table}");
        }
    }

    #[test]
    fn session_user_says_whether_it_is_a_guest() {
        let conn = db();
        let guest = create_user(&conn, "G", None, 0).unwrap().unwrap();
        let account = create_user(&conn, "A", Some("h"), 0).unwrap().unwrap();
        create_session(&conn, b"g", guest.id, 0).unwrap();
        create_session(&conn, b"a", account.id, 0).unwrap();
        assert!(session(&conn, b"g", u64::MAX, 0).unwrap().unwrap().1.guest);
        assert!(!session(&conn, b"a", u64::MAX, 0).unwrap().unwrap().1.guest);
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
