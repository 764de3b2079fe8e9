//! Closing a socket from the server side without losing the close frame.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::Socket;

/// How long a closing socket may take to take the close frame and answer before it is
/// dropped. A reader that has fallen behind gets this long to catch up and see the code.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Sends a close frame with `code` and waits briefly for the peer's answer, so the
/// peer reads the code instead of a reset connection.
///
/// Boxed, like [`close_too_big`]: a socket's task holds the state of every future it may
/// await, and these timers would otherwise cost every open socket memory until its end.
pub async fn close(socket: &mut Socket, code: u16, reason: &str) {
    Box::pin(send_close(socket, &[], code, reason)).await
}

/// Like [`close`], after first writing `unsent`: the rest of a frame (or frames) that a
/// close request interrupted, so the close frame does not land in the middle of one.
pub async fn close_after(socket: &mut Socket, unsent: &[u8], code: u16, reason: &str) {
    Box::pin(send_close(socket, unsent, code, reason)).await
}

async fn send_close(socket: &mut Socket, unsent: &[u8], code: u16, reason: &str) {
    crate::metrics::socket_closed(code);
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let deadline = Instant::now() + CLOSE_WAIT;
    if !unsent.is_empty() {
        let io = socket.get_mut();
        match tokio::time::timeout_at(deadline, io.write_all(unsent)).await {
            Ok(Ok(())) => {}
            // The peer is gone or still not reading: there is no clean way to close.
            _ => return,
        }
    }
    if tokio::time::timeout_at(deadline, socket.send(Message::Close(Some(frame))))
        .await
        .is_err()
    {
        return;
    }
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, socket.next()).await {}
}

/// Closes with 1009 after an oversized frame. The rest of that frame is still unread,
/// so it is drained from the raw connection first: closing a socket with unread data
/// makes the kernel reset it, and the peer would never see the code.
pub async fn close_too_big(socket: &mut Socket) {
    Box::pin(send_close_too_big(socket)).await
}

async fn send_close_too_big(socket: &mut Socket) {
    crate::metrics::socket_closed(shared::CLOSE_TOO_BIG);
    let frame = CloseFrame {
        code: CloseCode::Size,
        reason: "message too big".into(),
    };
    if timeout(CLOSE_WAIT, socket.send(Message::Close(Some(frame))))
        .await
        .is_err()
    {
        return;
    }
    let deadline = Instant::now() + CLOSE_WAIT;
    // On the heap: an array here would sit in every socket's task for its whole life.
    let mut scratch = vec![0u8; 4096];
    let raw = socket.get_mut();
    // Stop at end of stream, on an error, after a quiet spell, or at the deadline.
    while Instant::now() < deadline {
        match timeout(Duration::from_millis(200), raw.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => break,
        }
    }
}
