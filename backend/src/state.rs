//! The state every request and socket shares, as one cheap clonable handle.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::hub::{Hub, HubSettings, SharedSettings};
use crate::limits::SlidingLimit;
use crate::session::Sessions;
use crate::store::Store;
use crate::{Config, Error};

/// Everything handlers need. Cloning copies a few `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub sessions: Sessions,
    pub accounts: Accounts,
    pub store: Store,
    pub config: Arc<Config>,
    /// Rooms created per user, [`crate::limits::ROOMS_PER_HOUR`] an hour.
    pub room_creations: SlidingLimit<u64>,
    /// `POST /api/dm` per user, [`crate::limits::DMS_PER_HOUR`] an hour.
    pub dm_requests: SlidingLimit<u64>,
}

impl AppState {
    /// Opens the database (creating and migrating it) and starts the hub. Blocks: call it
    /// where blocking is allowed.
    pub fn open(config: Config) -> Result<Self, Error> {
        let store = Store::open_configured(
            config.database_url.as_deref(),
            &config.data_dir,
            config.in_memory,
        )?;
        let key = crate::secret::resolve(&config, &store)?;
        let idle = Duration::from_secs(config.session_idle_days * 24 * 60 * 60);
        let hub = Hub::start(
            store.writer()?,
            HubSettings {
                queue_bytes: usize::try_from(config.socket_queue_bytes).unwrap_or(usize::MAX),
                max_sockets_per_session: usize::try_from(config.max_sockets_per_session)
                    .unwrap_or(usize::MAX),
                rate_burst: config.rate_burst,
                rate_per_sec: config.rate_per_sec,
                presence_grace: Duration::from_secs(config.presence_grace_secs),
                shared: store.postgres().map(|pool| SharedSettings {
                    config: pool.config().clone(),
                    poll: Duration::from_millis(config.poll_ms),
                }),
            },
        )?;
        let sessions =
            Sessions::new(store.clone(), &key, idle).secure(crate::origin::serves_https(&config));
        let accounts = Accounts::new(store.clone(), sessions.clone(), &config)?;
        accounts.spawn_purge();
        Ok(AppState {
            hub,
            sessions,
            accounts,
            store,
            config: Arc::new(config),
            room_creations: crate::limits::room_creations(),
            dm_requests: crate::limits::dm_requests(),
        })
    }
}
