//! Storage: by default one SQLite database file in the data directory; with
//! `--database postgres://...`, a PostgreSQL database that several servers share.
//!
//! Every query goes through [`db::Db`], so nothing above this module knows which one it
//! has. The hub owns one connection for writing messages in batches (see `crate::hub`);
//! request handlers use another (SQLite: one behind a mutex; PostgreSQL: a pool), only
//! inside `spawn_blocking`, never across an `.await`. SQLite's WAL mode lets the two work
//! side by side.

pub mod accounts;
pub mod db;
pub mod limits;
pub mod messages;
pub mod postgres;
pub mod rooms;
mod schema;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use db::{Db, DbError, Dialect};
use sqlite::SqliteDb;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "chat.db";

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbError),
    #[error("i/o error on the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "the database {path} is damaged ({detail}); stop here and restore it from a backup \
         (see \"Data and backups\" in the README), or move it away to start empty"
    )]
    Corrupt { path: String, detail: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Db(err.into())
    }
}

/// A connection behind a mutex, taken only on blocking threads, never across `.await`.
pub type SharedDb = Arc<Mutex<Box<dyn Db + Send>>>;

/// Locks a connection; a panic elsewhere while it was held leaves the database consistent
/// (a transaction left open is rolled back by the next `BEGIN`'s owner dropping it).
pub fn lock(db: &SharedDb) -> std::sync::MutexGuard<'_, Box<dyn Db + Send>> {
    db.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn shared(db: impl Db + Send + 'static) -> SharedDb {
    Arc::new(Mutex::new(Box::new(db)))
}

/// Handle to the database for request handlers. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite {
        conn: SharedDb,
        /// The database file; `None` for a database in memory.
        path: Option<PathBuf>,
    },
    Postgres(postgres::PgPool),
}

impl Store {
    /// Creates the data directory and database if needed and applies migrations.
    /// The directory is private to the server's user (`0700`), and so is the database
    /// (`0600`; SQLite gives its `-wal` and `-shm` files the database file's mode).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        private::create_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        private::create_file(&path)?;
        for suffix in ["-wal", "-shm"] {
            private::restrict(&data_dir.join(format!("{DB_FILE}{suffix}")))?;
        }
        Self::open_file(&path)
    }

    /// Opens (and migrates) the database in one file, such as a backup copy. A damaged
    /// file is refused with [`StoreError::Corrupt`] before anything is written to it.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.display().to_string(),
            detail,
        };
        let conn = connect(&path).map_err(|err| corrupt(err.to_string()))?;
        quick_check(&conn).map_err(corrupt)?;
        schema::migrate(&conn)?;
        Ok(Store {
            backend: Backend::Sqlite {
                conn: shared(SqliteDb(conn)),
                path: Some(path),
            },
        })
    }

    /// A database that lives in memory only, as long as this store does.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite {
                conn: shared(SqliteDb::memory()?),
                path: None,
            },
        })
    }

    /// Connects to a PostgreSQL database (`postgres://user@host:port/db`) and brings its
    /// schema up to date. Several servers may share it.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::PgPool::connect(url)?),
        })
    }

    /// Opens the database the configuration names: PostgreSQL when a URL is given,
    /// otherwise SQLite in `data_dir`, or in memory.
    pub fn open_configured(
        database: Option<&str>,
        data_dir: &Path,
        in_memory: bool,
    ) -> Result<Store, StoreError> {
        match database {
            Some(url) => Store::connect(url),
            None if in_memory => Store::open_in_memory(),
            None => Store::open(data_dir),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The connection for the hub's writer: one of its own, so that writing never waits
    /// for request handlers; for SQLite in memory, the one there is.
    pub fn writer(&self) -> Result<SharedDb, StoreError> {
        match &self.backend {
            Backend::Sqlite {
                path: Some(path), ..
            } => Ok(shared(SqliteDb(connect(path)?))),
            Backend::Sqlite { conn, path: None } => Ok(conn.clone()),
            Backend::Postgres(pool) => Ok(Arc::new(Mutex::new(pool.dedicated()?))),
        }
    }

    /// The PostgreSQL pool, when that is the database.
    pub fn postgres(&self) -> Option<&postgres::PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite { .. } => None,
        }
    }

    /// Writes a consistent copy of a SQLite database to `dest` (which must not exist yet).
    /// Safe while the server runs: the copy is one read transaction's snapshot.
    /// PostgreSQL is backed up with `pg_dump` instead.
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        if self.dialect() == Dialect::Postgres {
            return Err(StoreError::Unsupported(
                "--backup copies a SQLite database; back PostgreSQL up with pg_dump",
            ));
        }
        let dest = dest.to_string_lossy().into_owned();
        self.call_now(move |db| db.execute("VACUUM INTO ?1", db::args![&dest]).map(|_| ()))
    }

    /// Whether the database answers a trivial query now.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.call_now(|db| db.query_one("SELECT 1", db::args![]).map(|_| ()))
    }

    /// Runs `f` on a request-side connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, DbError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.call_now(f)).await?
    }

    /// Runs `f` on a request-side connection, blocking the caller: at start-up, on
    /// blocking threads, and from the command line.
    pub fn call_now<T>(
        &self,
        f: impl FnOnce(&dyn Db) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite { conn, .. } => Ok(f(&**lock(conn))?),
            Backend::Postgres(pool) => {
                let conn = pool.get()?;
                Ok(f(&*conn)?)
            }
        }
    }
}

/// `PRAGMA quick_check`: `Err` with what it found unless the database is sound.
fn quick_check(conn: &Connection) -> Result<(), String> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|err| err.to_string())?;
    let found: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|err| err.to_string())?;
    match found.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        problems => Err(problems.join("; ")),
    }
}

/// Files and directories only the server's user may read.
mod private {
    use std::path::Path;

    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        set_mode(dir, 0o700)
    }

    /// Creates `path` empty with mode `0600` if it is missing, else restricts it.
    pub fn create_file(path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?;
        set_mode(path, 0o600)
    }

    /// Sets mode `0600` on `path` if it exists (files an older version left readable).
    pub fn restrict(path: &Path) -> std::io::Result<()> {
        match set_mode(path, 0o600) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    #[cfg(not(unix))]
    fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
        Ok(())
    }
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never block the writer. FULL: a commit is on disk before it returns,
    // and nothing is broadcast before its commit.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_is_a_complete_database_while_the_original_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .call_now(|db| messages::insert(db, messages::Row::chat(7, 1), r#"{"id":7}"#))
            .unwrap();
        let dest = dir.path().join("copy.db");
        store.backup(&dest).unwrap();
        let copy = Store::open_file(&dest).unwrap();
        let rows = copy
            .call_now(|db| messages::before(db, u64::MAX, 10))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, 7);
    }

    #[cfg(unix)]
    #[test]
    fn data_directory_and_database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let store = Store::open(&dir).unwrap();
        store
            .call_now(|db| messages::insert(db, messages::Row::chat(1, 1), "{}"))
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for name in [DB_FILE, "chat.db-wal", "chat.db-shm"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
    }

    #[test]
    fn damaged_database_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), vec![0x42u8; 8192]).unwrap();
        let err = Store::open(dir.path())
            .err()
            .expect("a damaged file is refused");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains("restore it from a backup"),
            "{err}"
        );
    }
}
