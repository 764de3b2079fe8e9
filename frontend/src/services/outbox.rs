//! The outbox outside the page: fresh client ids for new messages, and a copy in the tab's
//! `sessionStorage` so a reload while offline loses nothing that was typed.

use web_sys::Storage;

use crate::state::Pending;

/// Random bytes in a client id; 16 give 32 hex characters, far beyond any chance of reuse.
const CID_BYTES: usize = 16;

/// A new client id for a chat message, from the browser's cryptographic random source.
pub fn new_cid() -> String {
    let mut bytes = [0_u8; CID_BYTES];
    let filled = web_sys::window()
        .and_then(|window| window.crypto().ok())
        .is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    hex(&bytes)
}

/// What was still unsent for user `me` when this tab last closed the room.
pub fn load(me: u64) -> Vec<Pending> {
    storage()
        .and_then(|storage| storage.get_item(&key(me)).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Keeps the outbox of user `me`; an empty one leaves nothing behind.
pub fn save(me: u64, outbox: &[Pending]) {
    let Some(storage) = storage() else { return };
    // Storage can be full or turned off; the outbox then only lives as long as the page.
    if outbox.is_empty() {
        let _ = storage.remove_item(&key(me));
    } else if let Ok(json) = serde_json::to_string(outbox) {
        let _ = storage.set_item(&key(me), &json);
    }
}

fn storage() -> Option<Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// One entry per user, so signing in as someone else in the same tab sends nothing of theirs.
fn key(me: u64) -> String {
    format!("chat.outbox.{me}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_writes_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[0, 9, 171, 255]), "0009abff");
        assert_eq!(hex(&[0; CID_BYTES]).len(), 32);
    }
}
