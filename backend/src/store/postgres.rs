//! PostgreSQL, for several servers sharing one chat: [`Db`] on a `postgres` client, a
//! small pool of them for request handlers, and the schema's own migrations.
//!
//! The clients are the blocking ones: every query here already runs on a thread that may
//! block (the hub's, or `spawn_blocking`), exactly like SQLite's. A connection that was
//! lost is made again on its next use, unless it was inside a transaction: then the
//! transaction fails as a whole and nothing half-done is ever committed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use super::db::{Arg, Db, DbError, Dialect, Row, Value};
use super::StoreError;

mod schema;

/// Connections request handlers may hold at once.
pub const POOL_SIZE: usize = 8;
/// How long a request waits for a free connection before it gets an error.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Parses a `postgres://` URL (or key=value string) into a client configuration.
pub fn config(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url
        .parse()
        .map_err(|err: postgres::Error| StoreError::Db(DbError::Postgres(err)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("chat");
    }
    Ok(config)
}

/// One connection, made (again) when needed, with its prepared statements.
pub struct PgDb {
    config: Config,
    client: RefCell<Option<Client>>,
    statements: RefCell<HashMap<String, Statement>>,
    /// Inside `BEGIN` ... `COMMIT`: a lost connection is not silently replaced.
    in_tx: Cell<bool>,
}

impl PgDb {
    pub fn new(config: Config) -> PgDb {
        PgDb {
            config,
            client: RefCell::new(None),
            statements: RefCell::new(HashMap::new()),
            in_tx: Cell::new(false),
        }
    }

    /// Connects now, so that a wrong URL is reported at start-up.
    pub fn connect(config: Config) -> Result<PgDb, DbError> {
        let db = PgDb::new(config);
        db.with_client(|_| Ok(()))?;
        Ok(db)
    }

    /// Whether the connection is (still) there.
    pub fn is_open(&self) -> bool {
        matches!(&*self.client.borrow(), Some(client) if !client.is_closed())
    }

    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut slot = self.client.borrow_mut();
        let lost = slot.as_ref().is_none_or(Client::is_closed);
        if lost {
            if self.in_tx.get() {
                return Err(DbError::Unreachable(
                    "the connection was lost inside a transaction".into(),
                ));
            }
            self.statements.borrow_mut().clear();
            *slot = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(|err| DbError::Unreachable(err.to_string()))?;
            *slot = Some(client);
        }
        match slot.as_mut() {
            Some(client) => f(client),
            None => Err(DbError::Unreachable("no connection".into())),
        }
    }

    fn statement(&self, client: &mut Client, sql: &str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(&placeholders(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Takes the client out for work the [`Db`] methods do not cover (`LISTEN`).
    pub fn client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, DbError> {
        self.with_client(|client| f(client).map_err(DbError::from))
    }
}

/// `?1` becomes `$1`: the queries are written once, in SQLite's spelling.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|arg| arg as &(dyn ToSql + Sync)).collect()
}

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(value) => match *ty {
                Type::INT2 => i16::try_from(value)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(value)?.to_sql(ty, out),
                Type::BOOL => (value != 0).to_sql(ty, out),
                _ => value.to_sql(ty, out),
            },
            Arg::Text(value) => value.to_sql(ty, out),
            Arg::Bytes(value) => value.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn row(found: &postgres::Row) -> Result<Row, DbError> {
    let mut values = Vec::with_capacity(found.len());
    for (index, column) in found.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => found.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => found
                .try_get::<_, Option<i32>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => found
                .try_get::<_, Option<i16>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => found
                .try_get::<_, Option<bool>>(index)?
                .map(|v| Value::Int(v.into())),
            Type::BYTEA => found
                .try_get::<_, Option<Vec<u8>>>(index)?
                .map(Value::Bytes),
            Type::VOID => None,
            _ => found.try_get::<_, Option<String>>(index)?.map(Value::Text),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, DbError> {
        self.with_client(|client| {
            let statement = self.statement(client, sql)?;
            Ok(client.execute(&statement, &params(args))?)
        })
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, DbError> {
        self.with_client(|client| {
            let statement = self.statement(client, sql)?;
            client
                .query(&statement, &params(args))?
                .iter()
                .map(row)
                .collect()
        })
    }

    fn batch(&self, sql: &str) -> Result<(), DbError> {
        let word = sql.trim().to_ascii_uppercase();
        let begins = word.starts_with("BEGIN");
        let ends = word.starts_with("COMMIT") || word.starts_with("ROLLBACK");
        if ends && !self.is_open() {
            // Whatever was begun died with the connection; nothing was committed.
            self.in_tx.set(false);
            return match word.starts_with("COMMIT") {
                true => Err(DbError::Unreachable("the connection was lost".into())),
                false => Ok(()),
            };
        }
        let result = self.with_client(|client| Ok(client.batch_execute(sql)?));
        if begins && result.is_ok() {
            self.in_tx.set(true);
        }
        if ends {
            self.in_tx.set(false);
        }
        result
    }
}

/// Connections for request handlers: at most [`POOL_SIZE`], made as needed, kept while
/// they work. Cheap to clone.
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    config: Config,
    idle: Mutex<Vec<PgDb>>,
    freed: Condvar,
    /// Connections handed out right now.
    in_use: AtomicUsize,
}

impl PgPool {
    /// Connects once (so a wrong URL or a down database is reported at start-up) and
    /// brings the schema up to date.
    pub fn connect(url: &str) -> Result<PgPool, StoreError> {
        let config = config(url)?;
        let first = PgDb::connect(config.clone())?;
        schema::migrate(&first)?;
        Ok(PgPool {
            inner: Arc::new(PoolInner {
                config,
                idle: Mutex::new(vec![first]),
                freed: Condvar::new(),
                in_use: AtomicUsize::new(0),
            }),
        })
    }

    /// The configuration connections are made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A connection outside the pool, for one owner (the hub's writer, the listener).
    pub fn dedicated(&self) -> Result<Box<dyn Db + Send>, DbError> {
        Ok(Box::new(PgDb::new(self.inner.config.clone())))
    }

    /// A connection from the pool, waiting up to [`POOL_WAIT`] for one to come free.
    pub fn get(&self) -> Result<Pooled, DbError> {
        let inner = &self.inner;
        let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(db) = idle.pop() {
                inner.in_use.fetch_add(1, Ordering::Relaxed);
                return Ok(Pooled {
                    db: Some(db),
                    pool: inner.clone(),
                });
            }
            if inner.in_use.load(Ordering::Relaxed) < POOL_SIZE {
                inner.in_use.fetch_add(1, Ordering::Relaxed);
                return Ok(Pooled {
                    db: Some(PgDb::new(inner.config.clone())),
                    pool: inner.clone(),
                });
            }
            let (guard, waited) = inner
                .freed
                .wait_timeout(idle, POOL_WAIT)
                .unwrap_or_else(|p| p.into_inner());
            idle = guard;
            if waited.timed_out() && idle.is_empty() {
                return Err(DbError::Unreachable(
                    "every database connection is busy".into(),
                ));
            }
        }
    }

    /// `(in use, idle)` connections, for the metrics.
    pub fn usage(&self) -> (usize, usize) {
        let idle = self.inner.idle.lock().map(|v| v.len()).unwrap_or(0);
        (self.inner.in_use.load(Ordering::Relaxed), idle)
    }
}

/// A connection borrowed from a [`PgPool`]; it goes back when dropped.
pub struct Pooled {
    db: Option<PgDb>,
    pool: Arc<PoolInner>,
}

impl std::ops::Deref for Pooled {
    type Target = PgDb;
    fn deref(&self) -> &PgDb {
        // Set in every constructor, taken only in `drop`.
        self.db.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.in_use.fetch_sub(1, Ordering::Relaxed);
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = self.db.take() {
            // A broken connection or one left inside a transaction is not reused.
            if db.is_open() && !db.in_tx.get() {
                idle.push(db);
            }
        }
        self.pool.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_in_postgres_spelling() {
        assert_eq!(
            placeholders("SELECT ? , ?1 FROM t WHERE a = ?12 AND b = '?'"),
            "SELECT ? , $1 FROM t WHERE a = $12 AND b = '?'"
        );
    }
}
