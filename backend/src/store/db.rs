//! The one interface every query goes through, whichever database holds the chat.
//!
//! Queries are written once, in the SQL both databases understand, with `?1`-style
//! placeholders; each database's driver ([`super::sqlite`], [`super::postgres`]) runs
//! them, translating what it must. Arguments and results travel as the few plain values
//! the schema uses (integers, text, bytes), so no query knows which database it runs on.
//! What differs for real (migrations, id allocation, wake-ups between servers) lives
//! in the driver or asks [`Db::dialect`].

use std::fmt;

/// Which database a connection talks to, for the few statements that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One argument of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Arg::Int(value)
    }
}

/// Ids and times are `u64` in Rust and signed 64-bit in both databases; a value past
/// `i64::MAX` (only a client could send one) is clamped, which every comparison treats as
/// "after everything".
impl From<u64> for Arg<'_> {
    fn from(value: u64) -> Self {
        Arg::Int(value.min(i64::MAX as u64) as i64)
    }
}

impl From<usize> for Arg<'_> {
    fn from(value: usize) -> Self {
        Arg::from(value as u64)
    }
}

impl From<bool> for Arg<'_> {
    fn from(value: bool) -> Self {
        Arg::Int(i64::from(value))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(value: &'a [u8]) -> Self {
        Arg::Bytes(value)
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Arg::Null, Into::into)
    }
}

/// The arguments of a query: `args![a, b]` is `&[Arg::from(a), Arg::from(b)]`.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::Arg::from($value)),*][..]
    };
}
pub use args;

/// One value of a result row. Booleans arrive as `Int` 0 or 1 from both databases.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One result row, read by column index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn value(&self, index: usize) -> Result<&Value, DbError> {
        self.0.get(index).ok_or(DbError::Column {
            index,
            expected: "a column",
        })
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, DbError> {
        match self.value(index)? {
            Value::Int(value) => Ok(Some(*value)),
            Value::Null => Ok(None),
            _ => Err(DbError::Column {
                index,
                expected: "an integer",
            }),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, DbError> {
        self.opt_int(index)?.ok_or(DbError::Column {
            index,
            expected: "an integer, not NULL",
        })
    }

    /// An id, count or time: stored signed, never negative.
    pub fn uint(&self, index: usize) -> Result<u64, DbError> {
        Ok(self.int(index)?.max(0) as u64)
    }

    pub fn bool(&self, index: usize) -> Result<bool, DbError> {
        Ok(self.int(index)? != 0)
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, DbError> {
        match self.value(index)? {
            Value::Text(value) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(DbError::Column {
                index,
                expected: "text",
            }),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, DbError> {
        self.opt_text(index)?.ok_or(DbError::Column {
            index,
            expected: "text, not NULL",
        })
    }

    pub fn bytes(&self, index: usize) -> Result<Vec<u8>, DbError> {
        match self.value(index)? {
            Value::Bytes(value) => Ok(value.clone()),
            _ => Err(DbError::Column {
                index,
                expected: "bytes",
            }),
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] postgres::Error),
    /// The database is out of reach (refused, restarting, connection lost).
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    #[error("column {index} is not {expected}")]
    Column {
        index: usize,
        expected: &'static str,
    },
    #[error("no row where one was expected")]
    NoRow,
}

impl DbError {
    /// A UNIQUE (or primary key) constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => {
                err.code == rusqlite::ErrorCode::ConstraintViolation
            }
            DbError::Postgres(err) => {
                err.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// A connection (or a transaction on one) to either database.
///
/// Methods take `&self` so that a connection and a transaction on it can be handed
/// around as plain shared references, as the hub does with its batch transaction.
pub trait Db {
    fn dialect(&self) -> Dialect;

    /// Runs one statement; returns how many rows it changed.
    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, DbError>;

    /// Runs one query and returns every row.
    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError>;

    /// Runs statements without arguments or results (`BEGIN`, DDL).
    fn batch(&self, sql: &str) -> Result<(), DbError>;

    /// The first row, if any.
    fn query_opt(&self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row, which must exist.
    fn query_one(&self, sql: &str, args: &[Arg<'_>]) -> Result<Row, DbError> {
        self.query_opt(sql, args)?.ok_or(DbError::NoRow)
    }
}

/// A transaction: rolled back when dropped without [`Tx::commit`]. It is a [`Db`] itself.
pub struct Tx<'a> {
    db: &'a dyn Db,
    open: bool,
}

impl<'a> Tx<'a> {
    /// Begins a transaction that will write. SQLite takes its write lock at once (a
    /// deferred one that reads first fails with `SQLITE_BUSY` when another writer commits
    /// in between); PostgreSQL's rows are locked as they are written.
    pub fn begin(db: &'a dyn Db) -> Result<Tx<'a>, DbError> {
        db.batch(match db.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        Ok(Tx { db, open: true })
    }

    pub fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.db.batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback leaves nothing to do: the connection is gone or the
            // transaction already ended, and the next `BEGIN` starts clean either way.
            let _ = self.db.batch("ROLLBACK");
        }
    }
}

impl Db for Tx<'_> {
    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }
    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, DbError> {
        self.db.execute(sql, args)
    }
    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError> {
        self.db.query(sql, args)
    }
    fn batch(&self, sql: &str) -> Result<(), DbError> {
        self.db.batch(sql)
    }
}

impl fmt::Debug for dyn Db + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Db({:?})", self.dialect())
    }
}
