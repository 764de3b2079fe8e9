//! The chat server: accounts and sessions, the WebSocket chat hub with durable history,
//! the echo endpoint and the built client, all on one port, with SQLite embedded.
//!
//! The binary only parses flags and binds; tests call the same [`run`] on `127.0.0.1:0`.

pub mod accounts;
pub mod api;
pub mod config;
pub mod conn;
pub mod error;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod migrate;
pub mod net;
pub mod origin;
pub mod secret;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod tls;
pub mod web;
pub mod ws;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::Config;
pub use error::Error;
pub use state::AppState;

/// Serves the chat on `listener` until `shutdown` resolves, then closes every socket
/// with 1001 and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if !config.dist.join("index.html").is_file() {
        tracing::warn!(dist = %config.dist.display(), "the client is not built; `/` explains how to build it");
    }
    if let Some(url) = &config.database_url {
        tracing::info!(database = %redact(url), "connecting to PostgreSQL");
    } else if config.in_memory {
        tracing::warn!("--in-memory: nothing is stored; a restart forgets everything");
    } else {
        tracing::info!(data_dir = %config.data_dir.display(), "opening the database");
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(|err| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("TLS: {err}"))
        })?),
        _ => None,
    };
    let metrics = match config.metrics_addr {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let state = tokio::task::spawn_blocking(move || AppState::open(config))
        .await
        .map_err(std::io::Error::other)??;
    // Aborted when the server stops: a scrape has nothing to finish.
    let scraper = metrics.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "metrics at http://{addr}/metrics");
        }
        tokio::spawn(metrics::serve(listener, state.store.clone()))
    });
    let hub = state.hub.clone();
    server::serve(listener, state, tls, shutdown).await;
    hub.farewell().await;
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    Ok(())
}

/// A database URL fit for the log: without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
