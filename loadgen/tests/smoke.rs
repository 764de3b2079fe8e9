//! The smoke scenario against the real server, in-process on a free port: every socket
//! gets in and every message reaches every socket exactly once. No timing is asserted.

use std::time::Duration;

use clap::Parser;
use loadgen::cli::Scenario;
use loadgen::Cli;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The chat server on `127.0.0.1:0` with its rate limit lifted, until the sender drops.
async fn start_server() -> (String, oneshot::Sender<()>, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a data directory");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("the bound address");
    let config = backend::Config {
        data_dir: data.path().to_path_buf(),
        dist: data.path().join("no-dist"),
        rate_burst: 1e6,
        rate_per_sec: 1e6,
        // Every socket of the load generator comes from 127.0.0.1.
        max_conns_per_addr: 100_000,
        ..Default::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(err) = backend::run(listener, config, shutdown).await {
            eprintln!("server failed: {err}");
        }
    });
    (format!("http://{addr}"), stop, data)
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
        .expect("valid flags")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_delivers_every_message_to_every_socket_exactly_once() {
    let (url, _stop, _data) = start_server().await;
    let cli = cli(&[
        "--url",
        &url,
        "--quiet",
        "smoke",
        "--clients",
        "300",
        "--rate",
        "50",
        "--duration",
        "2",
        "--warmup",
        "0.5",
    ]);
    let report = tokio::time::timeout(Duration::from_secs(120), loadgen::execute(&cli))
        .await
        .expect("the smoke run ends")
        .expect("the smoke run is set up");

    assert_eq!(report.setup.connects_ok, 300, "{:?}", report.setup);
    assert_eq!(report.setup.connect_errors, 0);
    assert_eq!(report.steps.len(), 2, "warm-up and one measured step");
    for step in &report.steps {
        assert!(step.sent > 0, "{step:?}");
        assert_eq!(step.receivers, 300);
        assert_eq!(step.expected, step.sent * 300);
        assert!(step.expected > 0);
        assert_eq!(step.delivered, step.expected, "{step:?}");
        assert_eq!(step.lost, 0);
        assert_eq!(step.duplicates, 0);
        assert_eq!(step.latency_us.count, step.delivered);
    }
    assert!(report.closes.is_empty(), "{:?}", report.closes);
    assert_eq!(report.server_errors, 0);
    assert!(report.ok, "{:?}", report.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_rate_shows_up_as_server_errors_and_losses() {
    let data = tempfile::tempdir().expect("a data directory");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let config = backend::Config {
        data_dir: data.path().to_path_buf(),
        dist: data.path().join("no-dist"),
        rate_burst: 5.0,
        rate_per_sec: 1.0,
        ..Default::default()
    };
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(backend::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let cli = cli(&[
        "--url",
        &url,
        "--quiet",
        "smoke",
        "--clients",
        "10",
        "--rate",
        "40",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--drain",
        "1",
    ]);
    let report = loadgen::execute(&cli).await.expect("the run is set up");
    let step = &report.steps[0];
    assert!(report.server_errors > 0, "the server said slow down");
    assert!(step.lost > 0 && step.delivered > 0, "{step:?}");
    assert!(!report.ok);
    assert!(matches!(cli.scenario, Scenario::Smoke(_)));
}

#[tokio::test]
async fn an_unreachable_server_is_a_setup_error() {
    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    let cli = cli(&[
        "--url",
        "http://127.0.0.1:9",
        "--quiet",
        "smoke",
        "--clients",
        "2",
    ]);
    let err = loadgen::execute(&cli)
        .await
        .expect_err("nothing to connect to");
    assert!(matches!(err, loadgen::Error::Setup(_)), "{err}");
}
