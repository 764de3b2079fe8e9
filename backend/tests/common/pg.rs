//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, its own
//! free port on 127.0.0.1 and its unix socket in that directory, never a system service.
//!
//! The cluster is torn down when dropped, and also when the test process dies in any way
//! (a panic, `SIGKILL`, Ctrl-C): a watchdog shell, in a process group of its own, stops
//! the cluster and removes its directory once the test process's pid is gone. That is
//! what cleans up [`shared`], which lives in a static and is never dropped.
//!
//! `initdb` and `pg_ctl` refuse to run as root, so as root they run as the unprivileged
//! `postgres` user (`runuser -u postgres --`); otherwise as the current user. Clients
//! (`psql`, the server under test) connect as the superuser `chat` with `trust` auth.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

/// The environment variable that selects the database the harness gives servers.
pub const SELECT_VAR: &str = "CHAT_TEST_DATABASE";

/// Whether this run tests the servers on PostgreSQL (`CHAT_TEST_DATABASE=postgres`).
pub fn enabled() -> bool {
    std::env::var(SELECT_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// The cluster every server of this test binary shares, one database each; started on
/// first use. Tests that stop or restart PostgreSQL start a [`PgCluster`] of their own.
pub fn shared() -> &'static PgCluster {
    static SHARED: OnceLock<PgCluster> = OnceLock::new();
    SHARED.get_or_init(PgCluster::start)
}

/// A fresh database on the shared cluster, remembered for `data`: a server restarted on
/// the same data directory finds the same database, as it would find the same SQLite file.
pub fn database_for(data: &Path) -> String {
    static BY_DATA: OnceLock<Mutex<Vec<(PathBuf, String)>>> = OnceLock::new();
    let mut known = BY_DATA
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, url)) = known.iter().find(|(path, _)| path == data) {
        return url.clone();
    }
    let cluster = shared();
    let url = cluster.url(&cluster.fresh_db());
    known.push((data.to_path_buf(), url.clone()));
    url
}

/// A running PostgreSQL cluster of its own.
pub struct PgCluster {
    /// Holds `data/`, the log and the unix socket; removed when dropped.
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    watchdog: Mutex<Option<Child>>,
    databases: AtomicUsize,
}

impl PgCluster {
    /// Creates and starts a cluster on a free port; panics with its log if it cannot.
    pub fn start() -> PgCluster {
        let bin = bindir();
        let mut last_error = String::new();
        // A free port can be taken between asking for it and the postmaster binding it.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("chat-pg-")
                .tempdir()
                .expect("create the cluster's directory");
            if as_root() {
                run_checked(Command::new("chown").arg("postgres:").arg(dir.path()));
            }
            let initdb = admin(&bin.join("initdb"))
                .arg("-D")
                .arg(dir.path().join("data"))
                .args(["-A", "trust", "-U", "chat", "-E", "UTF8", "--locale=C"])
                .arg("--no-sync")
                .output()
                .expect("run initdb");
            assert!(initdb.status.success(), "initdb failed: {}", text(&initdb));
            let cluster = PgCluster {
                dir,
                bin: bin.clone(),
                port: free_port(),
                watchdog: Mutex::new(None),
                databases: AtomicUsize::new(0),
            };
            cluster.arm_watchdog();
            match cluster.pg_ctl_start() {
                Ok(()) => return cluster,
                Err(err) => last_error = err,
            }
        }
        panic!("PostgreSQL did not start: {last_error}");
    }

    /// The port it listens on (127.0.0.1 only); the same across [`PgCluster::stop`] and
    /// [`PgCluster::start_again`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://chat@127.0.0.1:<port>/<db>`
    pub fn url(&self, db: &str) -> String {
        format!("postgres://chat@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the database `name` (a plain identifier).
    pub fn create_db(&self, name: &str) {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "a plain database name: {name:?}"
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// Creates a database with a name no other caller gets, and returns the name.
    pub fn fresh_db(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        self.create_db(&name);
        name
    }

    /// Runs `sql` in `db` with `psql` and returns its unaligned, tuples-only output.
    /// A plain process, so it is safe inside an async test as well.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "chat", "-p"])
            .arg(self.port.to_string())
            .args(["-d", db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Ends every other connection to `db` (`pg_terminate_backend`), as a lost network
    /// or a restarted PostgreSQL would; returns how many there were.
    pub fn terminate_connections(&self, db: &str) -> usize {
        self.terminate_where(&format!("datname = '{db}'"))
    }

    /// Ends every other connection whose `pg_stat_activity` row matches `condition`
    /// (such as `query LIKE 'LISTEN%'`); returns how many there were.
    pub fn terminate_where(&self, condition: &str) -> usize {
        let ended = self.sql(
            "postgres",
            &format!(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' \
                 AND ({condition})) AS ended"
            ),
        );
        ended.parse().unwrap_or(0)
    }

    /// Stops PostgreSQL (`-m fast`: connections are cut, nothing committed is lost).
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-w", "-m", "fast"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// Starts it again after [`PgCluster::stop`], on the same port and data.
    pub fn start_again(&self) {
        if let Err(err) = self.pg_ctl_start() {
            panic!("PostgreSQL did not start again: {err}");
        }
    }

    /// [`PgCluster::stop`] then [`PgCluster::start_again`].
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// What PostgreSQL logged so far (to explain a failure).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        let out = self.pg_ctl(&["start", "-w", "-t", "30", "-o", &options]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}\nlog:\n{}", text(&out), self.log()))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        admin(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl")
    }

    /// Starts the shell that stops the cluster once this process is gone.
    fn arm_watchdog(&self) {
        let script = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            if [ "$2" = root ]; then
                runuser -u postgres -- "$3" -D "$4" -m immediate stop
            else
                "$3" -D "$4" -m immediate stop
            fi
            rm -rf "$5"
        "#;
        let child = Command::new("sh")
            .args(["-c", script, "pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(if as_root() { "root" } else { "user" })
            .arg(self.bin.join("pg_ctl"))
            .arg(self.dir.path().join("data"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at the tests does not end it first.
            .process_group(0)
            .spawn()
            .expect("start the cluster's watchdog");
        *self.watchdog.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
        // `dir` is removed as it drops.
    }
}

fn as_root() -> bool {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `initdb` or `pg_ctl`, as the `postgres` user when this process is root.
fn admin(program: &Path) -> Command {
    if as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// PostgreSQL's binaries: `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
fn bindir() -> PathBuf {
    let configured = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists());
    if let Some(dir) = configured {
        return dir;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is installed (scripts/setup installs it): no initdb found")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn run_checked(command: &mut Command) {
    let out = command.output().expect("run a setup command");
    assert!(out.status.success(), "{command:?} failed: {}", text(&out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
