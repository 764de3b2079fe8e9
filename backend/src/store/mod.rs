//! Embedded storage: one SQLite database file in the data directory.
//!
//! Two connections: the room owns one for writing messages in batches (see `crate::room`);
//! the other, behind a mutex, serves accounts, sessions and history for HTTP requests. The
//! mutex is only taken inside `spawn_blocking`, never across an `.await`. WAL mode lets
//! the two work side by side.

pub mod accounts;
pub mod messages;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "chat.db";

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o error on the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A connection behind a mutex, taken only on blocking threads, never across `.await`.
pub type SharedConnection = Arc<Mutex<Connection>>;

/// Locks a connection; a panic elsewhere while it was held leaves SQLite consistent.
pub fn lock(conn: &SharedConnection) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Handle to the database for request handlers. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: SharedConnection,
    /// The database file; `None` for a database in memory.
    path: Option<PathBuf>,
}

impl Store {
    /// Creates the data directory and database if needed and applies migrations.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        Self::open_file(&data_dir.join(DB_FILE))
    }

    /// Opens (and migrates) the database in one file, such as a backup copy.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let conn = connect(&path)?;
        schema::migrate(&conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path),
        })
    }

    /// A database that lives in memory only, as long as this store does.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        schema::migrate(&conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The connection for the room's writer: a second one to the same file, so that
    /// writing never waits for request handlers; in memory, the one there is.
    pub fn writer(&self) -> Result<SharedConnection, StoreError> {
        match &self.path {
            Some(path) => Ok(Arc::new(Mutex::new(connect(path)?))),
            None => Ok(self.conn.clone()),
        }
    }

    /// Writes a consistent copy of the database to `dest` (which must not exist yet).
    /// Safe while the server runs: the copy is one read transaction's snapshot.
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest.to_string_lossy().into_owned();
        self.call_now(move |db| db.execute("VACUUM INTO ?1", [dest]).map(|_| ()))
    }

    /// Runs `f` on the request-side connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)).map_err(StoreError::from)).await?
    }

    /// Runs `f` on the request-side connection, blocking the caller. For start-up only.
    pub fn call_now<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&mut conn).map_err(StoreError::from)
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
            .call_now(|db| messages::insert(db, 7, 1, None, r#"{"id":7}"#))
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
}
