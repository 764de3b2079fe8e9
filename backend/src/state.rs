//! The state every request and socket shares, as one cheap clonable handle.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::hub::{Hub, HubSettings};
use crate::limits::LoginLimiter;
use crate::session::Sessions;
use crate::store::Store;
use crate::{Config, Error};

/// Frames a socket may have queued before it counts as not reading (closed with 1008).
pub const SOCKET_QUEUE_FRAMES: usize = 256;

/// Everything handlers need. Cloning copies a few `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub sessions: Sessions,
    pub accounts: Accounts,
    pub store: Store,
    pub config: Arc<Config>,
}

impl AppState {
    /// Opens the data directory (creating and migrating the database) and starts the hub.
    pub fn open(config: Config) -> Result<Self, Error> {
        let (store, key) = if config.in_memory {
            let key = crate::secret::configured_or_random(config.secret.as_deref());
            (Store::open_in_memory()?, key)
        } else {
            let store = Store::open(&config.data_dir)?;
            let key = crate::secret::load_or_create(&config.data_dir, config.secret.as_deref())?;
            (store, key)
        };
        let idle = Duration::from_secs(config.session_idle_days * 24 * 60 * 60);
        let hub = Hub::start(
            store.writer()?,
            HubSettings {
                queue_capacity: SOCKET_QUEUE_FRAMES,
                rate_burst: config.rate_burst,
                rate_per_sec: config.rate_per_sec,
            },
        )?;
        let limiter = LoginLimiter::new(config.login_fails_per_name, config.login_fails_per_addr);
        Ok(AppState {
            hub,
            sessions: Sessions::new(store.clone(), &key, idle)
                .secure(crate::origin::serves_https(&config)),
            accounts: Accounts::new(store.clone(), limiter, !config.no_guests),
            store,
            config: Arc::new(config),
        })
    }
}
