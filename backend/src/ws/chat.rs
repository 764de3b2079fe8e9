//! `/ws/chat`: one signed-in socket in the room.
//!
//! One task per socket does everything: reads the client's frames, writes the frames the
//! hub queued for it, pings, and closes when told to (sign-out, overflow, shutdown).

use futures_util::{SinkExt, StreamExt};
use shared::ClientMessage;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::Message;

use super::close::{close, close_after, close_too_big};
use super::heartbeat::{Beat, Heartbeat, ReadProof};
use super::Socket;
use crate::hub::{ConnId, Frame, Outbox, CLOSE_SLOW_CONSUMER};

/// Reason sent when a socket took no byte for the write deadline while data waited.
const WRITE_DEADLINE_REASON: &str = "not reading: nothing taken within the write deadline";
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::state::AppState;

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
    since: Option<u64>,
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
        .join(session.user.clone(), session.id, since, false)
        .await;
    // Bytes of a half-written batch when a close interrupts it: they go out before the
    // close frame, or the peer would read the close code as part of a frame.
    let mut unsent = Vec::new();
    let ending = run(
        &mut socket,
        &state,
        member.id,
        &member.outbox,
        &shutdown,
        &mut unsent,
    )
    .await;
    state.hub.leave(member.id).await;
    match ending {
        Ending::Gone => {}
        Ending::Close(code, reason) => close_after(&mut socket, &unsent, code, reason).await,
        Ending::TooBig => close_too_big(&mut socket).await,
    }
}

async fn run(
    socket: &mut Socket,
    state: &AppState,
    id: ConnId,
    outbox: &Outbox,
    shutdown: &Shutdown,
    unsent: &mut Vec<u8>,
) -> Ending {
    let mut heartbeat = Heartbeat::new();
    let mut proof = ReadProof::new();
    let deadline = std::time::Duration::from_secs(state.config.write_deadline_secs);
    // Made once: every socket waits on the same shutdown signal, and registering anew
    // on each turn of the loop would take that signal's lock for every frame sent.
    let stopping = shutdown.cancelled();
    tokio::pin!(stopping);
    loop {
        if let Some((code, reason)) = outbox.closing() {
            return Ending::Close(code, reason);
        }
        // A fresh vector each time: one kept per socket would hold memory while idle.
        let mut batch = Vec::new();
        outbox.take(&mut batch, MAX_BATCH);
        if !batch.is_empty() {
            let mut pushed_meanwhile = false;
            let mut watch = Watch {
                stopping: stopping.as_mut(),
                outbox,
                pushed_meanwhile: &mut pushed_meanwhile,
                deadline,
            };
            // The protocol library's own pending output (a pong, say) goes first, so
            // frames never interleave.
            match watch.or_closing(socket.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ending::Gone,
                Err(ending) => return ending,
            }
            let bytes = encode(&mut batch);
            let mut pos = 0;
            while pos < bytes.len() {
                match watch
                    .or_closing(socket.get_mut().write(&bytes[pos..]))
                    .await
                {
                    Ok(Ok(n)) if n > 0 => pos += n,
                    Ok(_) => return Ending::Gone,
                    Err(ending) => {
                        unsent.extend_from_slice(&bytes[pos..]);
                        return ending;
                    }
                }
            }
            // The probe follows the data at once: its pong proves the data was read.
            if let Some(probe) = proof.written(bytes.len(), deadline) {
                let ping = Message::Ping(probe.to_vec().into());
                match watch.or_closing(socket.send(ping)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ending::Gone,
                    Err(ending) => return ending,
                }
            }
            if pushed_meanwhile {
                // That wake-up was used up above; keep it for the wait below.
                outbox.wake();
            }
        }
        let mut ping = false;
        // Not biased: a client that never stops sending cannot starve its own queue,
        // and a busy queue cannot starve the reading.
        tokio::select! {
            _ = &mut stopping => return Ending::Close(1001, "server shutting down"),
            _ = outbox.changed() => {}
            next = socket.next() => {
                heartbeat.seen();
                match next {
                    None => return Ending::Gone,
                    Some(Err(WsError::Capacity(_))) => return Ending::TooBig,
                    Some(Err(_)) => return Ending::Gone,
                    Some(Ok(Message::Text(text))) => handle_text(state, id, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        state.hub.reject(id, "binary frames are not supported; send JSON text").await
                    }
                    Some(Ok(Message::Pong(payload))) => proof.pong(&payload),
                    // Pings are answered by the protocol layer; a close is answered by the
                    // protocol layer and ends the stream.
                    Some(Ok(_)) => {}
                }
            }
            _ = proof.expired() => {
                return Ending::Close(CLOSE_SLOW_CONSUMER, WRITE_DEADLINE_REASON);
            }
            beat = heartbeat.tick() => match beat {
                Beat::Ping => ping = true,
                Beat::Dead => return Ending::Close(1000, "ping timeout"),
            },
        }
        if ping {
            // Watched like any write: a peer that does not read must not hold it forever.
            let mut pushed_meanwhile = false;
            let mut watch = Watch {
                stopping: stopping.as_mut(),
                outbox,
                pushed_meanwhile: &mut pushed_meanwhile,
                deadline,
            };
            match watch
                .or_closing(socket.send(Message::Ping(Default::default())))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ending::Gone,
                Err(ending) => return ending,
            }
            if pushed_meanwhile {
                outbox.wake();
            }
        }
    }
}

/// Reads one client message and acts on it. Nothing a client sends can panic here.
async fn handle_text(state: &AppState, id: ConnId, text: &str) {
    match check(text) {
        Ok(None) => {}
        Ok(Some((text, cid))) => state.hub.chat(id, text, cid).await,
        Err(reason) => state.hub.reject(id, reason).await,
    }
}

/// Decodes and validates a client frame: `Ok(None)` for a message to drop silently,
/// `Ok(Some((text, cid)))` for a chat line to broadcast, `Err` with the reason to tell.
/// The rules themselves are the protocol's ([`shared::check_chat`]).
pub fn check(frame: &str) -> Result<Option<(String, Option<String>)>, String> {
    let message: ClientMessage =
        serde_json::from_str(frame).map_err(|err| format!("malformed message: {err}"))?;
    let ClientMessage::Chat { text, cid, .. } = message else {
        return Ok(None);
    };
    match shared::check_chat(&text, cid.as_deref()) {
        Ok(Some(text)) => Ok(Some((text.to_owned(), cid))),
        Ok(None) => Ok(None),
        Err(err) => Err(err.to_string()),
    }
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

/// What a socket's writes watch for: a peer that stops reading must not hold up a close
/// request or a shutdown, nor keep its data waiting past the write deadline.
struct Watch<'a, S> {
    stopping: std::pin::Pin<&'a mut S>,
    outbox: &'a Outbox,
    pushed_meanwhile: &'a mut bool,
    /// Longest a write may go without taking a byte.
    deadline: std::time::Duration,
}

impl<S: std::future::Future> Watch<'_, S> {
    /// Runs `step` to its end, unless the server stops, the socket is asked to close, or
    /// the write deadline passes first; then `step` is dropped (it must be cancel-safe)
    /// and the ending returned.
    async fn or_closing<T>(
        &mut self,
        step: impl std::future::Future<Output = T>,
    ) -> Result<T, Ending> {
        tokio::pin!(step);
        // On the heap, and only while a write waits: every socket's task would otherwise
        // carry the timer for its whole life.
        let mut expired = Box::pin(tokio::time::sleep(self.deadline));
        loop {
            tokio::select! {
                biased;
                _ = self.stopping.as_mut() => return Err(Ending::Close(1001, "server shutting down")),
                done = &mut step => return Ok(done),
                _ = self.outbox.changed() => {
                    if let Some((code, reason)) = self.outbox.closing() {
                        return Err(Ending::Close(code, reason));
                    }
                    *self.pushed_meanwhile = true;
                }
                _ = &mut expired => {
                    return Err(Ending::Close(CLOSE_SLOW_CONSUMER, WRITE_DEADLINE_REASON));
                }
            }
        }
    }
}
