//! The real server, run in-process through the backend library on a loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server. Dropping it asks it to shut down.
pub struct TestServer {
    addr: SocketAddr,
    config: backend::Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), backend::Error>>>,
    /// The server's own data directory, kept across restarts and removed at the end.
    data: Arc<TempDir>,
}

impl TestServer {
    /// The configuration tests start from: the workspace's release build of the client.
    ///
    /// Panics, saying how to build it, when `dist/index.html` is missing: without the client
    /// there is nothing to test, and skipping would hide that.
    pub fn config() -> backend::Config {
        backend::Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dist: dist_dir(),
            ..backend::Config::default()
        }
    }

    /// Starts a server with `config` on a free loopback port and a fresh data directory.
    pub async fn start(mut config: backend::Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind a loopback port for the server");
        let data = Arc::new(TempDir::new().expect("cannot create a data directory"));
        config.data_dir = data.path().to_path_buf();
        Self::serve(listener, config, data)
    }

    /// The server's data directory (its database), kept across restarts.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts the server down and waits until it has stopped (bounded).
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(crate::WAIT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => panic!("the server on {} failed: {err}", self.addr),
            Ok(Err(err)) => panic!("the server task on {} panicked: {err}", self.addr),
            Err(_) => {
                // It did not finish a graceful shutdown in time; dropping it closes the listener.
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// Stops the server and starts a new one with the same configuration on the same port,
    /// as a restart would. Clients keep their cookies; the new server has none of the old
    /// one's sockets.
    pub async fn restart(&mut self) {
        self.stop().await;
        let deadline = Instant::now() + crate::WAIT;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if Instant::now() >= deadline => {
                    panic!("cannot bind {} again after stopping: {err}", self.addr)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        *self = Self::serve(listener, self.config.clone(), self.data.clone());
    }

    fn serve(listener: TcpListener, mut config: backend::Config, data: Arc<TempDir>) -> Self {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        config.addr = addr;
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(backend::run(listener, config.clone(), shutdown));
        Self {
            addr,
            config,
            shutdown: Some(tx),
            task: Some(task),
            data,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The workspace's `dist/`, checked to hold a built client.
fn dist_dir() -> PathBuf {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let dist = dist.canonicalize().unwrap_or(dist);
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: build the client first with `trunk build --release` \
         from the repository root (scripts/test does it)",
        dist.display()
    );
    dist
}
