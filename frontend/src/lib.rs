//! The chat's browser client: a Yew single-page app with a sign-in page and one room.
//!
//! `app` holds the routes, `pages` one file per page, `components` the pieces they are made
//! of, `hooks` the session and chat contexts, `services` every byte that leaves the page
//! (the network, and the tab's storage for unsent messages), and `state` the room's pure
//! reducer.

pub mod app;
pub mod components;
pub mod error;
pub mod hooks;
pub mod messages;
pub mod pages;
pub mod services;
pub mod state;
pub mod timeline;

pub use app::App;
