//! ChromeDriver as a child process on a free port, stopped when its guard drops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The Debian package's paths; `E2E_CHROMEDRIVER` / `E2E_CHROMIUM` override them.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running ChromeDriver. Dropping it quits every session it opened, ends the process, and
/// only then removes the browsers' profile directories.
pub struct ChromeDriver {
    child: Child,
    addr: SocketAddr,
    profiles: Mutex<Vec<TempDir>>,
}

impl ChromeDriver {
    /// Starts ChromeDriver on a free loopback port and waits until it accepts sessions.
    pub async fn start() -> Self {
        let program = std::env::var("E2E_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        let addr = free_port();
        let child = Command::new(&program)
            .arg(format!("--port={}", addr.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browsers it starts can be ended with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start {program} ({err}); scripts/setup --browser installs it")
            });
        let mut driver = Self {
            child,
            addr,
            profiles: Mutex::new(Vec::new()),
        };
        driver.wait_until_ready().await;
        driver
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A fresh, empty profile directory (`--user-data-dir`) for one browser, removed once
    /// ChromeDriver and its browsers are gone.
    pub fn new_profile(&self) -> PathBuf {
        let profile = tempfile::Builder::new()
            .prefix("e2e-chromium-")
            .tempdir()
            .expect("cannot create a Chromium profile directory");
        let path = profile.path().to_owned();
        // A panic elsewhere cannot leave this list half-updated, so a poisoned lock is fine.
        let mut profiles = self.profiles.lock().unwrap_or_else(|e| e.into_inner());
        profiles.push(profile);
        path
    }

    /// The Chromium binary sessions should run.
    pub fn chromium() -> String {
        std::env::var("E2E_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into())
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + crate::WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited while starting on {}: {status}",
                    self.addr
                );
            }
            let addr = self.addr;
            let answer = tokio::task::spawn_blocking(move || http_get(addr, "/status"))
                .await
                .ok()
                .flatten();
            if answer.is_some_and(|body| body.contains("\"ready\":true")) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "chromedriver on {} did not report ready within {:?}",
                    self.addr,
                    crate::WAIT
                );
            }
            tokio::time::sleep(crate::POLL).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // `/shutdown` closes every session (and so every browser), then ChromeDriver exits.
        let _ = http_get(self.addr, "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still running: end its whole process group (ChromeDriver and the browsers it started).
        // The process is not reaped yet, so its group id cannot have been reused.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port nobody was using a moment ago.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot bind a free loopback port")
}

/// A minimal blocking `GET`, enough for ChromeDriver's own endpoints; `None` if it fails.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    // Read until the peer closes or goes quiet: either way, what arrived is the answer.
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}
