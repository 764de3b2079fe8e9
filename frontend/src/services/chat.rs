//! The `/ws/chat` connection: one task that connects, passes frames both ways and, when the
//! socket drops, reconnects on its own until it is stopped or the server says the session is
//! gone (close code 4001). A server that closed with 1001 is restarting: it is tried again
//! every quarter second for a while, so the room is back within about a second of the
//! server; other drops, and retries that keep failing, back off exponentially with jitter. A new socket resumes
//! after the last message seen, and chat messages go out through [`Delivery`] so each is
//! broadcast exactly once however often the socket drops.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{poll_fn, Fuse, FusedFuture};
use futures::stream::FusedStream;
use futures::{select, FutureExt, SinkExt, Stream, StreamExt};
use gloo_events::EventListener;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use gloo_timers::future::{sleep, TimeoutFuture};
use shared::{
    ClientMessage, ServerFrame, ServerMessage, Signal, CLOSE_GOING_AWAY, CLOSE_INVALID_USER,
};
use yew::Callback;

use crate::services::delivery::Delivery;
use crate::state::{ConnectionStatus, Pending};

/// Wait before the first retry; it doubles after every failed try.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait between two tries.
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// How far jitter moves a wait either way, so many clients do not retry in step.
const JITTER: f64 = 0.25;
/// A socket that stayed open this long was a real connection: the next retry starts fast again.
/// A server that accepts and at once closes keeps the backoff growing instead.
const STABLE_MILLIS: f64 = 10_000.0;
/// Wait between tries after the server said it is restarting (1001).
const RESTART_RETRY: Duration = Duration::from_millis(250);
/// How many tries at [`RESTART_RETRY`] before the usual backoff takes over: about 10 s,
/// long enough for a restart or a quick deploy.
const RESTART_TRIES: u32 = 40;
/// Wait after the server refused a message as too fast; it refills one message a second.
const SLOW_DOWN_RETRY: Duration = Duration::from_millis(1_500);

/// What the connection tells the room.
// Events are handed over one at a time and never stored: boxing the message would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Status(ConnectionStatus),
    Message(ServerMessage),
    /// An id-less frame: someone typing, or a read marker set in another tab.
    Signal(Signal),
    /// The messages still unsent, whenever that list changed.
    Outbox(Vec<Pending>),
    /// The server closed with 4001: there is no valid session, so retrying is pointless.
    SessionEnded,
}

/// A running connection. Dropping it closes the socket and ends the task.
pub struct ChatConnection {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Shared with the task; the page and the task run on one thread and never hold it
    /// across an `.await`.
    delivery: Rc<RefCell<Delivery>>,
    on_event: Callback<ChatEvent>,
    retry: mpsc::UnboundedSender<()>,
    _stop: oneshot::Sender<()>,
}

impl ChatConnection {
    /// Starts connecting to `/ws/chat` on the page's own host as user `me`, with the
    /// messages left `unsent` when the page last closed; events go to `on_event`.
    pub fn open(me: u64, unsent: Vec<Pending>, on_event: Callback<ChatEvent>) -> Self {
        let (outgoing, outgoing_rx) = mpsc::unbounded();
        let (stop, stop_rx) = oneshot::channel();
        let delivery = Rc::new(RefCell::new(Delivery::new(me, unsent)));
        on_event.emit(ChatEvent::Outbox(delivery.borrow().pending().to_vec()));
        let (retry, retry_rx) = mpsc::unbounded();
        let task = Task {
            outgoing: outgoing_rx,
            retry_now: retry_rx,
            stop: stop_rx.fuse(),
            network: NetworkWatch::new(),
            on_event: on_event.clone(),
            delivery: delivery.clone(),
        };
        wasm_bindgen_futures::spawn_local(task.run());
        Self {
            outgoing,
            delivery,
            on_event,
            retry,
            _stop: stop,
        }
    }

    /// While disconnected: skips the rest of the wait and tries at once ("Retry now").
    pub fn retry_now(&self) {
        let _ = self.retry.unbounded_send(());
    }

    /// Queues a chat message: it goes out once the socket is ready, and again on every new
    /// socket until its broadcast comes back.
    pub fn send(&self, pending: Pending) {
        let (now, unsent) = {
            let mut delivery = self.delivery.borrow_mut();
            let now = delivery.queue(pending);
            (now, delivery.pending().to_vec())
        };
        // Shown at once, connected or not.
        self.on_event.emit(ChatEvent::Outbox(unsent));
        if !now.is_empty() {
            // Fails only once the task has ended, when there is nobody left to send to.
            let _ = self.outgoing.unbounded_send(Outgoing::Now(now));
        }
    }

    /// Sends a read marker or a typing note now, if a socket is ready; dropped otherwise
    /// (both are worth nothing later).
    pub fn signal(&self, message: ClientMessage) {
        let _ = self.outgoing.unbounded_send(Outgoing::Signal(message));
    }
}

/// What the page hands the connection task.
enum Outgoing {
    /// Chat messages [`Delivery`] let go out on the current socket.
    Now(Vec<ClientMessage>),
    Signal(ClientMessage),
}

/// The chat address for a page served with `protocol` (`"https:"`...) from `host`, asking
/// for everything after message `since` when there is one.
pub fn chat_url_for(protocol: &str, host: &str, since: Option<u64>) -> String {
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    // `v=2`: one socket for all of the user's rooms.
    match since {
        Some(since) => format!("{scheme}://{host}/ws/chat?v=2&since={since}"),
        None => format!("{scheme}://{host}/ws/chat?v=2"),
    }
}

/// The wait before retry number `attempt` (0 for the first), with `random` in `[0, 1)`
/// spreading it by up to ±25 %.
pub fn backoff(attempt: u32, random: f64) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    let spread = 1.0 + JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0);
    base.mul_f64(spread).min(BACKOFF_MAX)
}

/// The wait before retry number `attempt` (0 for the first) when the last socket was
/// closed by a restarting server (1001): short for the first [`RESTART_TRIES`], then the
/// usual [`backoff`] as if starting over.
pub fn restart_wait(attempt: u32, random: f64) -> Duration {
    if attempt < RESTART_TRIES {
        let spread = 1.0 + JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        RESTART_RETRY.mul_f64(spread)
    } else {
        backoff(attempt - RESTART_TRIES, random)
    }
}

fn chat_url(since: Option<u64>) -> String {
    let location = web_sys::window().map(|window| window.location());
    let protocol = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .unwrap_or_default();
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    chat_url_for(&protocol, &host, since)
}

/// `navigator.onLine`; browsers only ever get `false` right, so `true` means "maybe".
fn browser_online() -> bool {
    web_sys::window().is_none_or(|window| window.navigator().on_line())
}

/// The browser's `online` / `offline` events as a stream of "online now?".
struct NetworkWatch {
    changes: mpsc::UnboundedReceiver<bool>,
    _listeners: Vec<EventListener>,
}

impl NetworkWatch {
    fn new() -> Self {
        let (sender, changes) = mpsc::unbounded();
        let mut listeners = Vec::new();
        if let Some(window) = web_sys::window() {
            for (event, online) in [("online", true), ("offline", false)] {
                let sender = sender.clone();
                listeners.push(EventListener::new(&window, event, move |_| {
                    let _ = sender.unbounded_send(online);
                }));
            }
        }
        Self {
            changes,
            _listeners: listeners,
        }
    }
}

impl Stream for NetworkWatch {
    type Item = bool;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<bool>> {
        self.changes.poll_next_unpin(cx)
    }
}

impl FusedStream for NetworkWatch {
    fn is_terminated(&self) -> bool {
        self.changes.is_terminated()
    }
}

/// How one socket's life ended.
enum Outcome {
    /// Dropped or never opened: try again, from the shortest wait if it had been `stable`,
    /// quickly if the server closed it as `going_away` (restarting).
    Dropped { stable: bool, going_away: bool },
    /// Closed with 4001.
    SessionEnded,
    /// The handle was dropped: stop for good.
    Stopped,
}

/// The channels one connection task works with, and what it remembers between sockets.
struct Task {
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    retry_now: mpsc::UnboundedReceiver<()>,
    stop: Fuse<oneshot::Receiver<()>>,
    network: NetworkWatch,
    on_event: Callback<ChatEvent>,
    delivery: Rc<RefCell<Delivery>>,
}

impl Task {
    async fn run(mut self) {
        let task = &mut self;
        let mut retrying = false;
        let mut attempt = 0;
        // The server said it is restarting: retry quickly until it is back.
        let mut restarting = false;
        loop {
            // Offline: wait for the browser to say it is back rather than burning retries.
            while !browser_online() {
                task.status(ConnectionStatus::Offline);
                select! {
                    _ = &mut task.stop => return,
                    _ = task.network.next() => {}
                    _ = task.retry_now.next() => break,
                }
            }
            task.status(if retrying {
                ConnectionStatus::Reconnecting
            } else {
                ConnectionStatus::Offline
            });
            let url = chat_url(task.delivery.borrow().since());
            let ended = match WebSocket::open(&url) {
                Ok(socket) => task.serve(socket).await,
                Err(_) => Outcome::Dropped {
                    stable: false,
                    going_away: false,
                },
            };
            match ended {
                Outcome::Stopped => return,
                Outcome::SessionEnded => {
                    task.on_event.emit(ChatEvent::SessionEnded);
                    return;
                }
                Outcome::Dropped { stable, going_away } => {
                    if stable || going_away {
                        attempt = 0;
                    }
                    if going_away {
                        restarting = true;
                    } else if stable {
                        restarting = false;
                    }
                }
            }
            retrying = true;
            task.status(if browser_online() {
                ConnectionStatus::Reconnecting
            } else {
                ConnectionStatus::Offline
            });
            let random = js_sys::Math::random();
            let wait = if restarting {
                restart_wait(attempt, random)
            } else {
                backoff(attempt, random)
            };
            attempt = attempt.saturating_add(1);
            select! {
                _ = &mut task.stop => return,
                _ = sleep(wait).fuse() => {}
                // Back online, or the reader asked: retry at once instead of waiting.
                _ = task.network.next() => {}
                _ = task.retry_now.next() => {}
            }
        }
    }

    fn status(&self, status: ConnectionStatus) {
        self.on_event.emit(ChatEvent::Status(status));
    }

    fn outbox_changed(&self) {
        let pending = self.delivery.borrow().pending().to_vec();
        self.on_event.emit(ChatEvent::Outbox(pending));
    }

    /// Runs one socket from opening to closing.
    async fn serve(&mut self, mut socket: WebSocket) -> Outcome {
        self.delivery.borrow_mut().reset();
        // `poll_ready` completes once the socket has opened or failed to.
        select! {
            _ = &mut self.stop => return Outcome::Stopped,
            _ = poll_fn(|cx| socket.poll_ready_unpin(cx)).fuse() => {}
        }
        let was_open = matches!(socket.state(), State::Open);
        let (mut sink, stream) = socket.split();
        let mut frames = stream.fuse();
        if !was_open {
            // Read the close event that follows, in case it carries 4001.
            while let Some(frame) = frames.next().await {
                if is_session_end(&frame) {
                    return Outcome::SessionEnded;
                }
            }
            return Outcome::Dropped {
                stable: false,
                going_away: false,
            };
        }
        self.status(ConnectionStatus::Connected);
        let opened = js_sys::Date::now();
        let mut going_away = false;
        let dropped = |going_away| Outcome::Dropped {
            stable: js_sys::Date::now() - opened >= STABLE_MILLIS,
            going_away,
        };
        let mut retry: Fuse<TimeoutFuture> = Fuse::terminated();
        loop {
            let send = select! {
                _ = &mut self.stop => return Outcome::Stopped,
                frame = frames.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        // A frame this client cannot read (a newer message type) is skipped.
                        let message = match ServerFrame::parse(&text) {
                            Ok(ServerFrame::Message(message)) => message,
                            Ok(ServerFrame::Signal(signal)) => {
                                self.on_event.emit(ChatEvent::Signal(signal));
                                continue;
                            }
                            Err(_) => continue,
                        };
                        let step = self.delivery.borrow_mut().received(&message);
                        self.on_event.emit(ChatEvent::Message(message));
                        if step.changed {
                            self.outbox_changed();
                        }
                        if step.retry_later && retry.is_terminated() {
                            retry = sleep(SLOW_DOWN_RETRY).fuse();
                        }
                        step.send
                    }
                    Some(Ok(Message::Bytes(_))) => continue,
                    Some(frame @ Err(_)) => {
                        if is_session_end(&frame) {
                            return Outcome::SessionEnded;
                        }
                        going_away |= is_going_away(&frame);
                        continue;
                    }
                    None => return dropped(going_away),
                },
                message = self.outgoing.next() => match message {
                    // Queued while this socket was ready; the next one resends from its history.
                    Some(Outgoing::Now(send)) if self.delivery.borrow().ready() => send,
                    Some(Outgoing::Now(_)) => continue,
                    Some(Outgoing::Signal(signal)) if self.delivery.borrow().ready() => vec![signal],
                    Some(Outgoing::Signal(_)) => continue,
                    None => return Outcome::Stopped,
                },
                () = retry => self.delivery.borrow_mut().retry(),
                // Already connected: nothing to hurry.
                _ = self.retry_now.next() => continue,
                online = self.network.next() => {
                    self.status(if online == Some(false) {
                        ConnectionStatus::Offline
                    } else {
                        ConnectionStatus::Connected
                    });
                    continue;
                }
            };
            for message in send {
                let Ok(json) = serde_json::to_string(&message) else {
                    continue;
                };
                if sink.send(Message::Text(json)).await.is_err() {
                    return dropped(going_away);
                }
            }
        }
    }
}

fn is_session_end(frame: &Result<Message, WebSocketError>) -> bool {
    matches!(frame, Err(WebSocketError::ConnectionClose(close)) if close.code == CLOSE_INVALID_USER)
}

fn is_going_away(frame: &Result<Message, WebSocketError>) -> bool {
    matches!(frame, Err(WebSocketError::ConnectionClose(close)) if close.code == CLOSE_GOING_AWAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_url_follows_the_page_protocol_and_host_and_resumes_after_since() {
        assert_eq!(
            chat_url_for("http:", "127.0.0.1:3000", None),
            "ws://127.0.0.1:3000/ws/chat?v=2"
        );
        assert_eq!(
            chat_url_for("https:", "chat.example", Some(41)),
            "wss://chat.example/ws/chat?v=2&since=41"
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_fifteen() {
        let middle = |attempt| backoff(attempt, 0.5);
        assert_eq!(middle(0), Duration::from_millis(500));
        assert_eq!(middle(1), Duration::from_secs(1));
        assert_eq!(middle(3), Duration::from_secs(4));
        assert_eq!(middle(5), Duration::from_secs(15));
        assert_eq!(middle(u32::MAX), Duration::from_secs(15));
    }

    #[test]
    fn jitter_spreads_the_wait_by_a_quarter_either_way() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(750));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(1250));
        assert!(backoff(10, 1.0) <= BACKOFF_MAX);
    }

    #[test]
    fn after_a_restart_close_retries_come_every_quarter_second_then_back_off() {
        assert_eq!(restart_wait(0, 0.5), Duration::from_millis(250));
        assert_eq!(
            restart_wait(RESTART_TRIES - 1, 0.5),
            Duration::from_millis(250)
        );
        assert!(restart_wait(3, 1.0) <= Duration::from_millis(320));
        assert_eq!(restart_wait(RESTART_TRIES, 0.5), backoff(0, 0.5));
        assert_eq!(restart_wait(RESTART_TRIES + 3, 0.5), backoff(3, 0.5));
    }
}
