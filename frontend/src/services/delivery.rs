//! Getting chat messages through a connection that comes and goes: which ones still have to
//! go out, when they may, and where a new socket resumes. Pure, so it is tested on the host;
//! [`crate::services::chat`] does the actual sending.
//!
//! This is the one place that holds unsent messages: the page renders a copy of
//! [`Delivery::pending`] and never confirms anything itself.
//!
//! Every message carries a `cid`, and the server broadcasts a `cid` only once per user, so
//! resending anything not yet confirmed is always safe. Sending waits for the socket's
//! `history`: a message that got through just before a drop is confirmed by it, not resent.

use shared::{ClientMessage, ErrorCode, ServerBody, ServerMessage};

use crate::state::{newest_broadcast_id, Pending};

/// What the connection should do after a frame came in.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// To send now, in this order.
    pub send: Vec<ClientMessage>,
    /// The server refused a message as too fast: call [`Delivery::retry`] in a moment.
    pub retry_later: bool,
    /// The unsent messages changed: show [`Delivery::pending`] again.
    pub changed: bool,
}

/// The client's half of exactly-once delivery for one signed-in user.
#[derive(Debug)]
pub struct Delivery {
    me: u64,
    /// Messages not confirmed yet, in the order they were typed.
    unconfirmed: Vec<Pending>,
    /// The current socket has sent its `history`.
    ready: bool,
    /// The server refused a message as too fast: until the queue drains, only
    /// [`Delivery::retry`] sends, so messages keep the order they were typed in.
    held: bool,
    /// Largest broadcast id seen, once a `history` has been applied.
    seen: Option<u64>,
    synced: bool,
}

/// The frame that carries a pending message.
fn frame(pending: &Pending) -> ClientMessage {
    ClientMessage::chat_in(pending.room, pending.text.clone(), pending.cid.clone())
}

impl Delivery {
    /// Delivery for user `me`, starting with what was unsent when the page last closed.
    pub fn new(me: u64, unsent: Vec<Pending>) -> Self {
        Self {
            me,
            unconfirmed: unsent,
            ready: false,
            held: false,
            seen: None,
            synced: false,
        }
    }

    /// The messages not confirmed yet, in the order they were typed.
    pub fn pending(&self) -> &[Pending] {
        &self.unconfirmed
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

    /// Whether frames other than chat (read markers, typing) may go out now.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// A message to deliver; returns what may go out right now.
    pub fn queue(&mut self, pending: Pending) -> Vec<ClientMessage> {
        if self
            .unconfirmed
            .iter()
            .any(|queued| queued.cid == pending.cid)
        {
            return Vec::new();
        }
        let message = frame(&pending);
        self.unconfirmed.push(pending);
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
                let before = self.unconfirmed.len();
                for stored in messages {
                    self.confirm(stored);
                }
                // Every socket sends one history; a server that knows rooms may send one per
                // room, and the first is enough to know the socket is ready.
                let first = !self.ready;
                self.ready = true;
                self.synced = true;
                if first {
                    // A new socket starts with a fresh allowance.
                    self.held = false;
                }
                Step {
                    send: if first { self.retry() } else { Vec::new() },
                    retry_later: false,
                    changed: self.unconfirmed.len() != before,
                }
            }
            ServerBody::Chat { .. } => Step {
                changed: self.confirm(message),
                ..Step::default()
            },
            ServerBody::Error(refusal) => {
                let refused = refusal.cid.as_deref();
                let known = refused.is_none_or(|cid| self.unconfirmed.iter().any(|p| p.cid == cid));
                match refusal.code {
                    ErrorCode::RateLimited | ErrorCode::NotSaved
                        if known && !self.unconfirmed.is_empty() =>
                    {
                        self.held = true;
                        Step {
                            retry_later: true,
                            ..Step::default()
                        }
                    }
                    // Refused for good (too long, no such room...): sending it again would
                    // be refused again, so it leaves the outbox; the notice says why.
                    _ => match refused {
                        Some(cid) if known => {
                            self.unconfirmed.retain(|pending| pending.cid != cid);
                            if self.unconfirmed.is_empty() {
                                self.held = false;
                            }
                            Step {
                                changed: true,
                                ..Step::default()
                            }
                        }
                        _ => Step::default(),
                    },
                }
            }
            _ => Step::default(),
        }
    }

    /// After a refusal: everything still unconfirmed, in order. The server takes as many as
    /// its allowance permits and refuses the rest, which come back here again.
    pub fn retry(&mut self) -> Vec<ClientMessage> {
        if self.ready {
            self.unconfirmed.iter().map(frame).collect()
        } else {
            Vec::new()
        }
    }

    /// `true` when the message confirmed one of the reader's unsent messages.
    fn confirm(&mut self, message: &ServerMessage) -> bool {
        let ServerBody::Chat { cid: Some(cid), .. } = &message.body else {
            return false;
        };
        if message.user.id != self.me {
            return false;
        }
        let before = self.unconfirmed.len();
        self.unconfirmed.retain(|queued| &queued.cid != cid);
        if self.unconfirmed.is_empty() {
            self.held = false;
        }
        self.unconfirmed.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Refusal, User, GENERAL};

    const ME: u64 = 1;

    fn pending(text: &str, cid: &str) -> Pending {
        Pending {
            cid: cid.into(),
            room: GENERAL,
            text: text.into(),
            queued_at: 1_764_070_000_000,
        }
    }

    fn out(text: &str, cid: &str) -> ClientMessage {
        ClientMessage::chat_in(GENERAL, text, cid)
    }

    fn cids(delivery: &Delivery) -> Vec<&str> {
        delivery.pending().iter().map(|p| p.cid.as_str()).collect()
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

    fn refused(id: u64, code: ErrorCode, cid: Option<&str>) -> ServerMessage {
        frame(
            id,
            ME,
            ServerBody::Error(Refusal::new(code, "refused").for_cid(cid.map(str::to_owned))),
        )
    }

    fn slow_down(id: u64) -> ServerMessage {
        refused(id, ErrorCode::RateLimited, None)
    }

    #[test]
    fn nothing_goes_out_before_the_sockets_history() {
        let mut delivery = Delivery::new(ME, Vec::new());
        assert!(delivery.queue(pending("a", "c1")).is_empty());
        let step = delivery.received(&history(5, vec![]));
        assert_eq!(step.send, [out("a", "c1")]);
        assert_eq!(delivery.queue(pending("b", "c2")), [out("b", "c2")]);
    }

    #[test]
    fn a_message_goes_to_its_room() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        let mut design = pending("hi", "c1");
        design.room = 3;
        assert_eq!(
            delivery.queue(design),
            [ClientMessage::chat_in(3, "hi", "c1")]
        );
    }

    #[test]
    fn only_the_first_history_of_a_socket_sends_the_queue() {
        let mut delivery = Delivery::new(ME, vec![pending("a", "c1")]);
        assert_eq!(
            delivery.received(&history(5, vec![])).send,
            [out("a", "c1")]
        );
        assert!(
            delivery.received(&history(6, vec![])).send.is_empty(),
            "the next room's history sends nothing twice"
        );
    }

    #[test]
    fn a_queued_message_waits_until_its_broadcast_comes_back() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.queue(pending("a", "c1"));
        delivery.queue(pending("b", "c2"));
        delivery.queue(pending("b", "c2"));
        assert_eq!(
            cids(&delivery),
            ["c1", "c2"],
            "the same cid twice is kept once"
        );
        let step = delivery.received(&echo(7, ME, "a", "c1"));
        assert!(step.changed);
        assert_eq!(cids(&delivery), ["c2"]);
    }

    #[test]
    fn an_outbox_kept_from_before_is_restored_and_sent() {
        let mut delivery = Delivery::new(ME, vec![pending("from before", "c9")]);
        assert_eq!(cids(&delivery), ["c9"]);
        assert_eq!(
            delivery.received(&history(5, vec![])).send,
            [out("from before", "c9")]
        );
    }

    #[test]
    fn unconfirmed_messages_are_resent_on_the_next_socket() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        delivery.queue(pending("a", "c1"));
        delivery.queue(pending("b", "c2"));
        delivery.received(&echo(6, ME, "a", "c1"));
        delivery.reset();
        assert!(
            delivery.queue(pending("c", "c3")).is_empty(),
            "no socket yet"
        );
        let step = delivery.received(&history(9, vec![]));
        assert_eq!(step.send, [out("b", "c2"), out("c", "c3")]);
    }

    #[test]
    fn a_message_confirmed_by_the_history_is_not_resent() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        delivery.queue(pending("a", "c1"));
        delivery.queue(pending("b", "c2"));
        delivery.reset();
        let step = delivery.received(&history(9, vec![echo(6, ME, "a", "c1")]));
        assert_eq!(step.send, [out("b", "c2")]);
        assert!(step.changed);
    }

    #[test]
    fn another_users_message_with_the_same_cid_confirms_nothing() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.queue(pending("a", "c1"));
        assert!(!delivery.received(&echo(6, 2, "a", "c1")).changed);
        let step = delivery.received(&history(9, vec![]));
        assert_eq!(step.send, [out("a", "c1")]);
    }

    #[test]
    fn after_rate_limited_only_retries_send_so_the_order_holds() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        delivery.queue(pending("a", "c1"));
        delivery.queue(pending("b", "c2"));
        let step = delivery.received(&refused(7, ErrorCode::RateLimited, Some("c2")));
        assert!(step.retry_later);
        assert_eq!(
            cids(&delivery),
            ["c1", "c2"],
            "a refused message stays pending"
        );
        assert!(
            delivery.queue(pending("c", "c3")).is_empty(),
            "held behind the refused ones"
        );
        delivery.received(&echo(8, ME, "a", "c1"));
        assert_eq!(delivery.retry(), [out("b", "c2"), out("c", "c3")]);
        delivery.received(&echo(9, ME, "b", "c2"));
        delivery.received(&echo(10, ME, "c", "c3"));
        assert_eq!(
            delivery.queue(pending("d", "c4")),
            [out("d", "c4")],
            "a drained queue sends at once again"
        );
    }

    #[test]
    fn the_rate_limit_is_read_from_the_code_not_the_words() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        delivery.queue(pending("a", "c1"));
        let mut worded = slow_down(6);
        if let ServerBody::Error(refusal) = &mut worded.body {
            refusal.code = ErrorCode::BadRequest;
            refusal.message = "slow down: you are sending messages too fast".into();
        }
        assert!(!delivery.received(&worded).retry_later);
        assert!(delivery.received(&slow_down(7)).retry_later);
    }

    #[test]
    fn a_message_refused_for_good_leaves_the_outbox() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        delivery.queue(pending("a", "c1"));
        delivery.queue(pending("b", "c2"));
        let step = delivery.received(&refused(6, ErrorCode::NoSuchRoom, Some("c1")));
        assert!(step.changed && !step.retry_later);
        assert_eq!(cids(&delivery), ["c2"]);
        let step = delivery.received(&refused(7, ErrorCode::TooLong, Some("other")));
        assert!(!step.changed, "a cid it does not hold changes nothing");
    }

    #[test]
    fn rate_limited_with_nothing_pending_asks_for_no_retry() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&history(5, vec![]));
        assert!(!delivery.received(&slow_down(6)).retry_later);
    }

    #[test]
    fn resuming_starts_after_the_largest_broadcast_seen_once_synced() {
        let mut delivery = Delivery::new(ME, Vec::new());
        delivery.received(&frame(3, 2, ServerBody::Join("Bob joined.".into())));
        assert_eq!(delivery.since(), None, "no history yet: start afresh");
        delivery.received(&frame(4, ME, ServerBody::List(vec![])));
        delivery.received(&history(5, vec![echo(2, 2, "x", "k")]));
        assert_eq!(delivery.since(), Some(3));
        delivery.received(&echo(8, 2, "y", "k2"));
        delivery.received(&slow_down(9));
        assert_eq!(delivery.since(), Some(8), "errors are not broadcasts");
        let joined = frame(
            12,
            2,
            ServerBody::RoomJoin {
                text: "someone joined #design.".into(),
                by: None,
            },
        );
        delivery.received(&joined);
        assert_eq!(
            delivery.since(),
            Some(12),
            "membership lines are stored too"
        );
    }
}
