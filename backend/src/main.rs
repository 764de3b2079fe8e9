//! `backend`: parses flags, starts logging, binds, and hands over to [`backend::run`].

use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), backend::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // warp logs every request, and every 4xx as a warning: that is debug detail here.
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,warp=error")),
        )
        .init();
    let config = backend::Config::parse();
    if let Some(dest) = &config.backup_to {
        backend::store::Store::open(&config.data_dir)?.backup(dest)?;
        println!("Wrote a copy of the database to {}", dest.display());
        return Ok(());
    }
    let listener = listen(config.addr)?;
    let addr = listener.local_addr()?;
    tracing::info!("chat is running at http://{addr}/");
    println!("Chat is running at http://{addr}/");
    backend::run(listener, config, shutdown_signal()).await
}

/// Binds with a deep accept queue: the default of 128 drops connection attempts during
/// a burst of connects, and each dropped one waits a second for its retry.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
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
