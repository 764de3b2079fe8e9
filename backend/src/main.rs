//! `backend`: parses flags, starts logging, binds, and hands over to [`backend::run`];
//! `backend migrate` hands over to [`backend::migrate`].

use backend::config::LogFormat;
use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), backend::Error> {
    let config = backend::Config::parse();
    start_logging(config.log_format);
    if let Some(backend::config::Command::Migrate(args)) = config.command {
        std::process::exit(backend::migrate::main(args).await);
    }
    if let Some(dest) = &config.backup_to {
        backend::store::Store::open(&config.data_dir)?.backup(dest)?;
        println!("Wrote a copy of the database to {}", dest.display());
        return Ok(());
    }
    match backend::conn::raise_fd_limit() {
        Ok(limit) => tracing::info!(limit, "file-descriptor limit"),
        Err(err) => tracing::warn!(%err, "could not raise the file-descriptor limit"),
    }
    let listener = listen(config.addr)?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("chat is running at {scheme}://{addr}/");
    println!("Chat is running at {scheme}://{addr}/");
    backend::run(listener, config, shutdown_signal()).await
}

/// Logs go to standard error, as text or one JSON object per line; standard output only
/// says where the chat is running.
fn start_logging(format: LogFormat) {
    // warp logs every request, and every 4xx as a warning: that is debug detail here.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,warp=error"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        // The event's fields at the top level, where collectors look for `message`.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
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
