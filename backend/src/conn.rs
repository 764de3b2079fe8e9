//! What one connection may cost: a slot under the total and per-address caps, the
//! file-descriptor budget those caps come from, and quiet logging when a cap is hit.
//!
//! A slot is taken right after `accept`, before any TLS or HTTP work, and is released when
//! the last holder drops it: the connection task, or the WebSocket task an upgraded
//! connection was handed to.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::{addr_key, Cidr};

/// Descriptors kept free for the database, logs and the accept loop itself: the larger
/// of this and [`FD_RESERVE_PERCENT`] of the limit.
pub const FD_RESERVE_MIN: u64 = 64;
/// Share of the descriptor limit kept in reserve.
pub const FD_RESERVE_PERCENT: u64 = 5;
/// At most one warning per this long for refused connections and failed accepts.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

// `rlim_t` is u64 on Linux but not everywhere, hence the casts.
#[allow(clippy::unnecessary_cast)]
/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in
/// force. Without this, a few hundred idle sockets exhaust the usual default of 1024.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = limit.rlim_max;
        }
        Ok(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        Ok(fd_limit())
    }
}

#[allow(clippy::unnecessary_cast)]
/// The soft descriptor limit in force (1024 when it cannot be read).
pub fn fd_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return limit.rlim_cur as u64;
        }
    }
    1024
}

/// Connections the descriptor limit allows once the reserve is set aside.
pub fn default_max_conns(fd_limit: u64) -> usize {
    let reserve = FD_RESERVE_MIN.max(fd_limit / 100 * FD_RESERVE_PERCENT);
    fd_limit.saturating_sub(reserve).max(1) as usize
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerAddr,
}

/// Counts open connections, in total and per address (IPv6 per /64). Cheap to clone.
#[derive(Clone)]
pub struct ConnLimits {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_addr: usize,
    /// Trusted proxies: every client behind one shares its address, so only the total
    /// cap applies to them (the proxy limits its clients itself).
    proxies: Vec<Cidr>,
    // Never held across an await: every use is a few map operations.
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_addr: HashMap<IpAddr, usize>,
}

impl ConnLimits {
    /// Caps of `max_total` connections, and `max_per_addr` per address except `proxies`.
    pub fn new(max_total: usize, max_per_addr: usize, proxies: &[Cidr]) -> Self {
        ConnLimits {
            inner: Arc::new(Inner {
                max_total: max_total.max(1),
                max_per_addr: max_per_addr.max(1),
                proxies: proxies.to_vec(),
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// A slot for a connection from `peer`, or why there is none.
    pub fn try_acquire(&self, peer: IpAddr) -> Result<ConnSlot, Refused> {
        let key = addr_key(peer);
        let mut counts = self.lock();
        if counts.total >= self.inner.max_total {
            crate::metrics::connection_refused("total");
            return Err(Refused::Total);
        }
        let exempt = self.inner.proxies.iter().any(|c| c.contains(peer));
        let per_addr = counts.per_addr.entry(key).or_insert(0);
        if *per_addr >= self.inner.max_per_addr && !exempt {
            crate::metrics::connection_refused("per_addr");
            return Err(Refused::PerAddr);
        }
        *per_addr += 1;
        counts.total += 1;
        Ok(ConnSlot {
            _held: Arc::new(Slot {
                limits: self.clone(),
                key,
                _counted: crate::metrics::connection_opened(),
            }),
        })
    }

    /// Open connections now, in total.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// The total cap.
    pub fn max_total(&self) -> usize {
        self.inner.max_total
    }

    fn release(&self, key: IpAddr) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_addr.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                counts.per_addr.remove(&key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's place under the caps; released when the last clone is dropped. The
/// accept loop puts a clone on every request so that a WebSocket task can keep it.
#[derive(Clone)]
pub struct ConnSlot {
    _held: Arc<Slot>,
}

struct Slot {
    limits: ConnLimits,
    key: IpAddr,
    /// Keeps the connection in the `chat_connections` gauge.
    _counted: crate::metrics::Open,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// A warning that is logged at most once per [`LOG_EVERY`], saying how many occurrences
/// were folded into it, so that a flood cannot fill the log.
pub struct QuietLog {
    last: Option<Instant>,
    folded: u64,
}

impl QuietLog {
    pub fn new() -> Self {
        QuietLog {
            last: None,
            folded: 0,
        }
    }

    /// Counts one occurrence; returns how many to report when a line is due now.
    pub fn hit(&mut self) -> Option<u64> {
        self.folded += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.folded))
    }
}

impl Default for QuietLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_cap_leaves_other_addresses_alone() {
        let limits = ConnLimits::new(10, 2, &[]);
        let a = [
            limits.try_acquire(ip("10.0.0.1")).unwrap(),
            limits.try_acquire(ip("10.0.0.1")).unwrap(),
        ];
        assert_eq!(
            limits.try_acquire(ip("10.0.0.1")).err(),
            Some(Refused::PerAddr)
        );
        assert!(limits.try_acquire(ip("10.0.0.2")).is_ok());
        drop(a);
        assert_eq!(limits.open(), 0);
        assert!(limits.try_acquire(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn ipv6_neighbours_in_one_slash_64_share_a_cap() {
        let limits = ConnLimits::new(10, 1, &[]);
        let _held = limits.try_acquire(ip("2001:db8::1")).unwrap();
        assert!(limits.try_acquire(ip("2001:db8::2")).is_err());
        assert!(limits.try_acquire(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn total_cap_refuses_and_a_slot_is_released_by_its_last_clone() {
        let limits = ConnLimits::new(1, 5, &[]);
        let slot = limits.try_acquire(ip("10.0.0.1")).unwrap();
        let kept_by_socket = slot.clone();
        assert_eq!(
            limits.try_acquire(ip("10.0.0.2")).err(),
            Some(Refused::Total)
        );
        drop(slot);
        assert_eq!(limits.open(), 1);
        drop(kept_by_socket);
        assert_eq!(limits.open(), 0);
    }

    #[test]
    fn a_trusted_proxy_is_held_only_to_the_total_cap() {
        let proxy: Cidr = "10.0.0.1".parse().unwrap();
        let limits = ConnLimits::new(3, 1, &[proxy]);
        let _held: Vec<_> = (0..3)
            .map(|_| limits.try_acquire(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(
            limits.try_acquire(ip("10.0.0.1")).err(),
            Some(Refused::Total)
        );
    }

    #[test]
    fn default_cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(default_max_conns(1024), 1024 - 64);
        assert_eq!(default_max_conns(1_048_576), 1_048_576 - 52_425);
        assert_eq!(default_max_conns(10), 1);
    }

    #[test]
    fn quiet_log_folds_a_flood_into_one_line() {
        let mut log = QuietLog::new();
        assert_eq!(log.hit(), Some(1));
        let lines = (0..1000).filter_map(|_| log.hit()).count();
        assert_eq!(lines, 0);
    }
}
