//! `backend`: parses flags, starts logging, binds, and hands over to [`backend::run`].

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), backend::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // warp logs every request at info; that is debug detail here.
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,warp=warn")),
        )
        .init();
    let config = backend::Config::parse();
    if let Some(dest) = &config.backup_to {
        backend::store::Store::open(&config.data_dir)?.backup(dest)?;
        println!("Wrote a copy of the database to {}", dest.display());
        return Ok(());
    }
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!("chat is running at http://{addr}/");
    println!("Chat is running at http://{addr}/");
    backend::run(listener, config, shutdown_signal()).await
}

/// Resolves on SIGINT (Ctrl+C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
