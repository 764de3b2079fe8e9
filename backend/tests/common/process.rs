//! The real server binary in its own process, for tests that measure what an attack costs
//! it (resident memory from `/proc/<pid>/status`) or that need its start-up behaviour.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running `backend` process on a free loopback port, killed when dropped.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub child: Child,
    /// Its data directory (kept alive as long as the process).
    pub data: Arc<TempDir>,
    _dist: TempDir,
    /// Everything it wrote to standard error so far.
    pub log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts the binary with the test defaults plus `args`, and waits until it listens.
    pub fn start(args: &[&str]) -> Self {
        let data = Arc::new(tempfile::tempdir().expect("create a data directory"));
        Self::start_in(data, args).expect("the server starts")
    }

    /// Starts the binary on `data`; `Err` with its output when it exits instead of listening.
    pub fn start_in(data: Arc<TempDir>, args: &[&str]) -> Result<Self, String> {
        let dist = super::dist_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_backend"));
        command.args(["--addr", "127.0.0.1:0"]);
        if !args.iter().any(|a| a.starts_with("--secret")) {
            command.args(["--secret", super::SECRET_32]);
        }
        if super::pg::enabled() && !args.iter().any(|a| a.starts_with("--database")) {
            command
                .arg("--database-url")
                .arg(super::pg::database_for(data.path()));
        }
        let mut child = command
            .arg("--data-dir")
            .arg(data.path())
            .arg("--dist")
            .arg(dist.path())
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("CHAT_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line
                    .split("http://")
                    .nth(1)
                    .or(line.split("https://").nth(1))
                {
                    let addr = rest.trim_end_matches('/').to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        match rx.recv_timeout(super::WAIT) {
            Ok(addr) => Ok(ServerProcess {
                addr: addr.parse().expect("the printed address parses"),
                child,
                data,
                _dist: dist,
                log,
            }),
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
                Err(format!("exit status {status:?}; output:\n{log}"))
            }
        }
    }

    /// Runs the binary to its end (for start-up checks that must fail) and returns its
    /// exit code and standard error.
    pub fn run_to_end(data: &Path, args: &[&str]) -> (Option<i32>, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_backend"));
        if super::pg::enabled() && !args.iter().any(|a| a.starts_with("--database")) {
            command
                .arg("--database-url")
                .arg(super::pg::database_for(data));
        }
        let out = command
            .args(["--addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the server binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.child.id())
    }

    /// Open file descriptors now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The highest resident memory seen while `during` runs, sampled every 20 ms.
    pub async fn peak_rss_during<T>(
        &self,
        during: impl std::future::Future<Output = T>,
    ) -> (u64, T) {
        let pid = self.child.id();
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_of(pid)));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak.fetch_max(rss_of(pid), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let out = during.await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = sampler.join();
        (peak.load(std::sync::atomic::Ordering::Relaxed), out)
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `check` holds, or fails saying `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Self) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !check(self) {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process, in bytes (0 once it is gone).
pub fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
