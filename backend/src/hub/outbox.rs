//! One socket's queue of outgoing frames, filled by the hub and drained by the socket.
//!
//! Bounded: a push onto a full queue does not wait, it marks the socket for closing with
//! 1008, so a client that stops reading never slows the hub or anyone else down. An idle
//! socket's queue holds no allocation worth speaking of (a channel per socket would cost
//! every idle connection over a kilobyte).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::Frame;

/// Close code for a socket whose outgoing queue overflowed (policy violation).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// A drained queue keeps at most this much capacity for the next burst.
const KEEP_CAPACITY: usize = 16;

/// Frames waiting for one socket, and whether it must close.
pub struct Outbox {
    /// Held only to push or to swap out the frames, never across an `.await`.
    queue: Mutex<VecDeque<Frame>>,
    capacity: usize,
    /// Woken on every push and on close.
    notify: Notify,
    close_code: AtomicU16,
}

impl Outbox {
    /// An empty queue of at most `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            notify: Notify::new(),
            close_code: AtomicU16::new(0),
        }
    }

    /// Queues a frame; on a full queue, asks the socket to close with 1008 instead.
    pub fn push(&self, frame: Frame) {
        let mut queue = self.lock();
        if queue.len() >= self.capacity {
            drop(queue);
            self.close(CLOSE_SLOW_CONSUMER);
            return;
        }
        queue.push_back(frame);
        drop(queue);
        self.notify.notify_one();
    }

    /// Asks the socket to close with `code`; the first code given wins.
    pub fn close(&self, code: u16) {
        if self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// The code the socket must close with, once asked to.
    pub fn close_code(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Moves up to `max` queued frames into `out`, oldest first. Frames left behind keep
    /// a wake-up pending, so a waiter comes back for them.
    pub fn take(&self, out: &mut Vec<Frame>, max: usize) {
        let mut queue = self.lock();
        let n = queue.len().min(max);
        out.extend(queue.drain(..n));
        let more = !queue.is_empty();
        if !more && queue.capacity() > KEEP_CAPACITY {
            queue.shrink_to(KEEP_CAPACITY);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Frame>> {
        self.queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_asks_for_1008_and_keeps_what_it_had() {
        let outbox = Outbox::new(2);
        for text in ["a", "b", "c"] {
            outbox.push(Frame::from(text));
        }
        assert_eq!(outbox.close_code(), Some(CLOSE_SLOW_CONSUMER));
        let mut out = Vec::new();
        outbox.take(&mut out, 10);
        assert_eq!(out, [Frame::from("a"), Frame::from("b")]);
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
