//! Who is online: users with an open socket, and users whose last socket closed less than
//! the grace period ago. A reload or a dropped connection that comes back within the grace
//! period shows up to nobody: no `left`, no `join`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shared::User;

/// Online users by id, so the `list` comes out ordered.
pub struct Presence {
    users: BTreeMap<u64, Entry>,
    grace: Duration,
}

struct Entry {
    user: User,
    sockets: usize,
    /// When the last socket closed, while the user is in the grace period.
    gone_since: Option<Instant>,
}

impl Presence {
    pub fn new(grace: Duration) -> Self {
        Presence {
            users: BTreeMap::new(),
            grace,
        }
    }

    /// Counts a new socket of `user`; true when the room must be told they joined.
    pub fn arrive(&mut self, user: &User) -> bool {
        match self.users.get_mut(&user.id) {
            Some(entry) => {
                entry.sockets += 1;
                entry.gone_since = None;
                false
            }
            None => {
                let entry = Entry {
                    user: user.clone(),
                    sockets: 1,
                    gone_since: None,
                };
                self.users.insert(user.id, entry);
                true
            }
        }
    }

    /// Counts a closed socket of user `id`; returns the user when the room must be told
    /// now that they left: their last socket, and no grace period (or none `wanted`, as
    /// after signing out).
    pub fn depart(&mut self, id: u64, now: Instant, wanted: bool) -> Option<User> {
        let entry = self.users.get_mut(&id)?;
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets > 0 {
            return None;
        }
        if self.grace.is_zero() || !wanted {
            return self.users.remove(&id).map(|e| e.user);
        }
        entry.gone_since = Some(now);
        None
    }

    /// Whether some user's grace period is over.
    pub fn any_due(&self, now: Instant) -> bool {
        self.users.values().any(|e| self.is_due(e, now))
    }

    /// Removes up to `max` users whose grace period is over and returns them: the room
    /// must be told they left.
    pub fn take_due(&mut self, now: Instant, max: usize) -> Vec<User> {
        let due: Vec<u64> = self
            .users
            .iter()
            .filter(|(_, e)| self.is_due(e, now))
            .map(|(id, _)| *id)
            .take(max)
            .collect();
        due.iter()
            .filter_map(|id| self.users.remove(id).map(|e| e.user))
            .collect()
    }

    /// Whether user `id` has a socket open or is in the grace period.
    #[cfg(test)]
    pub fn is_online(&self, id: u64) -> bool {
        self.users.contains_key(&id)
    }

    /// The distinct online users (those in the grace period included), ordered by id.
    pub fn users(&self) -> Vec<User> {
        self.users.values().map(|e| e.user.clone()).collect()
    }

    fn is_due(&self, entry: &Entry, now: Instant) -> bool {
        entry
            .gone_since
            .is_some_and(|since| now.duration_since(since) >= self.grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coming_back_within_the_grace_period_is_neither_left_nor_join() {
        let mut presence = Presence::new(Duration::from_secs(10));
        let ada = User::new(1, "Ada");
        let t0 = Instant::now();
        assert!(presence.arrive(&ada));
        assert_eq!(presence.depart(1, t0, true), None);
        assert!(
            presence.is_online(1),
            "still listed during the grace period"
        );
        assert!(!presence.arrive(&ada), "no second join");
        assert!(!presence.any_due(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn left_is_due_once_the_grace_period_is_over() {
        let mut presence = Presence::new(Duration::from_secs(10));
        let ada = User::new(1, "Ada");
        let t0 = Instant::now();
        presence.arrive(&ada);
        presence.depart(1, t0, true);
        assert!(!presence.any_due(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(presence.take_due(later, 10), vec![ada.clone()]);
        assert!(presence.take_due(later, 10).is_empty(), "only once");
        assert!(presence.arrive(&ada), "a join again after that");
    }

    #[test]
    fn without_a_grace_period_the_last_socket_leaves_at_once() {
        let mut presence = Presence::new(Duration::ZERO);
        let ada = User::new(1, "Ada");
        presence.arrive(&ada);
        presence.arrive(&ada);
        assert_eq!(presence.depart(1, Instant::now(), true), None);
        assert_eq!(presence.depart(1, Instant::now(), true), Some(ada));
    }

    #[test]
    fn signing_out_skips_the_grace_period() {
        let mut presence = Presence::new(Duration::from_secs(10));
        let ada = User::new(1, "Ada");
        presence.arrive(&ada);
        assert_eq!(presence.depart(1, Instant::now(), false), Some(ada));
    }
}
