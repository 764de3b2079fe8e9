//! Room changes asked for over HTTP ([`RoomOp`]): the rules that need the rooms' state,
//! the stored `room_join` / `room_leave` events, and the `room` frame each affected user's
//! sockets get (their own view, before the event).
//!
//! A change that cannot be stored leaves the batch uncommitted: its frames are never
//! sent, the asker is told `NotSaved`, and the rooms in memory are reloaded.

use crate::store::db::{Db, DbError};
use shared::{RoomId, RoomKind, ServerBody, User, GENERAL};

use super::{unix_millis, Effect, State};
use crate::hub::rooms::Audience;
use crate::hub::{RoomOp, RoomRefusal};
use crate::store::rooms::{self, CreateOutcome};

type Answer = Result<shared::Room, RoomRefusal>;

impl State {
    /// Applies one room change inside the batch's transaction.
    pub(super) fn room_op(
        &mut self,
        op: RoomOp,
        tx: Option<&dyn Db>,
        effects: &mut Vec<Effect>,
    ) -> Answer {
        match op {
            RoomOp::Create {
                by,
                name,
                topic,
                kind,
            } => {
                if kind == RoomKind::Dm {
                    return Err(RoomRefusal::Forbidden(
                        "direct messages are started with /api/dm",
                    ));
                }
                if by.guest {
                    return Err(RoomRefusal::Forbidden("guests cannot create rooms"));
                }
                let now = unix_millis();
                let created =
                    self.db(tx, |tx| rooms::create(tx, &name, &topic, kind, by.id, now))?;
                let CreateOutcome::Created(room) = created else {
                    return Err(RoomRefusal::NameTaken);
                };
                let row = self
                    .db(tx, |tx| rooms::room(tx, room))?
                    .ok_or(RoomRefusal::NotSaved)?;
                self.rooms.insert(row);
                self.enter(tx, room, &by, None, effects)?;
                self.view(tx, room, by.id)
            }
            RoomOp::Join { user, room } => {
                // Only a public room can be joined; any other is "no such room" unless the
                // user is in it already.
                let entry = self
                    .rooms
                    .visible(room, user.id)
                    .ok_or(RoomRefusal::NoSuchRoom)?;
                let public = entry.row.kind == RoomKind::Public;
                if !self.rooms.is_member(room, user.id) {
                    if !public {
                        return Err(RoomRefusal::NoSuchRoom);
                    }
                    self.enter(tx, room, &user, None, effects)?;
                }
                self.view(tx, room, user.id)
            }
            RoomOp::Leave { user, room } => {
                let entry = self
                    .rooms
                    .visible(room, user.id)
                    .ok_or(RoomRefusal::NoSuchRoom)?;
                if room == GENERAL {
                    return Err(RoomRefusal::Forbidden("everyone stays in general"));
                }
                if entry.row.kind == RoomKind::Dm {
                    return Err(RoomRefusal::Forbidden("a direct message cannot be left"));
                }
                if self.rooms.is_member(room, user.id) {
                    self.leave_room(tx, room, &user, effects)?;
                }
                self.view(tx, room, user.id)
            }
            RoomOp::Invite { by, room, user } => {
                let entry = self
                    .rooms
                    .visible(room, by.id)
                    .ok_or(RoomRefusal::NoSuchRoom)?;
                if entry.row.kind == RoomKind::Dm {
                    return Err(RoomRefusal::Forbidden(
                        "nobody can be invited into a direct message",
                    ));
                }
                if !self.rooms.is_member(room, by.id) {
                    return Err(RoomRefusal::Forbidden("only members can invite"));
                }
                let invited = self
                    .db(tx, |tx| rooms::user(tx, user))?
                    .ok_or(RoomRefusal::NoSuchUser)?;
                if !self.rooms.is_member(room, invited.id) {
                    self.enter(tx, room, &invited, Some(by.clone()), effects)?;
                }
                self.view(tx, room, by.id)
            }
            RoomOp::Dm { user, with } => {
                if with == user.id {
                    return Err(RoomRefusal::Forbidden(
                        "a direct message needs another user",
                    ));
                }
                let peer = self
                    .db(tx, |tx| rooms::user(tx, with))?
                    .ok_or(RoomRefusal::NoSuchUser)?;
                let now = unix_millis();
                // One hub thread: a second request for the pair finds the first one's room.
                let (room, created) = self.db(tx, |tx| rooms::dm(tx, user.id, with, now))?;
                if created || self.rooms.get(room).is_none() {
                    let row = self
                        .db(tx, |tx| rooms::room(tx, room))?
                        .ok_or(RoomRefusal::NotSaved)?;
                    self.rooms.insert(row);
                    self.rooms.add(room, user.id);
                    self.rooms.add(room, peer.id);
                    self.room_frame(tx, room, &user, effects)?;
                    self.room_frame(tx, room, &peer, effects)?;
                }
                self.view(tx, room, user.id)
            }
            RoomOp::Mute { user, room, muted } => {
                if self.rooms.get(room).is_none() || !self.rooms.is_member(room, user.id) {
                    return Err(RoomRefusal::NoSuchRoom);
                }
                if !self.db(tx, |tx| rooms::set_muted(tx, room, user.id, muted))? {
                    return Err(RoomRefusal::NoSuchRoom);
                }
                self.room_frame(tx, room, &user, effects)?;
                self.view(tx, room, user.id)
            }
        }
    }

    /// Makes `user` a member of `room`: their `room` frame, then `room_join` to every
    /// member, the new one included.
    fn enter(
        &mut self,
        tx: Option<&dyn Db>,
        room: RoomId,
        user: &User,
        by: Option<User>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), RoomRefusal> {
        let now = unix_millis();
        self.db(tx, |tx| rooms::add_member(tx, room, user.id, now))?;
        self.rooms.add(room, user.id);
        self.room_frame(tx, room, user, effects)?;
        let text = format!("{} joined #{}.", user.name, self.slug(room));
        let body = ServerBody::RoomJoin { text, by };
        let to = self.rooms.audience(room);
        self.broadcast(tx, user.clone(), Some(room), body, to, None, effects);
        Ok(())
    }

    /// Ends `user`'s membership of `room`: their `room` frame (no longer a member), then
    /// `room_leave` to the remaining members and to the leaver.
    fn leave_room(
        &mut self,
        tx: Option<&dyn Db>,
        room: RoomId,
        user: &User,
        effects: &mut Vec<Effect>,
    ) -> Result<(), RoomRefusal> {
        self.db(tx, |tx| rooms::remove_member(tx, room, user.id))?;
        self.rooms.remove(room, user.id);
        self.room_frame(tx, room, user, effects)?;
        let text = format!("{} left #{}.", user.name, self.slug(room));
        let body = ServerBody::RoomLeave { text, by: None };
        let to: Audience = self.rooms.audience(room).and(user.id);
        self.broadcast(tx, user.clone(), Some(room), body, to, None, effects);
        Ok(())
    }

    /// Queues `room` as `user` now sees it for their room-aware sockets.
    fn room_frame(
        &mut self,
        tx: Option<&dyn Db>,
        room: RoomId,
        user: &User,
        effects: &mut Vec<Effect>,
    ) -> Result<(), RoomRefusal> {
        let view = self.view(tx, room, user.id)?;
        let (id, json) = self.envelope(user.clone(), None, ServerBody::Room(view));
        effects.push(Effect::ToUser(user.id, id, json.into()));
        Ok(())
    }

    /// `room` as `user` sees it, read inside the batch's transaction.
    fn view(&mut self, tx: Option<&dyn Db>, room: RoomId, user: u64) -> Answer {
        let row = self
            .rooms
            .get(room)
            .map(|entry| entry.row.clone())
            .ok_or(RoomRefusal::NoSuchRoom)?;
        self.db(tx, |tx| rooms::view_of(tx, row, user))
    }

    fn slug(&self, room: RoomId) -> String {
        self.rooms
            .get(room)
            .map(|entry| entry.row.slug.clone())
            .unwrap_or_default()
    }

    /// A storage step for a room change; a failure (this one or an earlier one of the
    /// batch) is `NotSaved`.
    fn db<T>(
        &mut self,
        tx: Option<&dyn Db>,
        step: impl FnOnce(&dyn Db) -> Result<T, DbError>,
    ) -> Result<T, RoomRefusal> {
        self.store(tx, step).ok_or(RoomRefusal::NotSaved)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;
    use shared::{RoomKind, User};

    use crate::hub::{Hub, HubSettings, Membership, RoomOp, RoomRefusal};
    use crate::store::{accounts, lock, Store};

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        hub: Hub,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = HubSettings {
            queue_bytes: 1024 * 1024,
            max_sockets_per_session: 16,
            rate_burst: 100.0,
            rate_per_sec: 100.0,
            presence_grace: Duration::ZERO,
            shared: None,
        };
        let hub = Hub::start(store.writer().unwrap(), settings).unwrap();
        Fixture {
            _dir: dir,
            store,
            hub,
        }
    }

    impl Fixture {
        fn account(&self, name: &str) -> User {
            self.user(name, Some("hash"))
        }

        fn guest(&self, name: &str) -> User {
            self.user(name, None)
        }

        fn user(&self, name: &str, hash: Option<&str>) -> User {
            let conn = self.store.writer().unwrap();
            let conn = lock(&conn);
            accounts::create_user(&**conn, name, hash, 1)
                .unwrap()
                .unwrap()
        }

        /// A socket of `user`, room-aware or not, past its greeting.
        async fn socket(&self, user: &User, v2: bool) -> Membership {
            let mut m = self.hub.join(user.clone(), user.id, None, v2).await;
            // The greeting ends with one history, or one per room for v2.
            let mut histories = (!v2).then_some(1);
            loop {
                let frame = next(&mut m).await;
                if frame["type"] == "rooms" {
                    histories = Some(frame["data"].as_array().unwrap().len().min(20));
                }
                if frame["type"] == "history" {
                    let left = histories.as_mut().expect("rooms before history");
                    *left -= 1;
                }
                if histories == Some(0) {
                    return m;
                }
            }
        }

        async fn op(&self, op: RoomOp) -> Result<shared::Room, RoomRefusal> {
            self.hub.room(op).await
        }

        async fn create(&self, by: &User, name: &str, kind: RoomKind) -> shared::Room {
            self.op(RoomOp::Create {
                by: by.clone(),
                name: name.into(),
                topic: String::new(),
                kind,
            })
            .await
            .unwrap()
        }
    }

    async fn next(m: &mut Membership) -> Value {
        loop {
            let mut frames = Vec::new();
            m.outbox.take(&mut frames, 1);
            if let Some(frame) = frames.pop() {
                return serde_json::from_str(&frame).unwrap();
            }
            tokio::time::timeout(Duration::from_secs(5), m.outbox.changed())
                .await
                .expect("a frame in time");
        }
    }

    /// The next frame that is not presence (`join`, `left`, `list`).
    async fn event(m: &mut Membership) -> Value {
        loop {
            let frame = next(m).await;
            if !["join", "left", "list"].contains(&frame["type"].as_str().unwrap_or("")) {
                return frame;
            }
        }
    }

    /// Sends a line to general from `m` and returns it as `m` received it.
    async fn marker(hub: &Hub, m: &mut Membership, text: &str) -> Value {
        hub.chat(m.id, None, text.into(), None).await;
        let frame = event(m).await;
        assert_eq!(frame["data"], text);
        frame
    }

    #[tokio::test]
    async fn created_room_has_its_creator_as_member_and_only_their_room_sockets_hear_of_it() {
        let f = fixture();
        let (ada, bo) = (f.account("Ada"), f.account("Bo"));
        let mut ada2 = f.socket(&ada, true).await;
        let mut ada1 = f.socket(&ada, false).await;
        let mut bo2 = f.socket(&bo, true).await;
        let room = f.create(&ada, "Design Team", RoomKind::Private).await;
        assert_eq!(room.slug, "design-team");
        assert!(room.member);
        assert_eq!(room.members, 1);
        let frame = event(&mut ada2).await;
        assert_eq!(frame["type"], "room");
        assert_eq!(frame["data"]["id"], room.id);
        let join = event(&mut ada2).await;
        assert_eq!(join["type"], "room_join");
        assert_eq!(join["room"], room.id);
        assert_eq!(join["data"], "Ada joined #design-team.");
        assert!(join["id"].as_u64() > frame["id"].as_u64());
        // The v1 socket and the other user see none of it.
        let line = marker(&f.hub, &mut ada1, "after").await;
        assert_eq!(event(&mut bo2).await, line);
        let taken = f
            .op(RoomOp::Create {
                by: bo.clone(),
                name: "design team".into(),
                topic: String::new(),
                kind: RoomKind::Public,
            })
            .await;
        assert_eq!(taken, Err(RoomRefusal::NameTaken));
    }

    #[tokio::test]
    async fn a_rooms_history_frame_is_byte_for_byte_what_the_protocol_types_write() {
        let f = fixture();
        let ada = f.account("Ada");
        let room = f.create(&ada, "Team", RoomKind::Public).await;
        let mut ada2 = f.socket(&ada, true).await;
        f.hub
            .chat(ada2.id, Some(room.id), "hi @Ada".into(), Some("c".into()))
            .await;
        event(&mut ada2).await;
        let m = f.hub.join(ada.clone(), 9, None, true).await;
        let mut raw = Vec::new();
        while raw.len() < 4 {
            m.outbox.changed().await;
            m.outbox.take(&mut raw, 10);
        }
        // list, rooms, general's history, then the room's.
        let history = raw[3].as_str();
        let typed: shared::ServerMessage = serde_json::from_str(history).unwrap();
        assert_eq!(typed.room, Some(room.id));
        assert!(
            matches!(typed.body, shared::ServerBody::History { ref messages, .. } if messages.len() == 2)
        );
        assert_eq!(serde_json::to_string(&typed).unwrap(), history);
    }

    #[tokio::test]
    async fn guests_cannot_create_rooms() {
        let f = fixture();
        let guest = f.guest("Gus");
        let refused = f
            .op(RoomOp::Create {
                by: guest,
                name: "Mine".into(),
                topic: String::new(),
                kind: RoomKind::Public,
            })
            .await;
        assert!(matches!(refused, Err(RoomRefusal::Forbidden(_))));
    }

    #[tokio::test]
    async fn joining_a_public_room_is_idempotent_and_a_private_one_does_not_exist() {
        let f = fixture();
        let (ada, bo) = (f.account("Ada"), f.guest("Bo"));
        let public = f.create(&ada, "Lobby", RoomKind::Public).await;
        let private = f.create(&ada, "Secret", RoomKind::Private).await;
        let mut ada2 = f.socket(&ada, true).await;
        let mut bo2 = f.socket(&bo, true).await;
        let join = |room| RoomOp::Join {
            user: bo.clone(),
            room,
        };
        assert_eq!(f.op(join(private.id)).await, Err(RoomRefusal::NoSuchRoom));
        assert_eq!(f.op(join(999)).await, Err(RoomRefusal::NoSuchRoom));
        let joined = f.op(join(public.id)).await.unwrap();
        assert_eq!(joined.members, 2);
        assert_eq!(event(&mut bo2).await["type"], "room");
        let seen = event(&mut bo2).await;
        assert_eq!(seen["type"], "room_join");
        assert_eq!(event(&mut ada2).await, seen, "the member hears of it too");
        assert_eq!(f.op(join(public.id)).await.unwrap().members, 2);
        // Joining again stored nothing: the next thing either hears is the marker.
        let line = marker(&f.hub, &mut ada2, "after").await;
        assert_eq!(event(&mut bo2).await, line);
    }

    #[tokio::test]
    async fn leaving_tells_the_remaining_members_and_the_leaver_but_general_and_dms_stay() {
        let f = fixture();
        let (ada, bo, cy) = (f.account("Ada"), f.account("Bo"), f.account("Cy"));
        let room = f.create(&ada, "Team", RoomKind::Private).await;
        let invite = RoomOp::Invite {
            by: ada.clone(),
            room: room.id,
            user: bo.id,
        };
        f.op(invite).await.unwrap();
        let mut ada2 = f.socket(&ada, true).await;
        let mut bo2 = f.socket(&bo, true).await;
        let mut cy2 = f.socket(&cy, true).await;
        let leave = |user: &User, room| RoomOp::Leave {
            user: user.clone(),
            room,
        };
        let left = f.op(leave(&bo, room.id)).await.unwrap();
        assert!(!left.member);
        let gone = event(&mut bo2).await;
        assert_eq!(gone["type"], "room");
        assert_eq!(gone["data"]["member"], false);
        let seen = event(&mut bo2).await;
        assert_eq!(seen["type"], "room_leave");
        assert_eq!(seen["data"], "Bo left #team.");
        assert_eq!(event(&mut ada2).await, seen);
        let line = marker(&f.hub, &mut cy2, "after").await;
        assert_eq!(event(&mut ada2).await, line, "nothing more for Ada");
        // A private room left is a room that does not exist.
        assert_eq!(
            f.op(leave(&bo, room.id)).await,
            Err(RoomRefusal::NoSuchRoom)
        );
        assert!(matches!(
            f.op(leave(&bo, shared::GENERAL)).await,
            Err(RoomRefusal::Forbidden(_))
        ));
        let dm = f
            .op(RoomOp::Dm {
                user: bo.clone(),
                with: cy.id,
            })
            .await
            .unwrap();
        assert!(matches!(
            f.op(leave(&bo, dm.id)).await,
            Err(RoomRefusal::Forbidden(_))
        ));
        assert_eq!(f.op(leave(&ada, dm.id)).await, Err(RoomRefusal::NoSuchRoom));
    }

    #[tokio::test]
    async fn only_members_invite_known_users_and_nobody_into_a_dm() {
        let f = fixture();
        let (ada, bo, cy) = (f.account("Ada"), f.account("Bo"), f.account("Cy"));
        let room = f.create(&ada, "Team", RoomKind::Private).await;
        let lobby = f.create(&ada, "Lobby", RoomKind::Public).await;
        let mut bo2 = f.socket(&bo, true).await;
        let invite = |by: &User, room, user| RoomOp::Invite {
            by: by.clone(),
            room,
            user,
        };
        assert_eq!(
            f.op(invite(&cy, room.id, bo.id)).await,
            Err(RoomRefusal::NoSuchRoom),
            "a non-member cannot see a private room"
        );
        assert!(matches!(
            f.op(invite(&cy, lobby.id, bo.id)).await,
            Err(RoomRefusal::Forbidden(_))
        ));
        assert_eq!(
            f.op(invite(&ada, room.id, 999)).await,
            Err(RoomRefusal::NoSuchUser)
        );
        let seen = f.op(invite(&ada, room.id, bo.id)).await.unwrap();
        assert_eq!(seen.members, 2);
        let frame = event(&mut bo2).await;
        assert_eq!(frame["type"], "room");
        assert_eq!(frame["data"]["member"], true);
        let join = event(&mut bo2).await;
        assert_eq!(join["type"], "room_join");
        assert_eq!(join["by"]["id"], ada.id);
        assert_eq!(join["user"]["id"], bo.id);
        let dm = f
            .op(RoomOp::Dm {
                user: ada.clone(),
                with: bo.id,
            })
            .await
            .unwrap();
        assert!(matches!(
            f.op(invite(&ada, dm.id, cy.id)).await,
            Err(RoomRefusal::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn racing_dm_requests_get_the_one_room_and_both_users_hear_of_it_once() {
        let f = fixture();
        let (ada, bo, cy) = (f.account("Ada"), f.guest("Bo"), f.account("Cy"));
        let mut ada2 = f.socket(&ada, true).await;
        let mut bo2 = f.socket(&bo, true).await;
        let mut cy2 = f.socket(&cy, true).await;
        let (one, two) = tokio::join!(
            f.op(RoomOp::Dm {
                user: ada.clone(),
                with: bo.id
            }),
            f.op(RoomOp::Dm {
                user: bo.clone(),
                with: ada.id
            })
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.id, two.id);
        assert_eq!(one.kind, RoomKind::Dm);
        assert_eq!(one.peer.as_ref().map(|p| p.id), Some(bo.id));
        assert_eq!(two.peer.as_ref().map(|p| p.id), Some(ada.id));
        for m in [&mut ada2, &mut bo2] {
            let frame = event(m).await;
            assert_eq!(frame["type"], "room");
            assert_eq!(frame["data"]["id"], one.id);
        }
        let line = marker(&f.hub, &mut cy2, "after").await;
        assert_eq!(
            event(&mut ada2).await,
            line,
            "one room frame, no stored event"
        );
        assert_eq!(event(&mut bo2).await, line);
        let dm = |with| RoomOp::Dm {
            user: ada.clone(),
            with,
        };
        assert!(matches!(
            f.op(dm(ada.id)).await,
            Err(RoomRefusal::Forbidden(_))
        ));
        assert_eq!(f.op(dm(999)).await, Err(RoomRefusal::NoSuchUser));
    }

    #[tokio::test]
    async fn muting_is_for_members_and_tells_the_users_own_sockets() {
        let f = fixture();
        let (ada, bo) = (f.account("Ada"), f.account("Bo"));
        let room = f.create(&ada, "Team", RoomKind::Private).await;
        let mut ada2 = f.socket(&ada, true).await;
        let mute = |user: &User, room| RoomOp::Mute {
            user: user.clone(),
            room,
            muted: true,
        };
        assert_eq!(f.op(mute(&bo, room.id)).await, Err(RoomRefusal::NoSuchRoom));
        assert!(f.op(mute(&ada, room.id)).await.unwrap().muted);
        let frame = event(&mut ada2).await;
        assert_eq!(frame["type"], "room");
        assert_eq!(frame["data"]["muted"], true);
        assert!(f.op(mute(&bo, shared::GENERAL)).await.unwrap().muted);
    }

    #[tokio::test]
    async fn a_change_that_cannot_be_stored_is_not_saved_and_leaves_no_trace() {
        let f = fixture();
        let ada = f.account("Ada");
        let mut ada2 = f.socket(&ada, true).await;
        {
            let conn = f.store.writer().unwrap();
            lock(&conn)
                .batch(
                    "CREATE TRIGGER full BEFORE INSERT ON messages BEGIN SELECT RAISE(FAIL, 'full'); END;",
                )
                .unwrap();
        }
        let create = || RoomOp::Create {
            by: ada.clone(),
            name: "Team".into(),
            topic: String::new(),
            kind: RoomKind::Public,
        };
        assert_eq!(f.op(create()).await, Err(RoomRefusal::NotSaved));
        {
            let conn = f.store.writer().unwrap();
            lock(&conn).batch("DROP TRIGGER full;").unwrap();
        }
        let room = f.op(create()).await.expect("the name was never taken");
        assert_eq!(room.slug, "team");
        let frame = event(&mut ada2).await;
        assert_eq!(frame["type"], "room", "nothing of the failed one was sent");
        assert_eq!(frame["data"]["id"], room.id);
    }
}
