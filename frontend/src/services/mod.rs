//! All input and output of the client: HTTP calls to `/api` and the chat WebSocket.
//! Components never talk to the network themselves; hooks call into here.

pub mod api;
pub mod chat;
