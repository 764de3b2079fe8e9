//! The key that signs session cookies: from `--secret` or `--secret-file`, or a random one
//! kept in a `0600` file in the data directory so sessions survive restarts.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::store::db::{args, Dialect};
use crate::store::Store;
use crate::Config;

/// File holding the generated key.
pub const SECRET_FILE: &str = "secret";
/// Shortest key accepted: an HMAC-SHA256 key shorter than its output weakens it.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why no signing key could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the session secret must be at least {MIN_SECRET_BYTES} bytes; {0} has {1}")]
    TooShort(&'static str, usize),
    #[error("cannot read --secret-file {0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error("i/o error on the secret file in the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot keep the session secret in the shared database: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The signing key for `config`: `--secret`, else `--secret-file`, else the stored one
/// (made on first start: in the shared database when there is one, so that every server
/// accepts every server's cookies; else in the data directory), else for a database in
/// memory a random key for this run.
pub fn resolve(config: &Config, store: &Store) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = &config.secret {
        return checked(secret.as_bytes().to_vec(), "--secret");
    }
    if let Some(path) = &config.secret_file {
        let key = std::fs::read(path)
            .map_err(|err| SecretError::Unreadable(path.display().to_string(), err))?;
        // A trailing newline from `echo ... > file` is not part of the key.
        let key = key.trim_ascii_end().to_vec();
        return checked(key, "--secret-file");
    }
    if store.dialect() == Dialect::Postgres {
        return shared_key(store);
    }
    if config.in_memory {
        tracing::warn!("--in-memory without --secret: sessions end when the server stops");
        return Ok(random_key());
    }
    load_or_create(&config.data_dir)
}

fn checked(key: Vec<u8>, source: &'static str) -> Result<Vec<u8>, SecretError> {
    if key.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort(source, key.len()));
    }
    Ok(key)
}

fn random_key() -> Vec<u8> {
    let mut key = vec![0u8; MIN_SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    key
}

/// The key kept in the shared database; the first server to start makes it.
fn shared_key(store: &Store) -> Result<Vec<u8>, SecretError> {
    let candidate = random_key();
    let key = store.call_now(|db| {
        db.execute(
            "INSERT INTO settings (key, value) VALUES ('session_secret', ?1)
             ON CONFLICT DO NOTHING",
            args![candidate.as_slice()],
        )?;
        db.query_one(
            "SELECT value FROM settings WHERE key = 'session_secret'",
            args![],
        )?
        .bytes(0)
    })?;
    checked(key, "the shared database")
}

/// The stored key in `data_dir`, or a new one stored there (mode `0600`).
pub fn load_or_create(data_dir: &Path) -> Result<Vec<u8>, SecretError> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= MIN_SECRET_BYTES => return Ok(key),
        Ok(_) => tracing::warn!(path = %path.display(), "secret file is too short; replacing it"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    let key = random_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(&path)?.write_all(&key)?;
    tracing::info!(path = %path.display(), "generated a new session signing key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Store {
        Store::open_in_memory().unwrap()
    }

    #[test]
    fn generated_secret_is_kept_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_secret_wins_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            secret: Some("x".repeat(32)),
            ..Config::default()
        };
        assert_eq!(resolve(&config, &memory()).unwrap(), "x".repeat(32).as_bytes());
        config.secret = Some("short".into());
        assert!(matches!(
            resolve(&config, &memory()),
            Err(SecretError::TooShort("--secret", 5))
        ));
    }

    #[test]
    fn secret_file_is_read_without_its_trailing_newline_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{}\n", "k".repeat(40))).unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            secret_file: Some(file.clone()),
            ..Config::default()
        };
        assert_eq!(resolve(&config, &memory()).unwrap(), "k".repeat(40).as_bytes());
        std::fs::write(&file, "too short\n").unwrap();
        assert!(matches!(resolve(&config, &memory()), Err(SecretError::TooShort(..))));
        config.secret_file = Some(dir.path().join("missing"));
        assert!(matches!(resolve(&config, &memory()), Err(SecretError::Unreadable(..))));
    }
}
