//! `/ws/echo`: answers every text message `T` with `ECHO: T`. Open to anyone.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::Message;

use super::close::{close, close_too_big};
use super::heartbeat::{Beat, Heartbeat};
use super::Socket;
use crate::shutdown::Shutdown;

/// Serves one echo socket until either side closes it.
pub async fn serve(mut socket: Socket, shutdown: Shutdown) {
    let mut heartbeat = Heartbeat::new();
    loop {
        let reply = tokio::select! {
            _ = shutdown.cancelled() => {
                return close(&mut socket, shared::CLOSE_GOING_AWAY, "server shutting down").await;
            }
            beat = heartbeat.tick() => match beat {
                Beat::Ping => Message::Ping(Default::default()),
                Beat::Dead => return close(&mut socket, shared::CLOSE_NORMAL, "ping timeout").await,
            },
            next = socket.next() => {
                heartbeat.seen();
                match next {
                    None => return,
                    Some(Err(WsError::Capacity(_))) => return close_too_big(&mut socket).await,
                    Some(Err(_)) => return,
                    Some(Ok(Message::Text(text))) => Message::text(format!("ECHO: {}", text.as_str())),
                    Some(Ok(_)) => continue,
                }
            }
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}
