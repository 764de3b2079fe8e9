//! Users (guests and registered accounts) and their sessions.

use super::db::{args, Db, DbError, Row, Tx};
use shared::User;

/// Last-seen times are written at most this often per session, not on every request.
const TOUCH_EVERY_MS: u64 = 60 * 60 * 1000;

/// The lower-case form of a name, kept in `users.name_key` from the first schema.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
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

/// `(id, name, is_account)` as selected by the queries here.
fn user_of(r: &Row, first: usize) -> Result<User, DbError> {
    let (id, name) = (r.uint(first)?, r.text(first + 1)?);
    Ok(match r.bool(first + 2)? {
        true => User::new(id, name),
        false => User::guest(id, name),
    })
}

/// Creates a user. With a password hash it is an account, and `Ok(None)` means an
/// account already holds a name that looks the same. Guests are not checked here.
pub fn create_user(
    db: &dyn Db,
    name: &str,
    password_hash: Option<&str>,
    now_ms: u64,
) -> Result<Option<User>, DbError> {
    // A failed INSERT must not end an enclosing PostgreSQL transaction: the account
    // name's uniqueness is checked first, and the index still guards against a race.
    if password_hash.is_some() && account(db, name)?.is_some() {
        return Ok(None);
    }
    let inserted = db.query_one(
        "INSERT INTO users (name, name_key, canon, password_hash, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![
            name,
            &name_key(name),
            &shared::canonical_name(name),
            password_hash,
            now_ms
        ],
    );
    match inserted {
        Ok(row) => {
            let id = row.uint(0)?;
            // Every user is a member of `general`, from the start.
            super::rooms::add_member(db, shared::GENERAL, id, now_ms)?;
            Ok(Some(match password_hash {
                Some(_) => User::new(id, name),
                None => User::guest(id, name),
            }))
        }
        Err(err) if err.is_unique_violation() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Creates a guest unless an account, or a guest with a session used since `live_since_ms`,
/// has a name with the same canonical form.
pub fn create_guest(
    db: &dyn Db,
    name: &str,
    now_ms: u64,
    live_since_ms: u64,
) -> Result<GuestOutcome, DbError> {
    let tx = Tx::begin(db)?;
    let canon = shared::canonical_name(name);
    let holder = tx
        .query_opt(
            "SELECT u.password_hash IS NOT NULL FROM users u
             WHERE u.canon = ?1 AND (u.password_hash IS NOT NULL OR EXISTS (
                 SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.last_seen_ms >= ?2))
             ORDER BY u.password_hash IS NOT NULL DESC LIMIT 1",
            args![&canon, live_since_ms],
        )?
        .map(|r| r.bool(0))
        .transpose()?;
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
    db: &dyn Db,
    name: &str,
    password_hash: &str,
    now_ms: u64,
) -> Result<Option<(User, Vec<u64>)>, DbError> {
    let tx = Tx::begin(db)?;
    let Some(user) = create_user(&tx, name, Some(password_hash), now_ms)? else {
        return Ok(None);
    };
    let ended = tx
        .query(
            "DELETE FROM sessions WHERE user_id IN (
                 SELECT id FROM users WHERE canon = ?1 AND password_hash IS NULL)
             RETURNING id",
            args![&shared::canonical_name(name)],
        )?
        .iter()
        .map(|r| r.uint(0))
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit()?;
    Ok(Some((user, ended)))
}

/// The account whose name looks like `name`, if there is one.
pub fn account(db: &dyn Db, name: &str) -> Result<Option<Account>, DbError> {
    db.query_opt(
        "SELECT id, name, password_hash FROM users
         WHERE canon = ?1 AND password_hash IS NOT NULL",
        args![&shared::canonical_name(name)],
    )?
    .map(|r| {
        Ok(Account {
            user: User::new(r.uint(0)?, r.text(1)?),
            password_hash: r.text(2)?,
        })
    })
    .transpose()
}

/// The guests [`purge`] removes: made before `?1`, without a session left.
macro_rules! purged_guests {
    () => {
        "WHERE password_hash IS NULL AND created_ms < ?1
         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)"
    };
}

/// Deletes sessions unused since `idle_before_ms`, then guests left without a session
/// that were created before `guests_before_ms` (younger ones may be signing in right
/// now). Returns how many sessions and guests went. Stored messages keep their copy of
/// the user, so deleting a guest loses nothing.
pub fn purge(
    db: &dyn Db,
    idle_before_ms: u64,
    guests_before_ms: u64,
) -> Result<(usize, usize), DbError> {
    let tx = Tx::begin(db)?;
    let sessions = tx.execute(
        "DELETE FROM sessions WHERE last_seen_ms < ?1",
        args![idle_before_ms],
    )?;
    // Their memberships and mentions go with them, or room member counts would keep
    // counting users who no longer exist.
    tx.execute(
        concat!(
            "DELETE FROM members WHERE user_id IN (SELECT id FROM users ",
            purged_guests!(),
            ")"
        ),
        args![guests_before_ms],
    )?;
    tx.execute(
        concat!(
            "DELETE FROM mentions WHERE user_id IN (SELECT id FROM users ",
            purged_guests!(),
            ")"
        ),
        args![guests_before_ms],
    )?;
    let guests = tx.execute(
        concat!("DELETE FROM users ", purged_guests!()),
        args![guests_before_ms],
    )?;
    tx.commit()?;
    Ok((sessions as usize, guests as usize))
}

/// Stores a new session for `user_id`, returning its id.
pub fn create_session(
    db: &dyn Db,
    token_hash: &[u8],
    user_id: u64,
    now_ms: u64,
) -> Result<u64, DbError> {
    db.query_one(
        "INSERT INTO sessions (token_hash, user_id, created_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?3) RETURNING id",
        args![token_hash, user_id, now_ms],
    )?
    .uint(0)
}

/// The session and user for a token hash, unless idle for longer than `idle_ms`
/// (an idle session is deleted). Refreshes the last-seen time now and then.
pub fn session(
    db: &dyn Db,
    token_hash: &[u8],
    idle_ms: u64,
    now_ms: u64,
) -> Result<Option<(u64, User)>, DbError> {
    let Some(found) = db.query_opt(
        "SELECT s.id, s.last_seen_ms, u.id, u.name, u.password_hash IS NOT NULL FROM sessions s
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        args![token_hash],
    )?
    else {
        return Ok(None);
    };
    let (id, last_seen, user) = (found.uint(0)?, found.uint(1)?, user_of(&found, 2)?);
    if now_ms.saturating_sub(last_seen) > idle_ms {
        db.execute("DELETE FROM sessions WHERE id = ?1", args![id])?;
        return Ok(None);
    }
    if now_ms.saturating_sub(last_seen) > TOUCH_EVERY_MS {
        db.execute(
            "UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1",
            args![id, now_ms],
        )?;
    }
    Ok(Some((id, user)))
}

/// Deletes the session with this token hash, returning its id if it existed.
pub fn delete_session(db: &dyn Db, token_hash: &[u8]) -> Result<Option<u64>, DbError> {
    db.query_opt(
        "DELETE FROM sessions WHERE token_hash = ?1 RETURNING id",
        args![token_hash],
    )?
    .map(|r| r.uint(0))
    .transpose()
}

/// Moves a session's last-seen time (tests use it to age a session).
pub fn set_last_seen(db: &dyn Db, session_id: u64, at_ms: u64) -> Result<(), DbError> {
    db.execute(
        "UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1",
        args![session_id, at_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    use crate::store::sqlite::SqliteDb;

    fn db() -> SqliteDb {
        SqliteDb::memory().unwrap()
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
            .0
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
            conn.0
                .execute(
                    "INSERT INTO mentions (user_id, room_id, message_id) VALUES (?1, 1, 7)",
                    params![user as i64],
                )
                .unwrap();
        }
        assert_eq!(purge(&conn, 2_000, 4_000).unwrap(), (0, 1));
        for table in ["members", "mentions"] {
            let users: Vec<i64> = conn
                .0
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
