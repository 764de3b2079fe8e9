//! Attempt counters that hold across every server sharing one database: one row per
//! counted attempt in `limit_hits(key, at_ms)`, for the sign-in and sign-up limits
//! (`crate::limits`) when the chat runs on PostgreSQL.
//!
//! An attempt is written first and the window counted after, each in its own commit. Of
//! requests racing on several servers, each one that passes has seen every other that
//! passed before it, so no more than the limit ever pass; a race may refuse one too many,
//! never let one too many through.

use super::db::{args, Db, DbError, Dialect};

/// One limit an attempt counts against: its key (the limit's name and who it counts),
/// how many attempts it allows, and over how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub key: String,
    pub limit: usize,
    pub window_ms: u64,
}

/// Counts one attempt at `now_ms` against every rule, or against none: `Ok(Err(wait))`,
/// in milliseconds, when one of them is used up.
pub fn take(db: &dyn Db, rules: &[Rule], now_ms: u64) -> Result<Result<(), u64>, DbError> {
    // A look first, so a refused attempt writes nothing in the common case.
    if let Some(wait) = longest_wait(db, rules, now_ms, 0)? {
        return Ok(Err(wait));
    }
    for rule in rules {
        db.execute(
            "INSERT INTO limit_hits (key, at_ms) VALUES (?1, ?2)",
            args![&rule.key, now_ms],
        )?;
    }
    // Attempts another server counted meanwhile are visible now: past the limit with
    // this one included, this one goes.
    if let Some(wait) = longest_wait(db, rules, now_ms, 1)? {
        refund(db, rules, now_ms)?;
        return Ok(Err(wait));
    }
    Ok(Ok(()))
}

/// Gives back an attempt [`take`] counted at `at_ms`: one row per rule. Rows of one key
/// and time are alike, so any one of them may go.
pub fn refund(db: &dyn Db, rules: &[Rule], at_ms: u64) -> Result<(), DbError> {
    let row = match db.dialect() {
        Dialect::Sqlite => "rowid",
        Dialect::Postgres => "ctid",
    };
    let sql = format!(
        "DELETE FROM limit_hits WHERE {row} =
             (SELECT {row} FROM limit_hits WHERE key = ?1 AND at_ms = ?2 LIMIT 1)"
    );
    for rule in rules {
        db.execute(&sql, args![&rule.key, at_ms])?;
    }
    Ok(())
}

/// Deletes every attempt counted before `before_ms`; returns how many went.
pub fn prune(db: &dyn Db, before_ms: u64) -> Result<u64, DbError> {
    db.execute("DELETE FROM limit_hits WHERE at_ms < ?1", args![before_ms])
}

/// The longest any rule makes the attempt wait, counting `extra` attempts over its limit
/// as allowed (the attempt's own row, once written); `None` when none is used up.
fn longest_wait(
    db: &dyn Db,
    rules: &[Rule],
    now_ms: u64,
    extra: usize,
) -> Result<Option<u64>, DbError> {
    let mut longest = None;
    for rule in rules {
        let since = now_ms.saturating_sub(rule.window_ms);
        let count = db
            .query_one(
                "SELECT COUNT(*) FROM limit_hits WHERE key = ?1 AND at_ms > ?2",
                args![&rule.key, since],
            )?
            .uint(0)? as usize;
        if count < rule.limit + extra {
            continue;
        }
        let wait = match rule.limit {
            0 => rule.window_ms,
            limit => {
                // The oldest of the newest `limit` attempts decides, as in memory.
                let oldest = db
                    .query_opt(
                        "SELECT at_ms FROM limit_hits WHERE key = ?1 AND at_ms > ?2
                         ORDER BY at_ms DESC LIMIT 1 OFFSET ?3",
                        args![&rule.key, since, limit - 1 + extra],
                    )?
                    .map(|row| row.uint(0))
                    .transpose()?
                    .unwrap_or(now_ms);
                rule.window_ms
                    .saturating_sub(now_ms.saturating_sub(oldest))
                    .max(1000)
            }
        };
        longest = longest.max(Some(wait));
    }
    Ok(longest)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::sqlite::SqliteDb;

    /// SQLite with the table PostgreSQL's migration 2 creates: the queries are the same.
    pub(crate) fn db() -> SqliteDb {
        let db = SqliteDb::memory().unwrap();
        db.batch(TABLE).unwrap();
        db
    }

    pub(crate) const TABLE: &str =
        "CREATE TABLE limit_hits (key TEXT NOT NULL, at_ms INTEGER NOT NULL);
         CREATE INDEX limit_hits_key ON limit_hits(key, at_ms);";

    fn rule(key: &str, limit: usize) -> Rule {
        Rule {
            key: key.into(),
            limit,
            window_ms: 60_000,
        }
    }

    fn rows(db: &SqliteDb) -> u64 {
        db.query_one("SELECT COUNT(*) FROM limit_hits", args![])
            .unwrap()
            .uint(0)
            .unwrap()
    }

    #[test]
    fn the_attempt_past_the_limit_waits_until_the_oldest_leaves_the_window() {
        let db = db();
        let rules = [rule("login\nada", 2)];
        take(&db, &rules, 1_000).unwrap().unwrap();
        take(&db, &rules, 11_000).unwrap().unwrap();
        let wait = take(&db, &rules, 21_000).unwrap().unwrap_err();
        assert_eq!(wait, 40_000);
        assert_eq!(rows(&db), 2, "a refused attempt leaves nothing behind");
        // Once the first attempt is a window old, there is room again.
        take(&db, &rules, 61_000).unwrap().unwrap();
    }

    #[test]
    fn an_attempt_counts_against_every_rule_or_none() {
        let db = db();
        let wide = rule("addr\n127.0.0.1", 5);
        take(&db, &[rule("name\nada", 1), wide.clone()], 1_000)
            .unwrap()
            .unwrap();
        assert!(take(&db, &[rule("name\nada", 1), wide.clone()], 2_000)
            .unwrap()
            .is_err());
        // The refused attempt did not count against the address.
        for at in 3..7 {
            take(&db, &[rule("name\nbob", 9), wide.clone()], at * 1000)
                .unwrap()
                .unwrap();
        }
        assert!(take(&db, &[wide], 8_000).unwrap().is_err());
    }

    /// Another server counted an attempt between this one's look and its write.
    #[test]
    fn an_attempt_that_lost_a_race_is_refused_and_removed() {
        let db = db();
        let rules = [rule("name\nada", 1)];
        db.execute(
            "INSERT INTO limit_hits (key, at_ms) VALUES (?1, ?2)",
            args!["name\nada", 5_000u64],
        )
        .unwrap();
        // As if the look had found nothing: write, then count.
        db.execute(
            "INSERT INTO limit_hits (key, at_ms) VALUES (?1, ?2)",
            args!["name\nada", 5_000u64],
        )
        .unwrap();
        assert!(longest_wait(&db, &rules, 5_000, 1).unwrap().is_some());
        refund(&db, &rules, 5_000).unwrap();
        assert_eq!(rows(&db), 1, "exactly one of two equal rows goes");
    }

    #[test]
    fn refunded_attempts_do_not_count() {
        let db = db();
        let rules = [rule("name\nada", 1)];
        for at in 1..10 {
            take(&db, &rules, at * 1000).unwrap().unwrap();
            refund(&db, &rules, at * 1000).unwrap();
        }
        assert_eq!(rows(&db), 0);
    }

    #[test]
    fn pruning_removes_only_old_attempts() {
        let db = db();
        let rules = [rule("k", 10)];
        for at in [1_000, 2_000, 90_000] {
            take(&db, &rules, at).unwrap().unwrap();
        }
        assert_eq!(prune(&db, 50_000).unwrap(), 2);
        assert_eq!(rows(&db), 1);
    }
}
