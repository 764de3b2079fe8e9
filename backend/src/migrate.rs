//! `backend migrate --from data/chat.db --to postgres://...`: moves a SQLite chat into an
//! empty PostgreSQL database, offline, in one transaction.
//!
//! Every row is copied as it is, ids included, so history, read markers, mentions and
//! cursors clients hold (`since`) mean the same afterwards; sessions are copied with their
//! token hashes, so a server started with the same secret keeps everyone signed in.
//! Afterwards PostgreSQL's sequences continue past the copied ids.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::session::unix_millis;
use crate::store::db::{args, Arg, Db, DbError, Row, Tx, Value};
use crate::store::{Store, StoreError, DB_FILE};

/// Rows read from SQLite and written to PostgreSQL at a time.
const PAGE: usize = 500;
/// A server whose heartbeat is younger than this may be using the target database.
const SERVER_ALIVE_MS: u64 = 30_000;

/// `backend migrate`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy, e.g. `data/chat.db` (a data directory means its
    /// `chat.db`). Stop the server using it first.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,

    /// The PostgreSQL database to copy into (`postgres://user@host:port/db`). It must not
    /// hold a chat yet; its schema is created if it is empty.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// Why nothing was migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}: no such SQLite database")]
    NoSource(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Db(#[from] DbError),
    #[error("the target database already holds a chat ({0}); nothing was written. Migrate only into an empty database")]
    TargetHoldsChat(String),
    #[error("a server is using the target database (its heartbeat is {0} s old); stop every server first")]
    ServerRunning(u64),
    #[error("the source has {0}, which this version cannot copy; nothing was written")]
    UnknownSchema(String),
    #[error("copied {copied} rows of {table} but the source has {expected}; nothing was written")]
    Mismatch {
        table: &'static str,
        expected: u64,
        copied: u64,
    },
}

/// One table to copy: its columns in SQLite's latest schema, and the key rows are read in
/// order of (the primary key).
struct Table {
    name: &'static str,
    /// What the report calls its rows.
    label: &'static str,
    columns: &'static [&'static str],
    key: &'static [&'static str],
}

/// Every table of the chat, in an order that satisfies the foreign keys (sessions after
/// users). [`tests::the_copied_tables_are_exactly_sqlites_schema`] fails when SQLite's
/// schema gains a table or column this list lacks.
const TABLES: &[Table] = &[
    Table {
        name: "users",
        label: "users",
        columns: &[
            "id",
            "name",
            "name_key",
            "canon",
            "password_hash",
            "created_ms",
        ],
        key: &["id"],
    },
    Table {
        name: "sessions",
        label: "sessions",
        columns: &["id", "token_hash", "user_id", "created_ms", "last_seen_ms"],
        key: &["id"],
    },
    Table {
        name: "rooms",
        label: "rooms",
        columns: &[
            "id",
            "slug",
            "name",
            "canon",
            "topic",
            "kind",
            "dm_key",
            "created_by",
            "created_ms",
        ],
        key: &["id"],
    },
    Table {
        name: "members",
        label: "memberships",
        columns: &["room_id", "user_id", "read_id", "muted", "joined_ms"],
        key: &["room_id", "user_id"],
    },
    Table {
        name: "mentions",
        label: "mentions",
        columns: &["user_id", "room_id", "message_id"],
        key: &["user_id", "room_id", "message_id"],
    },
    Table {
        name: "messages",
        label: "messages",
        columns: &["id", "user_id", "cid", "json", "room_id", "kind"],
        key: &["id"],
    },
    Table {
        name: "meta",
        label: "settings",
        columns: &["key", "value"],
        key: &["key"],
    },
];

/// What a migration copied, printed at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub source: PathBuf,
    /// SQLite's schema version before and after opening it (it is upgraded first).
    pub source_version: (u64, u64),
    pub target: String,
    /// Rows copied per table, in [`TABLES`] order: `(label, rows)`.
    pub copied: Vec<(&'static str, u64)>,
    pub accounts: u64,
    /// The generated session key copied from next to the source, if there was one.
    pub secret: Option<PathBuf>,
    /// The highest copied id per sequence-backed table: `(table, id)`.
    pub last_ids: Vec<(String, u64)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (before, after) = self.source_version;
        write!(f, "Copied {}", self.source.display())?;
        if before != after {
            write!(
                f,
                " (first upgraded from schema version {before} to {after})"
            )?;
        }
        writeln!(f, " into {}:", self.target)?;
        for (label, rows) in &self.copied {
            write!(f, "  {label:<12} {rows:>9}")?;
            if *label == "users" {
                write!(f, " ({} accounts)", self.accounts)?;
            }
            writeln!(f)?;
        }
        let next: Vec<String> = self
            .last_ids
            .iter()
            .map(|(table, id)| format!("{table} after {id}"))
            .collect();
        writeln!(f, "New ids continue: {}.", next.join(", "))?;
        match &self.secret {
            Some(path) => write!(
                f,
                "The session key {} is now the database's: servers started without \
                 --secret keep everyone signed in.",
                path.display()
            ),
            None => write!(
                f,
                "No generated session key was found next to the database: start every \
                 server with the --secret or --secret-file the old server used."
            ),
        }
    }
}

/// Runs `backend migrate` and returns the process's exit code: prints the report, or
/// the reason nothing was copied.
pub async fn main(args: MigrateArgs) -> i32 {
    // The PostgreSQL client blocks: it must not run on the runtime's threads.
    match tokio::task::spawn_blocking(move || migrate(&args)).await {
        Ok(Ok(report)) => {
            println!("{report}");
            0
        }
        Ok(Err(err)) => {
            eprintln!("migrate: {err}");
            1
        }
        Err(err) => {
            eprintln!("migrate: {err}");
            1
        }
    }
}

/// Copies the SQLite chat at `args.from` into the PostgreSQL database at `args.to`.
/// Blocks: call it where blocking is allowed.
pub fn migrate(args: &MigrateArgs) -> Result<Report, MigrateError> {
    let path = source_file(&args.from)?;
    let before = sqlite_version(&path)?;
    // Checks the file for damage and upgrades it to the latest schema.
    let source = Store::open_file(&path)?;
    let after = source.call_now(|db| db.query_one("PRAGMA user_version", args![])?.uint(0))?;
    let target = Store::connect(&args.to)?;
    let Some(pool) = target.postgres() else {
        return Err(StoreError::Unsupported("--to must name a PostgreSQL database").into());
    };
    let dest = pool.get()?;
    let secret_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(crate::secret::SECRET_FILE);
    let secret = std::fs::read(&secret_path)
        .ok()
        .filter(|key| key.len() >= crate::secret::MIN_SECRET_BYTES);
    let copied = source.call_now(|src| Ok(copy(src, &*dest, secret.as_deref())))??;
    let (copied, accounts, last_ids, secret_copied) = copied;
    Ok(Report {
        source: path,
        source_version: (before, after),
        target: crate::redact(&args.to),
        copied,
        accounts,
        secret: secret_copied.then_some(secret_path),
        last_ids,
    })
}

/// The database file `from` names; a directory means its `chat.db`. It must exist:
/// opening a missing one would create an empty chat.
fn source_file(from: &Path) -> Result<PathBuf, MigrateError> {
    let path = match from.is_dir() {
        true => from.join(DB_FILE),
        false => from.to_path_buf(),
    };
    match path.is_file() {
        true => Ok(path),
        false => Err(MigrateError::NoSource(path.display().to_string())),
    }
}

/// SQLite's schema version of the file, before anything upgrades it.
fn sqlite_version(path: &Path) -> Result<u64, MigrateError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| StoreError::Corrupt {
        path: path.display().to_string(),
        detail: err.to_string(),
    })?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|err| StoreError::Corrupt {
            path: path.display().to_string(),
            detail: err.to_string(),
        })?;
    Ok(version.max(0) as u64)
}

type Copied = (Vec<(&'static str, u64)>, u64, Vec<(String, u64)>, bool);

/// Copies every table inside one transaction on each side: the source is read as one
/// snapshot, and the target either gets all of it or nothing.
fn copy(src: &dyn Db, dest: &dyn Db, secret: Option<&[u8]>) -> Result<Copied, MigrateError> {
    check_source_schema(src)?;
    let src_tx = Tx::begin(src)?;
    let tx = Tx::begin(dest)?;
    // Waits for (and then keeps out) another migration into the same database, and any
    // server's writes, until this one commits or rolls back.
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    tx.batch(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))?;
    check_target(&tx)?;
    // The schema's own `general`; the source has its own copy of it.
    tx.execute("DELETE FROM rooms", args![])?;
    let mut copied = Vec::new();
    for table in TABLES {
        let rows = copy_table(&src_tx, &tx, table)?;
        let expected = count(&src_tx, table.name)?;
        let found = count(&tx, table.name)?;
        if rows != expected || found != expected {
            return Err(MigrateError::Mismatch {
                table: table.name,
                expected,
                copied: found,
            });
        }
        copied.push((table.label, rows));
    }
    let accounts = tx
        .query_one(
            "SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL",
            args![],
        )?
        .uint(0)?;
    let last_ids = advance_sequences(&tx)?;
    let secret_copied = match secret {
        Some(key) => copy_secret(&tx, key)?,
        None => false,
    };
    tx.commit()?;
    src_tx.commit()?;
    Ok((copied, accounts, last_ids, secret_copied))
}

/// Makes the key the SQLite server generated the one servers on the database share, so
/// the copied sessions' cookies verify. `false` when the schema keeps no key.
fn copy_secret(tx: &dyn Db, key: &[u8]) -> Result<bool, DbError> {
    let kept = tx
        .query_one("SELECT to_regclass('settings')::text", args![])?
        .opt_text(0)?
        .is_some();
    if kept {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('session_secret', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            args![key],
        )?;
    }
    Ok(kept)
}

/// Refuses a source whose tables or columns are not exactly the ones [`TABLES`] copies,
/// so nothing is ever left behind silently.
fn check_source_schema(src: &dyn Db) -> Result<(), MigrateError> {
    let tables = src.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        args![],
    )?;
    for row in tables {
        let name = row.text(0)?;
        let Some(table) = TABLES.iter().find(|t| t.name == name) else {
            return Err(MigrateError::UnknownSchema(format!("a table {name:?}")));
        };
        let columns = src.query("SELECT name FROM pragma_table_info(?1)", args![&name])?;
        for column in columns {
            let column = column.text(0)?;
            if !table.columns.contains(&column.as_str()) {
                return Err(MigrateError::UnknownSchema(format!(
                    "a column {name}.{column}"
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a target with anything in it besides the schema's own `general`, and one a
/// server has been using in the last [`SERVER_ALIVE_MS`].
fn check_target(tx: &dyn Db) -> Result<(), MigrateError> {
    let mut held = Vec::new();
    for table in TABLES {
        let rows = match table.name {
            "rooms" => tx.query_one("SELECT COUNT(*) FROM rooms WHERE id <> 1", args![])?,
            name => tx.query_one(&format!("SELECT COUNT(*) FROM {name}"), args![])?,
        }
        .uint(0)?;
        if rows > 0 {
            held.push(format!("{rows} {}", table.label));
        }
    }
    if !held.is_empty() {
        return Err(MigrateError::TargetHoldsChat(held.join(", ")));
    }
    let newest = tx
        .query_one(
            "SELECT COALESCE(MAX(heartbeat_ms), 0) FROM servers",
            args![],
        )?
        .uint(0)?;
    let age = unix_millis().saturating_sub(newest);
    if age < SERVER_ALIVE_MS {
        return Err(MigrateError::ServerRunning(age / 1000));
    }
    Ok(())
}

fn count(db: &dyn Db, table: &str) -> Result<u64, DbError> {
    db.query_one(&format!("SELECT COUNT(*) FROM {table}"), args![])?
        .uint(0)
}

/// Copies one table page by page, in key order; returns how many rows it copied.
fn copy_table(src: &dyn Db, dest: &dyn Db, table: &Table) -> Result<u64, DbError> {
    let columns = table.columns.join(", ");
    let key = table.key.join(", ");
    let first = format!(
        "SELECT {columns} FROM {} ORDER BY {key} LIMIT {PAGE}",
        table.name
    );
    let after = format!(
        "SELECT {columns} FROM {} WHERE ({key}) > ({}) ORDER BY {key} LIMIT {PAGE}",
        table.name,
        placeholders(1, table.key.len())
    );
    let key_at: Vec<usize> = table
        .key
        .iter()
        .filter_map(|k| table.columns.iter().position(|c| c == k))
        .collect();
    let mut copied = 0;
    let mut cursor: Option<Row> = None;
    loop {
        let rows = match &cursor {
            None => src.query(&first, args![])?,
            Some(last) => {
                let keys: Vec<Arg<'_>> = key_at.iter().map(|i| arg(&last.0[*i])).collect();
                src.query(&after, &keys)?
            }
        };
        if rows.is_empty() {
            return Ok(copied);
        }
        insert(dest, table, &rows)?;
        copied += rows.len() as u64;
        let full = rows.len() == PAGE;
        cursor = rows.into_iter().last();
        if !full {
            return Ok(copied);
        }
    }
}

/// One multi-row `INSERT` of `rows` into `table`.
fn insert(dest: &dyn Db, table: &Table, rows: &[Row]) -> Result<(), DbError> {
    let width = table.columns.len();
    let values: Vec<String> = (0..rows.len())
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        table.columns.join(", "),
        values.join(", ")
    );
    let mut arguments = Vec::with_capacity(rows.len() * width);
    for row in rows {
        if row.0.len() != width {
            return Err(DbError::Column {
                index: row.0.len(),
                expected: "one value per copied column",
            });
        }
        arguments.extend(row.0.iter().map(arg));
    }
    dest.execute(&sql, &arguments)?;
    Ok(())
}

/// `?first, ?first+1, ...`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn arg(value: &Value) -> Arg<'_> {
    match value {
        Value::Null => Arg::Null,
        Value::Int(v) => Arg::Int(*v),
        Value::Text(v) => Arg::Text(v),
        Value::Bytes(v) => Arg::Bytes(v),
    }
}

/// Moves every sequence behind a copied table's column (`BIGSERIAL`) past the highest
/// copied value, so the next user, session or room gets a new id, and `message_ids` past
/// the copied messages and the `id_reserved` watermark in `meta`.
fn advance_sequences(tx: &dyn Db) -> Result<Vec<(String, u64)>, DbError> {
    let mut last = Vec::new();
    for table in TABLES {
        let serial = tx.query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1
               AND column_default LIKE 'nextval(%'",
            args![table.name],
        )?;
        for row in serial {
            let column = row.text(0)?;
            if !table.columns.contains(&column.as_str()) {
                continue;
            }
            let max = tx
                .query_one(
                    &format!("SELECT COALESCE(MAX({column}), 0) FROM {}", table.name),
                    args![],
                )?
                .uint(0)?;
            tx.query_one(
                "SELECT setval(pg_get_serial_sequence(?1, ?2), ?3, false)",
                args![table.name, &column, max + 1],
            )?;
            last.push((format!("{}.{column}", table.name), max));
        }
    }
    // Message ids come from their own sequence: it continues above every copied message
    // and every id the old server may have handed out unstored (the watermark).
    let messages = crate::store::messages::first_free_id(tx)?.saturating_sub(1);
    if tx
        .query_one("SELECT to_regclass('message_ids')::text", args![])?
        .opt_text(0)?
        .is_some()
    {
        tx.query_one("SELECT setval('message_ids', ?1)", args![messages.max(1)])?;
    }
    last.push(("messages.id".to_owned(), messages));
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteDb;

    #[test]
    fn the_copied_tables_are_exactly_sqlites_schema() {
        let db = SqliteDb::memory().unwrap();
        check_source_schema(&db).expect("every table and column is copied");
        for table in TABLES {
            let columns = db
                .query("SELECT name FROM pragma_table_info(?1)", args![table.name])
                .unwrap();
            let columns: Vec<String> = columns.iter().map(|r| r.text(0).unwrap()).collect();
            assert_eq!(columns.len(), table.columns.len(), "{}", table.name);
            for key in table.key {
                assert!(table.columns.contains(key), "{}.{key}", table.name);
            }
        }
    }

    #[test]
    fn a_source_with_a_column_nobody_copies_is_refused() {
        let db = SqliteDb::memory().unwrap();
        db.batch("ALTER TABLE users ADD COLUMN avatar TEXT")
            .unwrap();
        let err = check_source_schema(&db).unwrap_err();
        assert!(err.to_string().contains("users.avatar"), "{err}");
    }

    #[test]
    fn a_missing_source_is_refused_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nothing.db");
        let err = source_file(&missing).unwrap_err();
        assert!(matches!(err, MigrateError::NoSource(_)), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_data_directory_means_its_database_file() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        assert_eq!(source_file(dir.path()).unwrap(), dir.path().join(DB_FILE));
    }

    /// Paging by composite keys must neither skip nor repeat a row at page boundaries.
    #[test]
    fn every_row_is_copied_once_across_pages() {
        let src = SqliteDb::memory().unwrap();
        let dest = SqliteDb::memory().unwrap();
        let members = TABLES.iter().find(|t| t.name == "members").unwrap();
        for room in 1..=3u64 {
            for user in 1..=(PAGE as u64) {
                src.execute(
                    "INSERT INTO members (room_id, user_id, read_id, muted, joined_ms)
                     VALUES (?1, ?2, ?3, 0, 5)",
                    args![room, user, user * 10],
                )
                .unwrap();
            }
        }
        let copied = copy_table(&src, &dest, members).unwrap();
        assert_eq!(copied, 3 * PAGE as u64);
        assert_eq!(count(&dest, "members").unwrap(), 3 * PAGE as u64);
        let read = dest
            .query_one(
                "SELECT read_id FROM members WHERE room_id = 3 AND user_id = ?1",
                args![PAGE],
            )
            .unwrap()
            .uint(0)
            .unwrap();
        assert_eq!(read, PAGE as u64 * 10);
    }

    #[test]
    fn the_report_names_what_was_copied_and_where_ids_continue() {
        let report = Report {
            source: PathBuf::from("data/chat.db"),
            source_version: (2, 3),
            target: "postgres://chat@db/chat".into(),
            copied: vec![("users", 3), ("messages", 40)],
            accounts: 1,
            secret: None,
            last_ids: vec![("users.id".into(), 3), ("messages.id".into(), 41)],
        };
        let text = report.to_string();
        assert!(
            text.contains("upgraded from schema version 2 to 3"),
            "{text}"
        );
        assert!(text.contains("(1 accounts)"), "{text}");
        assert!(text.contains("messages.id after 41"), "{text}");
    }
}
