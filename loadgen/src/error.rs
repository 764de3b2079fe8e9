//! What can stop a run before it has anything to report.
//!
//! Trouble with single sockets (a refused connect, a close frame, a bad frame from the
//! server) is not an error here: it is counted and shows up in the report.

use std::io;

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The flags ask for something the tool cannot do.
    #[error("{0}")]
    Usage(String),
    /// The server URL cannot be used.
    #[error("bad --url {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// This process may not open enough files for the sockets asked for.
    #[error(
        "{wanted} sockets need about {needed} open files, but this process may open only {limit}; \
         use fewer --clients per process (or --processes K for idle and storm)"
    )]
    FileLimit {
        wanted: usize,
        needed: u64,
        limit: u64,
    },
    /// The run could not be set up (no sender connected, the server unreachable, ...).
    #[error("setup failed: {0}")]
    Setup(String),
    /// A helper process of a `--processes` run misbehaved.
    #[error("worker process: {0}")]
    Worker(String),
    /// Local I/O: the JSON file, the HTTP client, the runtime.
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("cannot encode the report: {0}")]
    Json(#[from] serde_json::Error),
}
