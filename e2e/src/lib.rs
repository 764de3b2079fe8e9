//! Harness for the browser tests: the real server in-process, a ChromeDriver child process and
//! headless Chromium sessions, each in a fresh profile.
//!
//! The tests drive the release build of the client, so `dist/` must exist first
//! (`trunk build --release`, which `scripts/test` runs). A test takes a [`Harness`], opens
//! one [`Browser`] per user and speaks only in terms of what a person sees: labels, roles and
//! button texts. What the server stored is checked through its JSON API, as a script would
//! (`TestServer::guest_cookie`, `TestServer::history`).
//!
//! Every wait is bounded and says what it was waiting for when it gives up.

mod api;
mod browser;
mod driver;
mod log;
mod rooms;
mod server;

pub use api::HISTORY_PAGE;
pub use browser::{enter, shift_enter, Browser};
pub use driver::ChromeDriver;
pub use log::{Lines, SENDING, SETTLE};
pub use server::TestServer;

use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// How long a wait lasts before the test fails: generous for a busy two-core machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(100);

/// Chromium is heavy: one test drives browsers at a time, whatever the test threads.
static TURN: Mutex<()> = Mutex::const_new(());

/// Everything one test needs: its own server and ChromeDriver, and its turn at the browsers.
///
/// Fields drop in order: the server stops, ChromeDriver quits (closing every session), and
/// the next test gets its turn.
pub struct Harness {
    pub server: TestServer,
    driver: ChromeDriver,
    _turn: MutexGuard<'static, ()>,
}

impl Harness {
    /// Starts a server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(TestServer::config()).await
    }

    /// Starts a server with `config` (its `addr` is ignored: the server gets a free port).
    pub async fn start_with(config: backend::Config) -> Self {
        let turn = TURN.lock().await;
        let server = TestServer::start(config).await;
        let driver = ChromeDriver::start().await;
        Self {
            server,
            driver,
            _turn: turn,
        }
    }

    /// Opens a browser in a profile of its own (its own cookies), pointed at the server.
    pub async fn browser(&self) -> Browser {
        Browser::open(&self.driver, &self.server.url("")).await
    }

    /// Two separate browser profiles signed in as `first` and `second`, each already
    /// seeing both in "Online users".
    pub async fn two_signed_in(&self, first: &str, second: &str) -> (Browser, Browser) {
        let a = self.browser().await;
        let b = self.browser().await;
        a.sign_in(first).await;
        b.sign_in(second).await;
        a.wait_for_online_users(&[first, second]).await;
        b.wait_for_online_users(&[first, second]).await;
        (a, b)
    }
}
