//! The key that signs session cookies: from `--secret`, or a random one kept in a `0600`
//! file in the data directory so sessions survive restarts.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// File holding the generated key.
pub const SECRET_FILE: &str = "secret";

/// The configured secret, or a random key that lasts as long as the process.
pub fn configured_or_random(configured: Option<&str>) -> Vec<u8> {
    match configured {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            let mut key = vec![0u8; 32];
            rand::rng().fill_bytes(&mut key);
            key
        }
    }
}

/// The signing key: the configured secret, else the stored one, else a new stored one.
pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => tracing::warn!(path = %path.display(), "secret file is too short; replacing it"),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
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

    #[test]
    fn generated_secret_is_kept_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None).unwrap();
        let second = load_or_create(dir.path(), None).unwrap();
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
        assert_eq!(load_or_create(dir.path(), Some("given")).unwrap(), b"given");
    }
}
