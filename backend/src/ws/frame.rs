//! Writing outgoing text frames ourselves.
//!
//! The protocol library copies every outgoing frame into a buffer that never shrinks, so
//! one large frame (a `history` of 100 messages is ~10 KiB) would stay resident for the
//! socket's whole life. Server frames are unmasked and simple to write (RFC 6455 §5.2):
//! a batch is encoded into one short-lived buffer and written in one go.

/// Appends one final, unmasked text frame carrying `payload` to `out`.
pub fn encode_text(out: &mut Vec<u8>, payload: &[u8]) {
    const FIN_TEXT: u8 = 0x81;
    let len = payload.len();
    out.push(FIN_TEXT);
    if len < 126 {
        out.push(len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Bytes a frame carrying `payload_len` bytes takes.
pub fn encoded_len(payload_len: usize) -> usize {
    payload_len
        + match payload_len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    /// Our encoding must be byte for byte what the protocol library writes.
    #[test]
    fn frames_match_the_protocol_library_at_every_length_class() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload = vec![b'x'; len];
            let mut ours = Vec::new();
            encode_text(&mut ours, &payload);
            let mut theirs = Vec::new();
            Frame::message(
                payload.clone(),
                tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                    tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
                ),
                true,
            )
            .format(&mut theirs)
            .unwrap();
            assert_eq!(ours, theirs, "length {len}");
            assert_eq!(ours.len(), encoded_len(len));
            let mut cursor = std::io::Cursor::new(&ours);
            let (header, parsed_len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final);
            assert_eq!(parsed_len, len as u64);
        }
    }
}
