//! The state every request and socket shares, as one cheap clonable handle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shared::User;

use crate::hub::Hub;
use crate::session::Sessions;
use crate::Config;

/// Frames a socket may have queued before it counts as not reading (closed with 1008).
pub const SOCKET_QUEUE_FRAMES: usize = 256;

/// Everything handlers need. Cloning copies a few `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub sessions: Sessions,
    pub users: Users,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        AppState {
            hub: Hub::new(SOCKET_QUEUE_FRAMES),
            sessions: Sessions::new(config.secret.as_deref()),
            users: Users::default(),
            config: Arc::new(config),
        }
    }
}

/// Hands out user ids: every sign-in is a new user with the next id.
#[derive(Clone, Default)]
pub struct Users {
    last_id: Arc<AtomicU64>,
}

impl Users {
    /// A new user with the next id; `name` is already validated.
    pub fn create(&self, name: String) -> User {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        User::new(id, name)
    }
}
