//! Sockets that stop reading after their greeting, and how we learn how the server ended
//! them.
//!
//! A stalled socket is not polled while it is in the room. The server's close frame sits
//! behind megabytes of unread frames, and the server only waits a few seconds for a
//! closing peer before it drops the connection, so the frame would be lost if we waited
//! for the end of the run. But the server announces the departure to everyone else: when
//! a stalled socket's user is announced as `left`, or when the run ends, the socket reads
//! its backlog to the end (bounded) and reports the close code it finds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{close_label, error_label};
use crate::connect::Ws;
use crate::run::Run;
use crate::stats::lock;

/// Time given to read a stalled socket's backlog to its end.
const READ_FOR: Duration = Duration::from_secs(10);
/// Frames read from one stalled socket, at most.
const MAX_FRAMES: u64 = 1_000_000;

/// Wakes stalled sockets whose user the server announced as gone.
#[derive(Default)]
pub struct LeftWatch {
    /// Set once a name is registered, so readers skip the lock in other runs.
    active: AtomicBool,
    names: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
}

impl LeftWatch {
    /// The signal for `name`'s departure (shared by that user's stalled sockets).
    pub fn register(&self, name: &str) -> Arc<Notify> {
        self.active.store(true, Ordering::Relaxed);
        lock(&self.names)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Reads a `left` notice, `"<name> left."`, and wakes that user's stalled sockets.
    pub fn on_left(&self, text: Option<&str>) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let Some(name) = text.and_then(|t| t.strip_suffix(" left.")) else {
            return;
        };
        if let Some(notify) = lock(&self.names).get(name) {
            notify.notify_waiters();
            // A permit too, for a socket not yet waiting.
            notify.notify_one();
        }
    }
}

/// How a stalled socket ended.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Close code, or a word (`eof`, `reset without close`, `open`).
    pub how: String,
    /// Frames read from its backlog.
    pub frames: u64,
    /// Whether the server announced its user as gone before the run ended.
    pub announced: bool,
}

/// Holds `ws` unread until its user is announced as gone or the run's `read_stalled`
/// signal, then reads it to its end. A run that stops early lets it go unread.
pub async fn hold(ws: Ws, left: Arc<Notify>, run: Arc<Run>) -> Ending {
    let announced = tokio::select! {
        _ = left.notified() => true,
        _ = run.read_stalled.cancelled() => false,
        _ = run.stop.cancelled() => {
            return Ending {
                how: "not read".into(),
                frames: 0,
                announced: false,
            }
        }
    };
    let (how, frames) = read_to_end(ws).await;
    Ending {
        how,
        frames,
        announced,
    }
}

/// Reads until a close frame, the end of the stream or [`READ_FOR`]; returns how the
/// socket ended (`"open"` if it had not) and the frames read.
async fn read_to_end(mut ws: Ws) -> (String, u64) {
    let deadline = Instant::now() + READ_FOR;
    let mut frames = 0;
    while frames < MAX_FRAMES {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return ("open".into(), frames),
            Ok(Some(Ok(Message::Close(frame)))) => {
                // Reading on lets the protocol layer answer the close.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
                return (close_label(frame.as_ref()), frames);
            }
            Ok(Some(Ok(_))) => frames += 1,
            Ok(Some(Err(err))) => return (error_label(&err), frames),
            Ok(None) => return ("eof".into(), frames),
        }
    }
    ("open".into(), frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_left_notice_wakes_only_that_users_sockets() {
        let watch = LeftWatch::default();
        let a = watch.register("lg-x-1");
        let b = watch.register("lg-x-2");
        watch.on_left(Some("lg-x-1 left."));
        watch.on_left(Some("lg-x-3 left."));
        watch.on_left(Some("lg-x-2 joined."));
        watch.on_left(None);
        tokio::time::timeout(Duration::from_secs(1), a.notified())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.notified())
                .await
                .is_err(),
            "not woken"
        );
    }
}
