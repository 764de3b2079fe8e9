//! `/ws/chat`: one signed-in socket, in every room its user is in (or only `general`,
//! for a client that did not ask for rooms).
//!
//! One task per socket does everything: reads the client's frames, writes the frames the
//! hub queued for it, pings, and closes when told to (sign-out, overflow, shutdown).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use shared::{
    ClientMessage, ErrorCode, Refusal, RoomId, CLOSE_GOING_AWAY, CLOSE_NORMAL, MAX_CID_CHARS,
};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::Message;

use super::close::{close, close_after, close_too_big};
use super::heartbeat::{Beat, Heartbeat, ReadProof};
use super::{ChatQuery, Socket};
use crate::hub::{ConnId, Frame, Hub, Outbox, CLOSE_SLOW_CONSUMER};
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// Reason sent when a socket took no byte for the write deadline while data waited.
const WRITE_DEADLINE_REASON: &str = "not reading: nothing taken within the write deadline";
/// Reason sent when the server stops.
const SHUTDOWN_REASON: &str = "server shutting down";

/// Frames written before one flush, so a backlog goes out in few system calls.
const MAX_BATCH: usize = 64;

/// How a socket's life ends.
enum Ending {
    /// The peer went away or the connection broke.
    Gone,
    /// We close it with this code and reason.
    Close(u16, &'static str),
    /// The peer sent a frame over the limit.
    TooBig,
}

/// Serves one chat socket; without a valid session it is closed with 4001 at once.
pub async fn serve(
    mut socket: Socket,
    session: Option<Session>,
    query: ChatQuery,
    state: AppState,
    shutdown: Shutdown,
) {
    let Some(session) = session else {
        return close(
            &mut socket,
            shared::CLOSE_INVALID_USER,
            shared::CLOSE_INVALID_USER_REASON,
        )
        .await;
    };
    let member = state
        .hub
        .join(session.user.clone(), session.id, query.since, query.rooms)
        .await;
    let mut handler = ChatSocket {
        socket,
        hub: state.hub.clone(),
        conn: member.id,
        outbox: member.outbox,
        // Made once, on the heap: every socket waits on the same shutdown signal, and
        // registering anew on each turn of the loop would take that signal's lock for
        // every frame sent.
        stopping: Box::pin(async move { shutdown.cancelled().await }),
        deadline: Duration::from_secs(state.config.write_deadline_secs),
        pushed_meanwhile: false,
        unsent: Vec::new(),
    };
    drop(state);
    let ending = handler.run().await;
    handler.hub.leave(handler.conn).await;
    let ChatSocket {
        mut socket, unsent, ..
    } = handler;
    match ending {
        Ending::Gone => {}
        Ending::Close(code, reason) => close_after(&mut socket, &unsent, code, reason).await,
        Ending::TooBig => close_too_big(&mut socket).await,
    }
}

/// One chat socket's connection and its side of the hub, as mini-redis's `Handler`.
struct ChatSocket {
    socket: Socket,
    hub: Hub,
    conn: ConnId,
    outbox: Arc<Outbox>,
    /// Resolves once the server stops.
    stopping: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Longest a write may go without taking a byte while data waits.
    deadline: Duration,
    /// Set when the hub queued frames while a write was waiting: that wake-up was used up,
    /// so it is given back before the next wait.
    pushed_meanwhile: bool,
    /// Bytes of a half-written batch when a close interrupts it: they go out before the
    /// close frame, or the peer would read the close code as part of a frame.
    unsent: Vec<u8>,
}

impl ChatSocket {
    async fn run(&mut self) -> Ending {
        let mut heartbeat = Heartbeat::new();
        let mut proof = ReadProof::new();
        loop {
            if let Some((code, reason)) = self.outbox.closing() {
                return Ending::Close(code, reason);
            }
            // A fresh vector each time: one kept per socket would hold memory while idle.
            let mut batch = Vec::new();
            self.outbox.take(&mut batch, MAX_BATCH);
            if !batch.is_empty() {
                if let Err(ending) = self.write_batch(&mut batch, &mut proof).await {
                    return ending;
                }
            }
            let mut ping = false;
            // Not biased: a client that never stops sending cannot starve its own queue,
            // and a busy queue cannot starve the reading.
            tokio::select! {
                _ = self.stopping.as_mut() => return Ending::Close(CLOSE_GOING_AWAY, SHUTDOWN_REASON),
                _ = self.outbox.changed() => {}
                next = self.socket.next() => {
                    heartbeat.seen();
                    match next {
                        None => return Ending::Gone,
                        Some(Err(WsError::Capacity(_))) => return Ending::TooBig,
                        Some(Err(_)) => return Ending::Gone,
                        Some(Ok(Message::Text(text))) => self.handle_text(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => {
                            let reason = "binary frames are not supported; send JSON text";
                            let refusal = Refusal::new(ErrorCode::BadRequest, reason);
                            crate::metrics::message_refused(&refusal.code);
                            self.hub.reject(self.conn, refusal).await
                        }
                        Some(Ok(Message::Pong(payload))) => proof.pong(&payload),
                        // Pings are answered by the protocol layer; a close is answered by
                        // the protocol layer and ends the stream.
                        Some(Ok(_)) => {}
                    }
                }
                _ = proof.expired() => {
                    return Ending::Close(CLOSE_SLOW_CONSUMER, WRITE_DEADLINE_REASON);
                }
                beat = heartbeat.tick() => match beat {
                    Beat::Ping => ping = true,
                    Beat::Dead => return Ending::Close(CLOSE_NORMAL, "ping timeout"),
                },
            }
            if ping {
                // Watched like any write: a peer that does not read must not hold it forever.
                match self
                    .guarded(|s| s.send(Message::Ping(Default::default())))
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ending::Gone,
                    Err(ending) => return ending,
                }
                self.give_back_wake_up();
            }
        }
    }

    /// Writes `batch` (emptying it) in one go, then the read-proof ping when one is due.
    async fn write_batch(
        &mut self,
        batch: &mut Vec<Frame>,
        proof: &mut ReadProof,
    ) -> Result<(), Ending> {
        // The protocol library's own pending output (a pong, say) goes first, so frames
        // never interleave.
        match self.guarded(|s| s.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Ending::Gone),
            Err(ending) => return Err(ending),
        }
        let bytes = encode(batch);
        let mut pos = 0;
        while pos < bytes.len() {
            match self.guarded(|s| s.get_mut().write(&bytes[pos..])).await {
                Ok(Ok(n)) if n > 0 => pos += n,
                Ok(_) => return Err(Ending::Gone),
                Err(ending) => {
                    self.unsent.extend_from_slice(&bytes[pos..]);
                    return Err(ending);
                }
            }
        }
        // The probe follows the data at once: its pong proves the data was read.
        if let Some(probe) = proof.written(bytes.len(), self.deadline) {
            let ping = Message::Ping(probe.to_vec().into());
            match self.guarded(|s| s.send(ping)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Ending::Gone),
                Err(ending) => return Err(ending),
            }
        }
        self.give_back_wake_up();
        Ok(())
    }

    /// Runs a write step on the socket to its end, unless the server stops, the socket is
    /// asked to close, or the write deadline passes first: a peer that stops reading must
    /// not hold up any of those. Then the step is dropped (it must be cancel-safe) and the
    /// ending returned.
    async fn guarded<'s, T, F>(
        &'s mut self,
        step: impl FnOnce(&'s mut Socket) -> F,
    ) -> Result<T, Ending>
    where
        F: Future<Output = T>,
    {
        let ChatSocket {
            socket,
            outbox,
            stopping,
            deadline,
            pushed_meanwhile,
            ..
        } = self;
        let step = step(socket);
        tokio::pin!(step);
        // On the heap, and only while a write waits: every socket's task would otherwise
        // carry the timer for its whole life.
        let mut expired = Box::pin(tokio::time::sleep(*deadline));
        loop {
            tokio::select! {
                biased;
                _ = stopping.as_mut() => return Err(Ending::Close(CLOSE_GOING_AWAY, SHUTDOWN_REASON)),
                done = &mut step => return Ok(done),
                _ = outbox.changed() => {
                    if let Some((code, reason)) = outbox.closing() {
                        return Err(Ending::Close(code, reason));
                    }
                    *pushed_meanwhile = true;
                }
                _ = &mut expired => {
                    return Err(Ending::Close(CLOSE_SLOW_CONSUMER, WRITE_DEADLINE_REASON));
                }
            }
        }
    }

    /// A wake-up used up while a write waited is kept for the wait that follows.
    fn give_back_wake_up(&mut self) {
        if std::mem::take(&mut self.pushed_meanwhile) {
            self.outbox.wake();
        }
    }

    /// Reads one client message and acts on it. Nothing a client sends can panic here.
    async fn handle_text(&mut self, text: &str) {
        let conn = self.conn;
        match check(text) {
            Ok(Incoming::Nothing) => {}
            Ok(Incoming::Chat { room, text, cid }) => self.hub.chat(conn, room, text, cid).await,
            Ok(Incoming::Read { room, id }) => self.hub.read(conn, room, id).await,
            Ok(Incoming::Typing { room }) => self.hub.typing(conn, room).await,
            Err(refusal) => {
                crate::metrics::message_refused(&refusal.code);
                self.hub.reject(conn, refusal).await
            }
        }
    }
}

/// A client frame that passed the protocol's rules, ready for the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A chat line, trimmed, for `room` (`None`: `general`).
    Chat {
        room: Option<RoomId>,
        text: String,
        cid: Option<String>,
    },
    /// The user has read `room` up to `id`.
    Read { room: RoomId, id: u64 },
    /// The user is typing in `room`.
    Typing { room: RoomId },
    /// Nothing to do (a chat line with nothing left after trimming).
    Nothing,
}

/// Decodes and validates a client frame: what to do with it, or the refusal to send
/// back (with the frame's `cid`, when it had a usable one). The rules themselves are the
/// protocol's ([`shared::check_chat`]).
pub fn check(frame: &str) -> Result<Incoming, Refusal> {
    let message: ClientMessage = serde_json::from_str(frame).map_err(|err| {
        Refusal::new(ErrorCode::BadRequest, format!("malformed message: {err}"))
            .for_cid(cid_of(frame))
    })?;
    match message {
        ClientMessage::Chat { room, text, cid } => {
            match shared::check_chat(&text, cid.as_deref()) {
                Ok(Some(text)) => Ok(Incoming::Chat {
                    room,
                    text: text.to_owned(),
                    cid,
                }),
                Ok(None) => Ok(Incoming::Nothing),
                Err(err) => {
                    // A `cid` that broke the rules is not echoed back.
                    let cid = cid.filter(|c| shared::check_chat("", Some(c)).is_ok());
                    Err(Refusal::new(ErrorCode::from(err), err.to_string()).for_cid(cid))
                }
            }
        }
        ClientMessage::Read { room, id } => Ok(Incoming::Read { room, id }),
        ClientMessage::Typing { room } => Ok(Incoming::Typing { room }),
    }
}

/// The `cid` of a frame that is JSON but not a valid message, if it is a usable one.
fn cid_of(frame: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(frame).ok()?;
    let cid = value.get("cid")?.as_str()?;
    let usable = cid.chars().count() <= MAX_CID_CHARS && !cid.is_empty();
    (usable && !cid.chars().any(char::is_control)).then(|| cid.to_owned())
}

/// Encodes every frame of `batch` (emptying it) for one write.
///
/// Encoded here, not by the protocol library, whose write buffer keeps the capacity of the
/// largest write for the socket's life (see [`super::frame`]).
fn encode(batch: &mut Vec<Frame>) -> Vec<u8> {
    let size = batch
        .iter()
        .map(|f| super::frame::encoded_len(f.len()))
        .sum();
    let mut bytes = Vec::with_capacity(size);
    for frame in batch.drain(..) {
        super::frame::encode_text(&mut bytes, frame.as_bytes());
    }
    bytes
}
