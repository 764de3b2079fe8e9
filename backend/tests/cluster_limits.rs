//! Limits that hold across servers: two real server processes on one real PostgreSQL
//! count failed passwords and sign-ups together, so spreading requests over servers
//! behind a load balancer gains an attacker nothing.

mod common;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::bounded;
use common::pg::PgCluster;
use common::process::ServerProcess;

const PASSWORD: &str = "correct horse battery";

async fn post(server: &ServerProcess, path: &str, body: Value) -> reqwest::Response {
    let req = reqwest::Client::new()
        .post(server.url(path))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    bounded(&format!("POST {path}"), req.send())
        .await
        .unwrap_or_else(|err| panic!("POST {path}: {err}"))
}

/// Two servers on one fresh database, with `flags` on both.
fn two_servers(pg: &PgCluster, flags: &[&str]) -> (ServerProcess, ServerProcess) {
    let url = pg.url(&pg.fresh_db());
    let mut args = vec!["--database-url", url.as_str()];
    args.extend_from_slice(flags);
    (ServerProcess::start(&args), ServerProcess::start(&args))
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_passwords_on_one_server_count_on_another() {
    let pg = PgCluster::start();
    let (a, b) = two_servers(&pg, &["--login-fails-per-name", "3"]);
    let res = post(
        &a,
        "/api/register",
        json!({"name": "Ada", "password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let wrong = json!({"name": "Ada", "password": "not the password"});
    for server in [&a, &b, &a] {
        let res = post(server, "/api/signin", wrong.clone()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Three failures in all: the fourth guess is refused on either server, unchecked.
    for server in [&b, &a] {
        let res = post(server, "/api/signin", wrong.clone()).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    }
    // Another name from the same address still gets its own tries.
    let res = post(
        &b,
        "/api/signin",
        json!({"name": "Bob", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "no_account, counted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_right_password_gives_its_attempt_back_on_every_server() {
    let pg = PgCluster::start();
    let (a, b) = two_servers(&pg, &["--login-fails-per-name", "2"]);
    let res = post(
        &a,
        "/api/register",
        json!({"name": "Ada", "password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let right = json!({"name": "Ada", "password": PASSWORD});
    for server in [&a, &b, &a, &b, &a] {
        let res = post(server, "/api/signin", right.clone()).await;
        assert_eq!(res.status(), StatusCode::OK, "right passwords never add up");
    }
    let wrong = json!({"name": "Ada", "password": "not the password"});
    let res = post(&b, "/api/signin", wrong.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(&a, "/api/signin", wrong.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(&b, "/api/signin", wrong).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_on_one_server_count_on_another() {
    let pg = PgCluster::start();
    let flags = [
        "--signups-per-addr-hour",
        "2",
        "--guests-per-addr-hour",
        "1",
    ];
    let (a, b) = two_servers(&pg, &flags);
    for (server, name) in [(&a, "Ada"), (&b, "Bea")] {
        let res = post(
            server,
            "/api/register",
            json!({"name": name, "password": PASSWORD}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
    }
    let res = post(
        &a,
        "/api/register",
        json!({"name": "Cy", "password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Guests have a count of their own, shared the same way.
    let res = post(&b, "/api/signin", json!({"name": "Dee"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = post(&a, "/api/signin", json!({"name": "Eve"})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
