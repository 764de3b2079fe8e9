//! One socket's queue of outgoing frames, filled by the hub and drained by the socket.
//!
//! Bounded in bytes: a push that would take the queue past its limit does not wait, it
//! marks the socket for closing with 1008, so a client that stops reading never slows the
//! hub or anyone else down, and costs the server at most its limit. Counting bytes, not
//! frames, lets a reader that keeps up ride out a burst of many small frames. An idle
//! socket's queue holds no allocation worth speaking of (a channel per socket would cost
//! every idle connection over a kilobyte).
//!
//! Id-less signals (`typing`, `read`) are extras: queued only while the queue is at most
//! half full, dropped silently otherwise, and never counted toward the limit that closes.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;

use super::Frame;

/// Close code for a socket whose outgoing queue overflowed (policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = shared::CLOSE_POLICY;
/// Reason sent with [`CLOSE_SLOW_CONSUMER`] when the queue overflowed.
pub const SLOW_CONSUMER_REASON: &str = "too many unread messages";
/// A drained queue keeps at most this much capacity for the next burst.
const KEEP_CAPACITY: usize = 16;

/// Frames waiting for one socket, and whether it must close.
pub struct Outbox {
    /// Held only to push or to swap out the frames, never across an `.await`.
    queue: Mutex<Queue>,
    /// Most payload bytes the queue may hold.
    capacity: usize,
    /// Woken on every push and on close.
    notify: Notify,
    /// The close code and reason, once asked for; the first request wins.
    closing: OnceLock<(u16, &'static str)>,
}

#[derive(Default)]
struct Queue {
    /// Each frame, and whether it is a signal that may be dropped.
    frames: VecDeque<(Frame, bool)>,
    /// Payload bytes of the frames that are not signals.
    bytes: usize,
    /// Payload bytes of the signals.
    signal_bytes: usize,
}

impl Outbox {
    /// An empty queue of at most `capacity` payload bytes.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
            capacity,
            notify: Notify::new(),
            closing: OnceLock::new(),
        }
    }

    /// Queues a frame; past the byte limit, asks the socket to close with 1008 instead.
    pub fn push(&self, frame: Frame) {
        let mut queue = self.lock();
        if queue.bytes + frame.len() > self.capacity {
            drop(queue);
            self.close_with(CLOSE_SLOW_CONSUMER, SLOW_CONSUMER_REASON);
            return;
        }
        queue.bytes += frame.len();
        crate::metrics::bytes_queued(frame.len());
        queue.frames.push_back((frame, false));
        drop(queue);
        self.notify.notify_one();
    }

    /// Queues an id-less signal unless the queue is more than half full, in which case it
    /// is dropped: a signal is never worth closing a socket for, nor worth the room a
    /// stored message needs.
    pub fn push_signal(&self, frame: Frame) {
        let mut queue = self.lock();
        if queue.bytes + queue.signal_bytes + frame.len() > self.capacity / 2 {
            return;
        }
        queue.signal_bytes += frame.len();
        crate::metrics::bytes_queued(frame.len());
        queue.frames.push_back((frame, true));
        drop(queue);
        self.notify.notify_one();
    }

    /// Asks the socket to close with `code` and the usual reason for it; the first
    /// request wins.
    pub fn close(&self, code: u16) {
        let reason = match code {
            CLOSE_SLOW_CONSUMER => SLOW_CONSUMER_REASON,
            shared::CLOSE_INVALID_USER => shared::CLOSE_INVALID_USER_REASON,
            _ => "closing",
        };
        self.close_with(code, reason);
    }

    /// Asks the socket to close with `code` and `reason`; the first request wins.
    pub fn close_with(&self, code: u16, reason: &'static str) {
        if self.closing.set((code, reason)).is_ok() {
            self.notify.notify_one();
        }
    }

    /// The code the socket must close with, once asked to.
    pub fn close_code(&self) -> Option<u16> {
        self.closing().map(|(code, _)| code)
    }

    /// The code and reason the socket must close with, once asked to.
    pub fn closing(&self) -> Option<(u16, &'static str)> {
        self.closing.get().copied()
    }

    /// Moves up to `max` queued frames into `out`, oldest first. Frames left behind keep
    /// a wake-up pending, so a waiter comes back for them.
    pub fn take(&self, out: &mut Vec<Frame>, max: usize) {
        let mut queue = self.lock();
        let n = queue.frames.len().min(max);
        let (mut bytes, mut signal_bytes) = (0, 0);
        for (frame, signal) in queue.frames.drain(..n) {
            if signal {
                signal_bytes += frame.len();
            } else {
                bytes += frame.len();
            }
            out.push(frame);
        }
        queue.bytes -= bytes;
        queue.signal_bytes -= signal_bytes;
        crate::metrics::bytes_unqueued(bytes + signal_bytes);
        let more = !queue.frames.is_empty();
        if !more && queue.frames.capacity() > KEEP_CAPACITY {
            queue.frames.shrink_to(KEEP_CAPACITY);
        }
        drop(queue);
        if more {
            self.notify.notify_one();
        }
    }

    /// Waits for the next push or close request. Cancel-safe; a push that happened since
    /// the last wait makes it return at once.
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    /// Makes the next [`Outbox::changed`] return at once.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Outbox {
    /// What the socket never took leaves the `chat_queued_bytes` gauge with it.
    fn drop(&mut self) {
        let queue = self.lock();
        crate::metrics::bytes_unqueued(queue.bytes + queue.signal_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_asks_for_1008_and_keeps_what_it_had() {
        let outbox = Outbox::new(4);
        for text in ["ab", "cd", "e"] {
            outbox.push(Frame::from(text));
        }
        assert_eq!(outbox.close_code(), Some(CLOSE_SLOW_CONSUMER));
        let mut out = Vec::new();
        outbox.take(&mut out, 10);
        assert_eq!(out, [Frame::from("ab"), Frame::from("cd")]);
    }

    #[test]
    fn queue_is_bounded_in_bytes_not_frames() {
        let outbox = Outbox::new(1000);
        for _ in 0..1000 {
            outbox.push(Frame::from("x"));
        }
        assert_eq!(outbox.close_code(), None, "1000 one-byte frames fit");
        let mut out = Vec::new();
        outbox.take(&mut out, 10);
        for _ in 0..10 {
            outbox.push(Frame::from("y"));
        }
        assert_eq!(outbox.close_code(), None, "taken frames free their bytes");
        outbox.push(Frame::from("z"));
        assert_eq!(outbox.closing(), Some((1008, SLOW_CONSUMER_REASON)));
    }

    #[test]
    fn signals_are_dropped_past_half_full_and_never_close_the_socket() {
        let outbox = Outbox::new(10);
        outbox.push(Frame::from("abcd"));
        outbox.push_signal(Frame::from("s"));
        outbox.push_signal(Frame::from("t"));
        assert_eq!(outbox.close_code(), None);
        // Stored frames still get the whole limit: signals do not count toward it.
        outbox.push(Frame::from("efghij"));
        assert_eq!(outbox.close_code(), None);
        let mut out = Vec::new();
        outbox.take(&mut out, 10);
        assert_eq!(out, ["abcd", "s", "efghij"].map(Frame::from));
        outbox.push_signal(Frame::from("u"));
        outbox.take(&mut out, 10);
        assert_eq!(
            out.last(),
            Some(&Frame::from("u")),
            "room again once drained"
        );
    }

    #[test]
    fn first_close_code_wins() {
        let outbox = Outbox::new(2);
        outbox.close(4001);
        outbox.close(1008);
        assert_eq!(outbox.close_code(), Some(4001));
    }

    #[tokio::test]
    async fn frames_left_behind_by_a_partial_take_keep_a_wake_up() {
        let outbox = Outbox::new(8);
        for text in ["a", "b", "c"] {
            outbox.push(Frame::from(text));
        }
        outbox.changed().await;
        let mut out = Vec::new();
        outbox.take(&mut out, 2);
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.changed())
            .await
            .expect("the frame left behind wakes the waiter");
    }

    #[tokio::test]
    async fn push_before_waiting_is_not_missed() {
        let outbox = Outbox::new(2);
        outbox.push(Frame::from("a"));
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.changed())
            .await
            .expect("the earlier push wakes the waiter");
    }
}
