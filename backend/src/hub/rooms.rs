//! Rooms and who is in them, as the hub keeps them in memory: every fan-out asks here
//! who may receive a room's event, so no socket of a non-member is ever considered.
//!
//! Loaded from the database at start and changed only by the hub, in step with what it
//! stores. `general` keeps no member set: every user is in it.

use std::collections::{HashMap, HashSet};

use crate::store::db::{Db, DbError};
use shared::{RoomId, RoomKind, GENERAL};

use crate::store::rooms::{self, RoomRow};

/// One room: what the hub needs to route its events and check the rules.
pub struct Entry {
    pub row: RoomRow,
    /// Members' user ids; empty for `general`, whose members are all users.
    members: HashSet<u64>,
}

/// Every room, by id.
#[derive(Default)]
pub struct Rooms {
    rooms: HashMap<RoomId, Entry>,
}

/// Who receives a stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every socket, room-aware or not: `general` and presence.
    Everyone,
    /// The room-aware sockets of these users.
    Users(Vec<u64>),
}

impl Rooms {
    /// Every room and membership in the database.
    pub fn load(db: &dyn Db) -> Result<Rooms, DbError> {
        let mut loaded = Rooms::default();
        for row in rooms::all(db)? {
            loaded.insert(row);
        }
        for (room, user) in rooms::memberships(db)? {
            loaded.add(room, user);
        }
        Ok(loaded)
    }

    pub fn get(&self, room: RoomId) -> Option<&Entry> {
        self.rooms.get(&room)
    }

    /// Adds a room with no members yet.
    pub fn insert(&mut self, row: RoomRow) {
        let id = row.id;
        self.rooms.insert(
            id,
            Entry {
                row,
                members: HashSet::new(),
            },
        );
    }

    /// Records a membership; `general` needs none.
    pub fn add(&mut self, room: RoomId, user: u64) {
        if room == GENERAL {
            return;
        }
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.members.insert(user);
        }
    }

    pub fn remove(&mut self, room: RoomId, user: u64) {
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.members.remove(&user);
        }
    }

    pub fn is_member(&self, room: RoomId, user: u64) -> bool {
        room == GENERAL
            || self
                .rooms
                .get(&room)
                .is_some_and(|e| e.members.contains(&user))
    }

    /// The room if `user` may see it: public, or they are a member. Anything else is
    /// answered exactly like a room that does not exist.
    pub fn visible(&self, room: RoomId, user: u64) -> Option<&Entry> {
        let entry = self.rooms.get(&room)?;
        (entry.row.kind == RoomKind::Public || self.is_member(room, user)).then_some(entry)
    }

    /// Who receives the events of `room`, as things stand.
    pub fn audience(&self, room: RoomId) -> Audience {
        if room == GENERAL {
            return Audience::Everyone;
        }
        let users = self
            .rooms
            .get(&room)
            .map(|e| e.members.iter().copied().collect())
            .unwrap_or_default();
        Audience::Users(users)
    }
}

impl Audience {
    /// The same audience with `user` in it too (a leaver hears of their own leaving).
    pub fn and(mut self, user: u64) -> Audience {
        if let Audience::Users(users) = &mut self {
            if !users.contains(&user) {
                users.push(user);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: RoomId, kind: RoomKind) -> RoomRow {
        RoomRow {
            id,
            slug: format!("r{id}"),
            name: format!("R{id}"),
            topic: String::new(),
            kind,
        }
    }

    #[test]
    fn private_rooms_are_invisible_to_non_members_and_general_holds_everyone() {
        let mut rooms = Rooms::default();
        rooms.insert(row(GENERAL, RoomKind::Public));
        rooms.insert(row(2, RoomKind::Private));
        rooms.insert(row(3, RoomKind::Public));
        rooms.add(2, 7);
        assert!(rooms.visible(2, 7).is_some());
        assert!(rooms.visible(2, 8).is_none());
        assert!(rooms.visible(3, 8).is_some(), "public: visible to all");
        assert!(!rooms.is_member(3, 8));
        assert!(rooms.is_member(GENERAL, 12345));
        assert_eq!(rooms.audience(GENERAL), Audience::Everyone);
        assert_eq!(rooms.audience(2), Audience::Users(vec![7]));
        rooms.remove(2, 7);
        assert_eq!(rooms.audience(2).and(7), Audience::Users(vec![7]));
        assert!(rooms.visible(2, 7).is_none());
    }
}
