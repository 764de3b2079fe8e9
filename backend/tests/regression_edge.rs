//! Regression tests for the network edge: held connections (slowloris), connection floods,
//! the descriptor limit, idle keep-alive, HEAD, foreign origins on state-changing `POST`s,
//! the `Host` allow-list and client addresses behind a trusted proxy.
//!
//! The attacks run against the real server binary ([`common::process`]) with real sockets;
//! a second source address is 127.0.0.2, bound on the client side.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::ws::WsClient;
use common::{TestServer, ASSET_BODY, ASSET_PATH, INDEX_HTML};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const SECOND_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to `server` from the source address `from`.
async fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a client socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind the client's source address");
    socket.connect(server).await.expect("connect to the server")
}

/// Reads (and discards) until the server closes; how long that took, or `None` when it
/// was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, read_to_end)
        .await
        .ok()
        .map(|_| start.elapsed())
}

/// Sends a whole HTTP/1.1 request and reads the answer until the server closes.
async fn raw_exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut out = Vec::new();
    common::bounded("the raw answer", stream.read_to_end(&mut out))
        .await
        .expect("read the answer");
    out
}

/// Head lines (lower-cased names) and body of a raw HTTP/1.1 answer.
fn split_answer(raw: &[u8]) -> (String, Vec<(String, String)>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The half-sent requests of a slowloris attack, one per way of stalling.
const STALLS: [&str; 4] = [
    "",
    "GE",
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b",
    "PRI * HTTP/2.0\r\n",
];

#[tokio::test]
async fn slowloris_connections_are_closed_within_the_header_timeout() {
    let server = ServerProcess::start(&["--header-timeout-secs", "2"]);
    let mut held = Vec::new();
    for round in 0..5 {
        for stall in STALLS {
            let mut stream = TcpStream::connect(server.addr).await.expect("connect");
            stream.write_all(stall.as_bytes()).await.expect("send");
            held.push((round, stall, stream));
        }
    }
    let start = Instant::now();
    for (round, stall, stream) in &mut held {
        let left = Duration::from_secs(6).saturating_sub(start.elapsed());
        let closed = closed_within(stream, left).await;
        assert!(
            closed.is_some(),
            "connection {round} that sent {stall:?} is still open after 6 s"
        );
    }
    // Closed by the timeout, not at once for some other reason.
    assert!(start.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn slowloris_is_closed_within_15_s_by_default() {
    assert_eq!(backend::Config::default().header_timeout_secs, 10);
    let server = ServerProcess::start(&[]);
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send half a request");
    let closed = closed_within(&mut stream, Duration::from_secs(15)).await;
    let took = closed.expect("the half-sent request is closed within 15 s");
    assert!(took >= Duration::from_secs(8), "closed after {took:?}");
}

#[tokio::test]
async fn idle_connection_flood_from_one_address_never_stops_another_address() {
    let server = ServerProcess::start(&["--max-conns-per-addr", "50"]);
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(connect_from(SECOND_SOURCE, server.addr).await);
    }
    // The other address is served, and at once.
    let http = reqwest::Client::new();
    let start = Instant::now();
    let res = common::bounded("GET /api/me", http.get(server.url("/api/me")).send())
        .await
        .expect("GET /api/me from 127.0.0.1");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "answered in {:?}",
        start.elapsed()
    );
    // Past the cap, the flood's connections were closed right away.
    let mut refused = 0;
    for stream in &mut flood {
        if closed_within(stream, Duration::from_millis(20))
            .await
            .is_some()
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 250, "connections beyond the 50 allowed are closed");
    let log = server.log();
    assert!(
        count_lines(&log, "connection cap reached") <= 2,
        "the refusals are not logged one by one:\n{log}"
    );
}

#[tokio::test]
async fn connection_flood_at_the_total_cap_does_not_fill_the_log() {
    let server = ServerProcess::start(&["--max-conns", "20"]);
    let mut flood = Vec::new();
    for _ in 0..500 {
        flood.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log();
    let lines = count_lines(&log, "connection cap reached");
    assert!(
        (1..=2).contains(&lines),
        "480 refusals give one or two lines, got {lines}:\n{log}"
    );
    assert!(
        log.contains("--max-conns"),
        "the line names the cap:\n{log}"
    );
    drop(flood);
    // Every slot is released again.
    let http = reqwest::Client::new();
    let mut served = false;
    for _ in 0..50 {
        if let Ok(res) = http.get(server.url("/api/me")).send().await {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "served again once the flood left");
}

/// The server binary with its descriptor limit (soft and hard) set to `nofile`.
struct LimitedServer {
    child: std::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

impl LimitedServer {
    fn start(nofile: u64, args: &[&str]) -> Self {
        use std::os::unix::process::CommandExt;
        let data = tempfile::tempdir().expect("a data directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_backend"));
        command
            .args(["--addr", "127.0.0.1:0", "--secret", common::SECRET_32])
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: nofile as libc::rlim_t,
                    rlim_max: nofile as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("spawn the server");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the server prints its address");
        let addr = first
            .split("http://")
            .nth(1)
            .expect("an http:// address")
            .trim()
            .trim_end_matches('/')
            .parse()
            .expect("the address parses");
        LimitedServer {
            child,
            addr,
            log,
            _data: data,
        }
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn running_out_of_descriptors_does_not_fill_the_log() {
    let server = LimitedServer::start(128, &["--max-conns", "100000"]);
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // About 20 failed accepts happen per second now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = server.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let lines = count_lines(&log, "accept failed");
    assert!(
        (1..=2).contains(&lines),
        "failed accepts are logged at most every 5 s, got {lines} lines:\n{log}"
    );
    drop(flood);
    let http = reqwest::Client::new();
    let mut served = false;
    for _ in 0..50 {
        if let Ok(res) = http
            .get(format!("http://{}/api/me", server.addr))
            .send()
            .await
        {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "served again once descriptors are free");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.header_timeout_secs = 30;
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /api/me HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send a request");
    let mut buf = [0u8; 1024];
    let n = common::bounded("the answer", stream.read(&mut buf))
        .await
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401"));
    let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
    let took = closed.expect("the idle keep-alive connection is closed");
    assert!(took >= Duration::from_millis(700), "closed after {took:?}");
}

#[tokio::test]
async fn websockets_outlive_the_idle_and_header_timeouts() {
    let server = TestServer::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.header_timeout_secs = 1;
    })
    .await;
    let mut echo = WsClient::echo(&server).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    echo.send_text("still here").await;
    assert_eq!(echo.next_text().await, "ECHO: still here");
}

#[tokio::test]
async fn an_open_websocket_keeps_its_connection_slot_until_it_closes() {
    let server = TestServer::start_with(|c| c.max_conns_per_addr = 2).await;
    let first = WsClient::echo(&server).await;
    let _second = WsClient::echo(&server).await;
    // Both slots are held by the sockets, though hyper let go of their connections.
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(server.url("/api/me")).send().await.is_err(),
        "a third connection is refused"
    );
    first.close().await;
    let mut served = false;
    for _ in 0..50 {
        if let Ok(res) = fresh.get(server.url("/api/me")).send().await {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the closed socket's slot is free again");
}

#[tokio::test]
async fn head_of_the_app_is_get_without_the_body() {
    let server = TestServer::start().await;
    for path in ["/", &format!("/{ASSET_PATH}"), "/some/client/route"] {
        let get = raw_exchange(
            server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let head = raw_exchange(
            server.addr,
            &format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let (get_status, get_headers, get_body) = split_answer(&get);
        let (head_status, head_headers, head_body) = split_answer(&head);
        assert_eq!(head_status, "HTTP/1.1 200 OK", "HEAD {path}");
        assert_eq!(get_status, head_status, "HEAD {path}");
        assert!(head_body.is_empty(), "HEAD {path} has no body");
        for name in ["content-type", "content-length"] {
            assert_eq!(
                header(&head_headers, name),
                header(&get_headers, name),
                "{name} of HEAD {path}"
            );
        }
        let expected = if path.contains("assets") {
            ASSET_BODY
        } else {
            INDEX_HTML
        };
        assert_eq!(get_body, expected.as_bytes());
    }
}

#[tokio::test]
async fn head_of_the_api_answers_like_get() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    let signed_out = server
        .http
        .head(server.url("/api/me"))
        .send()
        .await
        .expect("HEAD /api/me");
    assert_eq!(signed_out.status(), StatusCode::UNAUTHORIZED);
    let signed_in = server
        .http
        .head(server.url("/api/me"))
        .header("cookie", format!("session={cookie}"))
        .send()
        .await
        .expect("HEAD /api/me");
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert!(signed_in.text().await.expect("body").is_empty());
}

#[tokio::test]
async fn foreign_origin_cannot_sign_in_register_or_sign_out() {
    let server = TestServer::start().await;
    let (_, cookie) = server.signin("Ada").await;
    let post = |path: &str, origin: &str, body: serde_json::Value| {
        server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .header("origin", origin)
            .header("cookie", format!("session={cookie}"))
            .body(body.to_string())
            .send()
    };
    let evil = "http://evil.test";
    for (path, body) in [
        ("/api/signin", json!({ "name": "Mallory" })),
        (
            "/api/register",
            json!({ "name": "Mallory", "password": "correct horse battery" }),
        ),
        ("/api/signout", json!({})),
    ] {
        let res = post(path, evil, body).await.expect("POST");
        common::expect_json_error(res, StatusCode::FORBIDDEN).await;
    }
    // The session survived the forged sign-out.
    assert_eq!(server.me(Some(&cookie)).await.status(), StatusCode::OK);
    // The own origin and an allowed one pass.
    let own = server.own_origin();
    let res = post("/api/signin", &own, json!({ "name": "Bo" }))
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
    let res = post(
        "/api/signin",
        common::ALLOWED_ORIGIN,
        json!({ "name": "Cy" }),
    )
    .await
    .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
    let res = post("/api/signout", &own, json!({})).await.expect("POST");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn https_origin_of_the_own_host_passes_behind_a_tls_proxy() {
    let server = TestServer::start().await;
    let res = server
        .http
        .post(server.url("/api/signin"))
        .header("content-type", "application/json")
        .header("origin", format!("https://{}", server.addr))
        .body(json!({ "name": "Ada" }).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn public_url_turns_away_other_hosts_and_marks_cookies_secure() {
    let server = TestServer::start_with(|c| {
        c.public_url = Some("https://chat.test".parse().expect("a URL"));
    })
    .await;
    // Reached by its address (as a DNS-rebinding page would): 421.
    let res = server.get("/api/me").await;
    common::expect_json_error(res, StatusCode::MISDIRECTED_REQUEST).await;
    let ws = common::ws::connect(&server, "/ws/echo", None, None).await;
    assert_eq!(common::ws::refused_status(ws), 421);
    // Reached as the public URL says (a proxy in front keeps the Host).
    let res = server
        .http
        .post(server.url("/api/signin"))
        .header("host", "chat.test")
        .header("origin", "https://chat.test")
        .header("content-type", "application/json")
        .body(json!({ "name": "Ada" }).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    let attributes = common::cookie_attributes(&common::session_set_cookie(&res));
    assert!(attributes.iter().any(|a| a == "Secure"), "{attributes:?}");
    // The own address is no origin of this chat any more.
    let res = server
        .http
        .post(server.url("/api/signin"))
        .header("host", "chat.test")
        .header("origin", "http://chat.test")
        .header("content-type", "application/json")
        .body(json!({ "name": "Bo" }).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn plain_http_without_public_url_sends_no_secure_cookie_or_hsts() {
    let server = TestServer::start().await;
    let res = server.post_signin_json(&json!({ "name": "Ada" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("strict-transport-security").is_none());
    let attributes = common::cookie_attributes(&common::session_set_cookie(&res));
    assert!(!attributes.iter().any(|a| a == "Secure"), "{attributes:?}");
}

/// A server (changed by `edit`) where the account "Ada" exists and each client address
/// may guess wrong 3 times a minute, whatever the name.
async fn server_with_ada_and_3_guesses_per_addr(
    edit: impl FnOnce(&mut backend::Config),
) -> TestServer {
    let server = TestServer::start_with(|c| {
        c.login_fails_per_addr = 3;
        c.login_fails_per_name = 1000;
        c.login_fails_per_name_total = 1000;
        edit(c);
    })
    .await;
    let res = server
        .post_json(
            "/api/register",
            &json!({ "name": "Ada", "password": "a long good password" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    server
}

/// Three wrong passwords for `name`, claimed to come from `forwarded_for`.
async fn guess_wrong(server: &TestServer, name: &str, forwarded_for: &str) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = server
            .http
            .post(server.url("/api/signin"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded_for)
            .body(json!({ "name": name, "password": "wrong password!" }).to_string())
            .send()
            .await
            .expect("POST");
        statuses.push(res.status());
    }
    statuses
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_visitor_has_their_own_limit() {
    let server = server_with_ada_and_3_guesses_per_addr(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("a CIDR")];
    })
    .await;
    guess_wrong(&server, "Ada", "203.0.113.7").await;
    let statuses = guess_wrong(&server, "Ada", "203.0.113.7").await;
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the guessing visitor is limited: {statuses:?}"
    );
    let statuses = guess_wrong(&server, "Ada", "198.51.100.9").await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "another visitor behind the same proxy is not: {statuses:?}"
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_dodge_the_limit() {
    let server = server_with_ada_and_3_guesses_per_addr(|_| {}).await;
    guess_wrong(&server, "Ada", "203.0.113.7").await;
    let statuses = guess_wrong(&server, "Ada", "198.51.100.9").await;
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "a made-up X-Forwarded-For changes nothing: {statuses:?}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_the_per_address_cap() {
    let server = TestServer::start_with(|c| {
        c.max_conns_per_addr = 2;
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("a CIDR")];
    })
    .await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(WsClient::echo(&server).await);
    }
    let res = server.get("/api/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
