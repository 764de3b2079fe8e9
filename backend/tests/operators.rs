//! What operators rely on: `/healthz` and `/readyz` for load balancers (a `503` while the
//! database is down, and `200` again once it is back, without a restart), Prometheus
//! metrics on their own listener that move with real traffic, and JSON log lines.

mod common;

use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::{TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_and_are_never_cached() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let res = server.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{path}");
        assert_eq!(res.text().await.expect("a body"), "ok\n", "{path}");
    }
}

#[tokio::test]
async fn probes_are_answered_for_any_host_while_other_paths_get_421() {
    let server = TestServer::start_with(|c| {
        c.public_url = Some("https://chat.example.org".parse().expect("a URL"));
    })
    .await;
    // A load balancer probes by address: the Host is not the public name.
    for path in ["/healthz", "/readyz"] {
        let res = server.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        server.get("/api/me").await.status(),
        StatusCode::MISDIRECTED_REQUEST
    );
}

#[tokio::test]
async fn probes_need_get_or_head() {
    let server = TestServer::start().await;
    let res = server
        .http
        .head(server.url("/readyz"))
        .send()
        .await
        .expect("HEAD /readyz");
    assert_eq!(res.status(), StatusCode::OK);
    let res = server
        .http
        .post(server.url("/healthz"))
        .send()
        .await
        .expect("POST /healthz");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn readyz_says_503_not_ready_while_postgres_is_down_and_200_once_it_is_back() {
    // A cluster of this test's own: it is stopped and started again.
    let db = common::pg::PgCluster::start();
    let server = ServerProcess::start(&["--database-url", &db.url("postgres")]);
    let http = reqwest::Client::new();
    let ready = |http: &reqwest::Client| {
        let url = server.url("/readyz");
        let http = http.clone();
        async move { http.get(url).send().await.expect("GET /readyz") }
    };
    assert_eq!(ready(&http).await.status(), StatusCode::OK);
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .expect("GET /healthz")
            .status(),
        StatusCode::OK
    );

    db.stop();
    let res = ready(&http).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["code"], "not_ready", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("database")),
        "{body}"
    );
    // The process itself is still up.
    let live = http.get(server.url("/healthz")).send().await;
    assert_eq!(live.expect("GET /healthz").status(), StatusCode::OK);

    db.start_again();
    let deadline = Instant::now() + WAIT;
    loop {
        let status = ready(&http).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metrics_are_off_unless_an_address_is_given() {
    let server = ServerProcess::start(&[]);
    let res = reqwest::get(server.url("/metrics"))
        .await
        .expect("GET /metrics");
    let body = res.text().await.expect("a body");
    assert!(
        !body.contains("chat_"),
        "the public port serves no metrics: {body}"
    );
    assert!(!server.log().contains("metrics at"), "{}", server.log());
}

#[tokio::test]
async fn metrics_count_sockets_refusals_and_closes_from_real_traffic() {
    let server = ServerProcess::start(&[
        "--metrics-addr",
        "127.0.0.1:0",
        "--max-sockets-per-session",
        "1",
    ]);
    let metrics = metrics_url(&server).await;
    let before = scrape(&metrics).await;
    assert_eq!(value(&before, "chat_sockets{endpoint=\"chat\"}"), 0.0);

    let cookie = signin(&server, "Ada").await;
    let mut ada = open_chat(&server, Some(&cookie)).await;
    wait_for_text(&mut ada, "\"history\"").await;
    let after_open = scrape(&metrics).await;
    assert_eq!(value(&after_open, "chat_sockets{endpoint=\"chat\"}"), 1.0);
    assert_eq!(
        value(&after_open, "chat_sockets_opened_total{endpoint=\"chat\"}"),
        1.0
    );
    assert!(value(&after_open, "chat_connections") >= 1.0);

    // Accepted: it comes back to its sender.
    ada.send(Message::text(common::ws::chat_frame("hello")))
        .await
        .expect("send a chat");
    wait_for_text(&mut ada, "hello").await;
    // Refused: 2001 characters is one too many.
    ada.send(Message::text(common::ws::chat_frame(&"x".repeat(2001))))
        .await
        .expect("send an over-long chat");
    wait_for_text(&mut ada, "too_long").await;
    // Closed with 4001: no session.
    let mut nobody = open_chat(&server, None).await;
    assert_eq!(close_code(&mut nobody).await, 4001);
    // Closed with 1008: one socket per session here.
    let mut second = open_chat(&server, Some(&cookie)).await;
    assert_eq!(close_code(&mut second).await, 1008);

    let after = scrape(&metrics).await;
    assert_eq!(
        value(&after, "chat_messages_refused_total{code=\"too_long\"}"),
        1.0
    );
    assert_eq!(
        value(&after, "chat_socket_closes_total{code=\"4001\"}"),
        1.0
    );
    assert_eq!(
        value(&after, "chat_socket_closes_total{code=\"1008\"}"),
        1.0
    );
    assert_eq!(
        value(&after, "chat_sockets_opened_total{endpoint=\"chat\"}"),
        3.0
    );
    // Everything queued for the sockets was taken or went away with them.
    assert!(value(&after, "chat_queued_bytes") >= 0.0);

    drop(ada);
    let deadline = Instant::now() + WAIT;
    while value(&scrape(&metrics).await, "chat_sockets{endpoint=\"chat\"}") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the closed socket is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_listener_serves_only_metrics() {
    let server = ServerProcess::start(&["--metrics-addr", "127.0.0.1:0"]);
    let metrics = metrics_url(&server).await;
    let res = reqwest::get(&metrics).await.expect("GET /metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type").starts_with("text/plain; version=0.0.4"));
    let other = metrics.replace("/metrics", "/api/me");
    let res = reqwest::get(&other)
        .await
        .expect("GET /api/me on the metrics port");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let server = ServerProcess::start(&["--log-format", "json"]);
    // Something to log besides start-up: a sign-in.
    signin(&server, "Grace").await;
    server
        .wait_for("the sign-in in the log", WAIT, |s| {
            s.log().contains("signed in")
        })
        .await;
    let log = server.log();
    let mut lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(value.is_object(), "{line}");
        assert!(value["level"].is_string(), "a level: {line}");
        assert!(value["message"].is_string(), "a message: {line}");
        lines += 1;
    }
    assert!(lines >= 3, "start-up and the sign-in were logged:\n{log}");
    assert!(log.contains("\"message\":\"signed in\""), "{log}");
}

// ---- helpers ----

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Signs in to a server process as a guest; returns the session cookie's value.
async fn signin(server: &ServerProcess, name: &str) -> String {
    let res = reqwest::Client::new()
        .post(server.url("/api/signin"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .expect("POST /api/signin");
    assert_eq!(res.status(), StatusCode::OK);
    common::session_cookie(&res)
}

async fn open_chat(server: &ServerProcess, cookie: Option<&str>) -> common::ws::Stream {
    let mut request = server
        .ws_url("/ws/chat")
        .into_client_request()
        .expect("a WebSocket URL");
    if let Some(cookie) = cookie {
        let value = HeaderValue::from_str(&format!("session={cookie}")).expect("a cookie");
        request.headers_mut().insert("cookie", value);
    }
    let (ws, _) = common::bounded("the handshake", tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade");
    ws
}

/// Reads text frames until one contains `needle`.
async fn wait_for_text(ws: &mut common::ws::Stream, needle: &str) {
    let found = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                if text.as_str().contains(needle) {
                    return true;
                }
            }
        }
        false
    };
    assert!(
        common::bounded(&format!("a frame with {needle}"), found).await,
        "the socket ended before a frame with {needle}"
    );
}

/// Reads until the close frame and returns its code.
async fn close_code(ws: &mut common::ws::Stream) -> u16 {
    let closed = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(Some(frame)) = message {
                return u16::from(frame.code);
            }
        }
        0
    };
    common::bounded("a close frame", closed).await
}

/// Where the process says its metrics are.
async fn metrics_url(server: &ServerProcess) -> String {
    server
        .wait_for("the metrics address in the log", WAIT, |s| {
            s.log().contains("metrics at http://")
        })
        .await;
    let log = server.log();
    let rest = log
        .split("metrics at http://")
        .nth(1)
        .expect("the address follows");
    let addr = rest.split_whitespace().next().expect("an address");
    format!("http://{}", addr.trim_end_matches('"'))
}

async fn scrape(url: &str) -> String {
    let res = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.expect("the metrics")
}

/// The value of the sample `series` (name and labels as written); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}
