//! Harness for the black-box tests: the real server in-process on a free port, a plain
//! HTTP client that handles the session cookie by hand (so tests can tamper with it),
//! and WebSocket clients (see [`ws`]).
//!
//! Every test starts its own [`TestServer`], so tests are independent and run in parallel.
//! Every wait is bounded by [`WAIT`] and says what it was waiting for when it gives up.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

pub mod pg;
pub mod process;
pub mod rooms;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;
use shared::User;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any single wait lasts before the test fails: generous for a busy machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// The app shell the test server serves for client-side routes.
pub const INDEX_HTML: &str =
    "<!doctype html><meta charset=utf-8><title>Chat (test shell)</title><div id=app></div>\n";
/// A built asset, served as is.
pub const ASSET_PATH: &str = "assets/app-3f2a9c.js";
pub const ASSET_BODY: &str = "export function start() { return \"asset served as is\"; }\n";
/// A binary asset: served byte for byte.
pub const BINARY_ASSET_PATH: &str = "assets/logo.png";
pub const BINARY_ASSET_BODY: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe,
];

/// The signing key the test servers use unless a test picks another.
pub const SECRET: &str = SECRET_32;
/// A signing key of the 32 bytes the server requires at least.
pub const SECRET_32: &str = "integration-test-secret-32-bytes";
/// An extra origin the test servers allow for WebSockets.
pub const ALLOWED_ORIGIN: &str = "http://allowed.test:8080";

/// The server under test, running on its own runtime task until shut down or dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), backend::Error>>>,
    _dist: TempDir,
    /// The server's own database; kept to reopen it with [`TestServer::start_in`].
    pub data: std::sync::Arc<TempDir>,
}

impl TestServer {
    /// Starts a server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the test configuration changed by `edit`.
    pub async fn start_with(edit: impl FnOnce(&mut backend::Config)) -> Self {
        let data = std::sync::Arc::new(tempfile::tempdir().expect("create a data directory"));
        Self::start_in(data, edit).await
    }

    /// Starts a server on an existing data directory (to see what survives a restart).
    /// Chat rate limits are lifted unless `edit` sets them: most tests send quickly. There
    /// is no presence grace period: most tests expect `left` as soon as a socket closes.
    pub async fn start_in(
        data: std::sync::Arc<TempDir>,
        edit: impl FnOnce(&mut backend::Config),
    ) -> Self {
        let dist = dist_dir();
        let mut config = backend::Config {
            dist: dist.path().to_path_buf(),
            secret: Some(SECRET.to_owned()),
            allow_origins: vec![ALLOWED_ORIGIN.to_owned()],
            data_dir: data.path().to_path_buf(),
            rate_burst: 1_000_000.0,
            rate_per_sec: 1_000_000.0,
            presence_grace_secs: 0,
            ..Default::default()
        };
        if pg::enabled() {
            config.database_url = Some(pg::database_for(data.path()));
        }
        edit(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("listener address");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(backend::run(listener, config, shutdown));
        // No cookie store: every test passes the session cookie itself.
        let http = reqwest::Client::builder()
            .build()
            .expect("build the HTTP client");
        TestServer {
            addr,
            http,
            shutdown: Some(tx),
            task: Some(task),
            _dist: dist,
            data,
        }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://127.0.0.1:<port><path>`
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The server's own origin as a browser on it would send it.
    pub fn own_origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signs in as `name`, which must succeed; returns the user and the session cookie value.
    pub async fn signin(&self, name: &str) -> (User, String) {
        let res = self
            .post_signin_json(&serde_json::json!({ "name": name }))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "sign-in as {name:?}");
        let cookie = session_cookie(&res);
        let user: User = res.json().await.expect("sign-in answers a user object");
        (user, cookie)
    }

    /// `POST /api/signin` with a JSON body.
    pub async fn post_signin_json(&self, body: &Value) -> reqwest::Response {
        self.post_signin_raw(body.to_string(), Some("application/json"))
            .await
    }

    /// `POST <path>` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        let req = self
            .http
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        bounded(&format!("POST {path}"), req.send())
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"))
    }

    /// `GET <path>` with `session=<cookie>`.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        let req = self
            .http
            .get(self.url(path))
            .header(COOKIE, format!("session={cookie}"));
        bounded(&format!("GET {path}"), req.send())
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    /// `POST /api/signin` with any body and content type.
    pub async fn post_signin_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url("/api/signin")).body(body);
        if let Some(content_type) = content_type {
            req = req.header(CONTENT_TYPE, content_type);
        }
        bounded("POST /api/signin", req.send())
            .await
            .expect("POST /api/signin")
    }

    /// `GET /api/me`, with `session=<cookie>` when given.
    pub async fn me(&self, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url("/api/me"));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, format!("session={cookie}"));
        }
        bounded("GET /api/me", req.send())
            .await
            .expect("GET /api/me")
    }

    /// `POST /api/signout`, with `session=<cookie>` when given.
    pub async fn signout(&self, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url("/api/signout"));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, format!("session={cookie}"));
        }
        bounded("POST /api/signout", req.send())
            .await
            .expect("POST /api/signout")
    }

    /// A plain `GET` of `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        bounded(&format!("GET {path}"), self.http.get(self.url(path)).send())
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    /// Fires the shutdown signal without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) for `run` to return after the shutdown signal, and returns its result.
    pub async fn stopped(&mut self) -> Result<(), backend::Error> {
        let task = self.task.take().expect("the server task is awaited once");
        let joined = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("run returns within 20 s of the shutdown signal");
        joined.expect("the server task does not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.trigger_shutdown();
    }
}

/// Ends a test early, saying why, when this run tests the servers on PostgreSQL
/// (`CHAT_TEST_DATABASE=postgres`): for tests about the SQLite file itself (its mode, a
/// backup copy, a damaged file). `common::sqlite_only!("the database file's mode")`.
#[allow(unused_macros)]
macro_rules! sqlite_only {
    ($why:expr) => {
        if $crate::common::pg::enabled() {
            eprintln!("SQLite only, skipped on PostgreSQL: {}", $why);
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use sqlite_only;

/// A fresh `dist/` with the app shell and two assets.
pub fn dist_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("create a temporary dist/");
    std::fs::write(dir.path().join("index.html"), INDEX_HTML).expect("write index.html");
    std::fs::create_dir_all(dir.path().join("assets")).expect("create dist/assets");
    std::fs::write(dir.path().join(ASSET_PATH), ASSET_BODY).expect("write the asset");
    std::fs::write(dir.path().join(BINARY_ASSET_PATH), BINARY_ASSET_BODY)
        .expect("write the binary asset");
    dir
}

/// Runs `fut` for at most [`WAIT`], panicking with `what` when it takes longer.
pub async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("Set-Cookie is ASCII").to_owned())
        .collect()
}

/// The one `Set-Cookie` header that sets `session`.
pub fn session_set_cookie(res: &reqwest::Response) -> String {
    let mut found: Vec<String> = set_cookies(res)
        .into_iter()
        .filter(|c| c.trim_start().starts_with("session="))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one Set-Cookie for `session`, got {:?}",
        set_cookies(res)
    );
    found.remove(0)
}

/// The value of the `session` cookie a response sets.
pub fn session_cookie(res: &reqwest::Response) -> String {
    let header = session_set_cookie(res);
    let pair = header.split(';').next().unwrap_or_default();
    let value = pair.trim().strip_prefix("session=").unwrap_or_default();
    assert!(
        !value.is_empty(),
        "the session cookie has a value: {header}"
    );
    value.to_owned()
}

/// The attributes of a `Set-Cookie` header after the name=value pair, trimmed.
pub fn cookie_attributes(header: &str) -> Vec<String> {
    header
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

/// Asserts the response is `status` with a JSON error body (see [`error_message`]), and
/// returns the message.
pub async fn expect_json_error(res: reqwest::Response, status: StatusCode) -> String {
    let url = res.url().clone();
    assert_eq!(res.status(), status, "status of {url}");
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "error from {url} is JSON, content type was {content_type:?}"
    );
    let body = res.text().await.expect("read the error body");
    error_message(&body)
}

/// Asserts the response is `status` with a JSON error body, and returns its code.
pub async fn expect_error_code(res: reqwest::Response, status: StatusCode) -> String {
    let url = res.url().clone();
    assert_eq!(res.status(), status, "status of {url}");
    let body = res.text().await.expect("read the error body");
    error_message(&body);
    let value: Value = serde_json::from_str(&body).expect("JSON");
    value["code"].as_str().expect("a code").to_owned()
}

/// Checks `body` is `{"error": <non-empty string>, "code": <non-empty string>}`, with
/// `retry_after` (whole seconds) the only other key allowed, and returns the message.
pub fn error_message(body: &str) -> String {
    let value: Value = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("error body is JSON ({err}): {body:?}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("error body is an object: {body}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.retain(|k| !(*k == "retry_after" && object[*k].is_u64()));
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "error"],
        "error body has the `error` and `code` keys, and `retry_after` at most: {body}"
    );
    assert!(
        object["code"].as_str().is_some_and(|c| !c.is_empty()),
        "`code` is a non-empty string: {body}"
    );
    let message = object["error"]
        .as_str()
        .unwrap_or_else(|| panic!("`error` is a string: {body}"));
    assert!(!message.trim().is_empty(), "`error` says something: {body}");
    message.to_owned()
}

/// Asserts `value` is a user object: `id` u64, `name` string, `image` = `id % 10`,
/// `guest` boolean.
pub fn assert_user_object(value: &Value) -> User {
    let id = value["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("user `id` is a u64: {value}"));
    let name = value["name"]
        .as_str()
        .unwrap_or_else(|| panic!("user `name` is a string: {value}"));
    let image = value["image"]
        .as_u64()
        .unwrap_or_else(|| panic!("user `image` is a number: {value}"));
    assert_eq!(image, id % 10, "image is id % 10: {value}");
    let guest = value["guest"]
        .as_bool()
        .unwrap_or_else(|| panic!("user `guest` is a boolean: {value}"));
    User {
        id,
        name: name.to_owned(),
        image: image as u8,
        guest,
    }
}

/// Milliseconds since the Unix epoch by the test's clock.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}
