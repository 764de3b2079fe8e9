//! Start-up refuses what would fail later: a damaged database, a weak signing key. Each
//! runs the real server binary and reads its exit status and message.

mod common;

use common::process::ServerProcess;

#[test]
fn corrupted_database_stops_the_server_with_a_clear_message() {
    common::sqlite_only!("a damaged SQLite file");
    let data = tempfile::tempdir().unwrap();
    // Before: the server started on such a file, and every sign-in then failed with 500.
    std::fs::write(data.path().join("chat.db"), vec![0x42u8; 16 * 1024]).unwrap();
    let (code, stderr) = ServerProcess::run_to_end(data.path(), &["--secret", common::SECRET_32]);
    assert_ne!(code, Some(0), "exits with a failure status; said: {stderr}");
    assert!(code.is_some(), "exits by itself rather than by a signal");
    assert!(
        stderr.contains("is damaged") && stderr.contains("backup"),
        "says what is wrong and what to do: {stderr}"
    );
}

#[test]
fn secret_shorter_than_32_bytes_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let (code, stderr) = ServerProcess::run_to_end(data.path(), &["--secret", "hunter2"]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");

    let file = data.path().join("key");
    std::fs::write(&file, "short\n").unwrap();
    let (code, stderr) =
        ServerProcess::run_to_end(data.path(), &["--secret-file", file.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
}

#[test]
fn secret_file_signs_sessions_that_survive_a_restart() {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let key = data.path().join("key");
    std::fs::write(&key, format!("{}\n", "s".repeat(48))).unwrap();
    let args = ["--secret-file", key.to_str().unwrap()];
    let first = ServerProcess::start_in(data.clone(), &args).expect("starts with the file");
    // Nothing about lost sessions: the key is kept.
    assert!(!first.log().contains("will not survive"), "{}", first.log());
    drop(first);
    let second = ServerProcess::start_in(data, &args).expect("starts again");
    assert!(
        !second.log().contains("will not survive"),
        "{}",
        second.log()
    );
}
