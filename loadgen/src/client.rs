//! A receiving socket: reads every frame until the run ends, checks each probe against
//! what this socket has already seen, and records its latency.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::run::Run;
use crate::stats::{Counters, Seen, SeenSet};
use crate::wire::{Decoded, Envelope, Probe};

/// Time given to answer a server's close frame before the socket is dropped.
const CLOSE_REPLY: Duration = Duration::from_secs(1);

/// Reads `stream` until the run stops or the socket ends. The caller has already
/// counted it in `readers`; this counts it out when it ends.
pub async fn read<S>(mut stream: S, run: Arc<Run>)
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut seen = run.seen_set();
    // Made once: a fresh one per frame would register with the shared token every time.
    let stopped = run.stop.cancelled();
    tokio::pin!(stopped);
    let ending = loop {
        let next = tokio::select! {
            biased;
            _ = &mut stopped => break None,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => on_text(&run, &mut seen, text.as_str()),
            Some(Ok(Message::Close(frame))) => break Some(close_label(frame.as_ref())),
            Some(Ok(_)) => {}
            Some(Err(err)) => break Some(error_label(&err)),
            None => break Some("eof".to_owned()),
        }
    };
    let counters = &run.tally.counters;
    counters
        .readers
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(how) = ending {
        Counters::add(&counters.closed, 1);
        run.tally.closed(how);
        // Reading on lets the protocol layer answer the server's close frame.
        let _ = tokio::time::timeout(CLOSE_REPLY, async {
            while stream.next().await.is_some() {}
        })
        .await;
    }
}

/// Counts one text frame; only probes of this run are checked further.
fn on_text(run: &Run, seen: &mut SeenSet, text: &str) {
    let counters = &run.tally.counters;
    Counters::add(&counters.frames, 1);
    let Ok(envelope) = Envelope::parse(text) else {
        Counters::add(&counters.malformed, 1);
        return;
    };
    match envelope.kind.as_ref() {
        "chat" => match envelope.text().map(|t| Probe::decode(t, &run.prefix)) {
            Some(Decoded::Probe(probe)) => on_probe(run, seen, probe, envelope.ts),
            Some(Decoded::Foreign) => {}
            Some(Decoded::Mangled) | None => Counters::add(&counters.malformed, 1),
        },
        "error" => run.tally.server_error(envelope.text()),
        "left" => run.left.on_left(envelope.text()),
        // join, list, history and anything a server adds: not counted.
        _ => {}
    }
}

fn on_probe(run: &Run, seen: &mut SeenSet, probe: Probe, stamp_ms: Option<u64>) {
    match seen.insert(probe.sender, probe.seq) {
        Seen::First => {
            let now = run.clock.now_micros();
            let latency = now.saturating_sub(probe.due_us);
            let after_stamp = stamp_ms.map(|ms| now.saturating_sub(ms.saturating_mul(1000)));
            run.tally
                .delivered(probe.step as usize, latency, after_stamp);
        }
        Seen::Again => run.tally.duplicate(probe.step as usize),
        Seen::Unknown => Counters::add(&run.tally.counters.malformed, 1),
    }
}

/// `"1008"` for a close frame with a code.
pub fn close_label(frame: Option<&CloseFrame>) -> String {
    frame.map_or_else(
        || "close without code".to_owned(),
        |f| u16::from(f.code).to_string(),
    )
}

/// A short name for how a socket broke without a close frame.
pub fn error_label(err: &WsError) -> String {
    match err {
        WsError::ConnectionClosed | WsError::AlreadyClosed => "eof".to_owned(),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "reset without close".to_owned()
        }
        WsError::Io(err) => format!("io {:?}", err.kind()),
        WsError::Capacity(_) => "frame too big".to_owned(),
        WsError::Protocol(_) => "protocol error".to_owned(),
        _ => "error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Probe;

    fn chat(text: &str) -> String {
        format!(
            r#"{{"id":9,"type":"chat","user":{{"id":1,"name":"lg","image":1}},"data":"{text}","ts":1}}"#
        )
    }

    #[test]
    fn a_probe_counts_once_then_as_a_duplicate() {
        let run = Run::new("t1", 1, 1, 10);
        let mut seen = run.seen_set();
        let probe = Probe {
            step: 0,
            sender: 0,
            seq: 3,
            due_us: run.clock.now_micros(),
        };
        let frame = chat(&probe.encode(&run.prefix, 0));
        on_text(&run, &mut seen, &frame);
        on_text(&run, &mut seen, &frame);
        assert_eq!(Counters::get(&run.tally.steps[0].delivered), 1);
        assert_eq!(Counters::get(&run.tally.steps[0].duplicates), 1);
        assert_eq!(Counters::get(&run.tally.counters.frames), 2);
    }

    #[test]
    fn errors_are_counted_and_other_traffic_ignored() {
        let run = Run::new("t2", 1, 1, 10);
        let mut seen = run.seen_set();
        on_text(&run, &mut seen, r#"{"type":"error","data":"slow down"}"#);
        on_text(&run, &mut seen, &chat("hello from a person"));
        on_text(&run, &mut seen, r#"{"type":"join","data":"x joined."}"#);
        on_text(&run, &mut seen, "garbage");
        on_text(&run, &mut seen, &chat("lg|t2|0|5|0|0"));
        let c = &run.tally.counters;
        assert_eq!(Counters::get(&c.server_errors), 1);
        assert_eq!(run.tally.error_samples(), vec!["slow down".to_owned()]);
        assert_eq!(
            Counters::get(&c.malformed),
            2,
            "garbage and an unknown sender"
        );
        assert_eq!(Counters::get(&c.delivered), 0);
    }
}
