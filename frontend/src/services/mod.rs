//! All input and output of the client: HTTP calls to `/api`, the chat WebSocket and the
//! browser storage that keeps unsent messages across a reload. Components never talk to the
//! network themselves; hooks call into here.

pub mod api;
pub mod chat;
pub mod delivery;
pub mod notify;
pub mod outbox;
