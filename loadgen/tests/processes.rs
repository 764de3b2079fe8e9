//! `--processes`: the binary starts copies of itself, each with a share of the sockets,
//! and merges their reports into one.

use std::process::Command;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_spread_over_two_processes_adds_up_their_sockets() {
    let data = tempfile::tempdir().expect("a data directory");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let config = backend::Config {
        data_dir: data.path().to_path_buf(),
        dist: data.path().join("no-dist"),
        ..Default::default()
    }
    .without_visitor_limits();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(backend::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let json = data.path().join("report.json");

    let output = tokio::task::spawn_blocking({
        let json = json.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_loadgen"))
                .args(["--url", &url, "--quiet", "--json"])
                .arg(&json)
                .args([
                    "idle",
                    "--clients",
                    "41",
                    "--processes",
                    "2",
                    "--hold",
                    "0.2",
                ])
                .output()
                .expect("the binary runs")
        }
    });
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the run ends")
        .expect("the run's thread");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report: loadgen::Report =
        serde_json::from_slice(&std::fs::read(&json).expect("the report file")).expect("JSON");
    assert_eq!(report.processes, 2);
    assert_eq!(report.setup.clients, 41);
    assert_eq!(report.setup.users, 41, "distinct names over both processes");
    assert_eq!(report.setup.connects_ok, 41);
    assert_eq!(report.setup.connect_errors, 0);
    assert!(report.ok, "{:?}", report.failures);
}
