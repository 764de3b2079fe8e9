//! Who is typing where: shown for [`TYPING_SHOWN_MS`] after each `typing` signal, or until
//! that user's next chat line in the room.

use shared::{RoomId, User, TYPING_EVERY_MS, TYPING_SHOWN_MS};

/// One user typing in one room, until a moment in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Typist {
    pub room: RoomId,
    pub user: User,
    pub until: f64,
}

/// Everyone typing, in the order they started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Typing {
    typists: Vec<Typist>,
}

impl Typing {
    /// `user` typed in `room` at `now`.
    pub fn typed(&mut self, room: RoomId, user: User, now: f64) {
        let until = now + TYPING_SHOWN_MS as f64;
        match self
            .typists
            .iter_mut()
            .find(|typist| typist.room == room && typist.user.id == user.id)
        {
            Some(typist) => {
                typist.until = until;
                typist.user = user;
            }
            None => self.typists.push(Typist { room, user, until }),
        }
    }

    /// `user`'s line arrived in `room`: they are done typing it.
    pub fn spoke(&mut self, room: RoomId, user: u64) {
        self.typists
            .retain(|typist| !(typist.room == room && typist.user.id == user));
    }

    /// Forgets what is older than [`TYPING_SHOWN_MS`]; `true` when something went.
    pub fn expire(&mut self, now: f64) -> bool {
        let before = self.typists.len();
        self.typists.retain(|typist| typist.until > now);
        self.typists.len() != before
    }

    pub fn is_empty(&self) -> bool {
        self.typists.is_empty()
    }

    /// The names typing in `room`, in the order they started.
    pub fn names(&self, room: RoomId) -> Vec<&str> {
        self.typists
            .iter()
            .filter(|typist| typist.room == room)
            .map(|typist| typist.user.name.as_str())
            .collect()
    }
}

/// "Ada is typing…", "Ada and Bob are typing…", "Several people are typing…", or nothing.
pub fn typing_text(names: &[&str]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing\u{2026}")),
        [one, two] => Some(format!("{one} and {two} are typing\u{2026}")),
        _ => Some("Several people are typing\u{2026}".into()),
    }
}

/// Whether a `typing` signal may go out at `now`, the last one having left at `last`.
pub fn typing_due(last: Option<f64>, now: f64) -> bool {
    last.is_none_or(|last| now - last >= TYPING_EVERY_MS as f64)
}
