//! Getting chat messages through a connection that comes and goes: which ones still have to
//! go out, when they may, and where a new socket resumes. Pure, so it is tested on the host;
//! [`crate::services::chat`] does the actual sending.
//!
//! Every message carries a `cid`, and the server broadcasts a `cid` only once per user, so
//! resending anything not yet confirmed is always safe. Sending waits for the socket's
//! `history`: a message that got through just before a drop is confirmed by it, not resent.

use shared::{ClientMessage, ErrorCode, ServerBody, ServerMessage};

use crate::state::newest_broadcast_id;

/// How an `error` for a message refused by the rate limit begins.
pub const SLOW_DOWN: &str = "slow down";

/// What the connection should do after a frame came in.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// To send now, in this order.
    pub send: Vec<ClientMessage>,
    /// The server refused a message as too fast: call [`Delivery::retry`] in a moment.
    pub retry_later: bool,
}

/// The client's half of exactly-once delivery for one signed-in user.
#[derive(Debug)]
pub struct Delivery {
    me: u64,
    /// Messages not confirmed yet, in the order they were typed.
    unconfirmed: Vec<ClientMessage>,
    /// The current socket has sent its `history`.
    ready: bool,
    /// The server refused a message as too fast: until the queue drains, only
    /// [`Delivery::retry`] sends, so messages keep the order they were typed in.
    held: bool,
    /// Largest broadcast id seen, once a `history` has been applied.
    seen: Option<u64>,
    synced: bool,
}

impl Delivery {
    pub fn new(me: u64) -> Self {
        Self {
            me,
            unconfirmed: Vec::new(),
            ready: false,
            held: false,
            seen: None,
            synced: false,
        }
    }

    /// The `since` for the next socket: nothing until a `history` was applied, since before
    /// that the log may not reach back to the largest id seen.
    pub fn since(&self) -> Option<u64> {
        self.seen.filter(|_| self.synced)
    }

    /// A socket opened or closed: nothing goes out until the next `history`.
    pub fn reset(&mut self) {
        self.ready = false;
    }

    /// A message to deliver; returns what may go out right now.
    pub fn queue(&mut self, message: ClientMessage) -> Vec<ClientMessage> {
        if self.unconfirmed.contains(&message) {
            return Vec::new();
        }
        self.unconfirmed.push(message.clone());
        if self.ready && !self.held {
            vec![message]
        } else {
            Vec::new()
        }
    }

    /// Takes note of a frame from the server.
    pub fn received(&mut self, message: &ServerMessage) -> Step {
        if let Some(id) = newest_broadcast_id(message) {
            self.seen = self.seen.max(Some(id));
        }
        match &message.body {
            ServerBody::History { messages, .. } => {
                messages.iter().for_each(|stored| self.confirm(stored));
                self.ready = true;
                self.synced = true;
                // A new socket starts with a fresh allowance.
                self.held = false;
                Step {
                    send: self.unconfirmed.clone(),
                    retry_later: false,
                }
            }
            ServerBody::Chat { .. } => {
                self.confirm(message);
                Step::default()
            }
            ServerBody::Error(refusal)
                if refusal.code == ErrorCode::RateLimited && !self.unconfirmed.is_empty() =>
            {
                self.held = true;
                Step {
                    send: Vec::new(),
                    retry_later: true,
                }
            }
            _ => Step::default(),
        }
    }

    /// After a refusal: everything still unconfirmed, in order. The server takes as many as
    /// its allowance permits and refuses the rest, which come back here again.
    pub fn retry(&mut self) -> Vec<ClientMessage> {
        if self.ready {
            self.unconfirmed.clone()
        } else {
            Vec::new()
        }
    }

    fn confirm(&mut self, message: &ServerMessage) {
        let ServerBody::Chat { cid: Some(cid), .. } = &message.body else {
            return;
        };
        if message.user.id != self.me {
            return;
        }
        self.unconfirmed.retain(|queued| {
            !matches!(queued, ClientMessage::Chat { cid: Some(queued), .. } if queued == cid)
        });
        if self.unconfirmed.is_empty() {
            self.held = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::User;

    const ME: u64 = 1;

    fn out(text: &str, cid: &str) -> ClientMessage {
        ClientMessage::chat_with_cid(text, cid)
    }

    fn frame(id: u64, from: u64, body: ServerBody) -> ServerMessage {
        ServerMessage {
            id,
            ts: 1_764_070_000_000,
            user: User::new(from, "someone"),
            room: None,
            body,
        }
    }

    fn echo(id: u64, from: u64, text: &str, cid: &str) -> ServerMessage {
        frame(
            id,
            from,
            ServerBody::Chat {
                text: text.into(),
                cid: Some(cid.into()),
                mentions: Vec::new(),
            },
        )
    }

    fn history(id: u64, messages: Vec<ServerMessage>) -> ServerMessage {
        frame(
            id,
            ME,
            ServerBody::History {
                messages,
                truncated: false,
            },
        )
    }

    fn slow_down(id: u64) -> ServerMessage {
        frame(
            id,
            ME,
            ServerBody::Error(shared::Refusal::new(
                shared::ErrorCode::RateLimited,
                "slow down: you are sending messages too fast",
            )),
        )
    }

    #[test]
    fn nothing_goes_out_before_the_sockets_history() {
        let mut delivery = Delivery::new(ME);
        assert!(delivery.queue(out("a", "c1")).is_empty());
        let step = delivery.received(&history(5, vec![]));
        assert_eq!(step.send, [out("a", "c1")]);
        assert_eq!(delivery.queue(out("b", "c2")), [out("b", "c2")]);
    }

    #[test]
    fn unconfirmed_messages_are_resent_on_the_next_socket() {
        let mut delivery = Delivery::new(ME);
        delivery.received(&history(5, vec![]));
        delivery.queue(out("a", "c1"));
        delivery.queue(out("b", "c2"));
        delivery.received(&echo(6, ME, "a", "c1"));
        delivery.reset();
        assert!(delivery.queue(out("c", "c3")).is_empty(), "no socket yet");
        let step = delivery.received(&history(9, vec![]));
        assert_eq!(step.send, [out("b", "c2"), out("c", "c3")]);
    }

    #[test]
    fn a_message_confirmed_by_the_history_is_not_resent() {
        let mut delivery = Delivery::new(ME);
        delivery.received(&history(5, vec![]));
        delivery.queue(out("a", "c1"));
        delivery.queue(out("b", "c2"));
        delivery.reset();
        let step = delivery.received(&history(9, vec![echo(6, ME, "a", "c1")]));
        assert_eq!(step.send, [out("b", "c2")]);
    }

    #[test]
    fn another_users_message_with_the_same_cid_confirms_nothing() {
        let mut delivery = Delivery::new(ME);
        delivery.queue(out("a", "c1"));
        delivery.received(&echo(6, 2, "a", "c1"));
        let step = delivery.received(&history(9, vec![]));
        assert_eq!(step.send, [out("a", "c1")]);
    }

    #[test]
    fn after_slow_down_only_retries_send_so_the_order_holds() {
        let mut delivery = Delivery::new(ME);
        delivery.received(&history(5, vec![]));
        delivery.queue(out("a", "c1"));
        delivery.queue(out("b", "c2"));
        let step = delivery.received(&slow_down(7));
        assert!(step.retry_later);
        assert!(
            delivery.queue(out("c", "c3")).is_empty(),
            "held behind the refused ones"
        );
        delivery.received(&echo(8, ME, "a", "c1"));
        assert_eq!(delivery.retry(), [out("b", "c2"), out("c", "c3")]);
        delivery.received(&echo(9, ME, "b", "c2"));
        delivery.received(&echo(10, ME, "c", "c3"));
        assert_eq!(
            delivery.queue(out("d", "c4")),
            [out("d", "c4")],
            "a drained queue sends at once again"
        );
    }

    #[test]
    fn slow_down_with_nothing_pending_asks_for_no_retry() {
        let mut delivery = Delivery::new(ME);
        delivery.received(&history(5, vec![]));
        assert!(!delivery.received(&slow_down(6)).retry_later);
    }

    #[test]
    fn resuming_starts_after_the_largest_broadcast_seen_once_synced() {
        let mut delivery = Delivery::new(ME);
        delivery.received(&frame(3, 2, ServerBody::Join("Bob joined.".into())));
        assert_eq!(delivery.since(), None, "no history yet: start afresh");
        delivery.received(&frame(4, ME, ServerBody::List(vec![])));
        delivery.received(&history(5, vec![echo(2, 2, "x", "k")]));
        assert_eq!(delivery.since(), Some(3));
        delivery.received(&echo(8, 2, "y", "k2"));
        delivery.received(&slow_down(9));
        assert_eq!(delivery.since(), Some(8), "errors are not broadcasts");
    }
}
