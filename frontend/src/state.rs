//! The room as this client sees it: the message log, who is online, the connection status
//! and the latest notice from the server. It changes only through [`Action`]s, in a pure
//! reducer that the tests below exercise on the host.

use std::rc::Rc;

use shared::{ServerBody, ServerMessage, User};
use yew::Reducible;

/// Most lines kept in the log, so a tab left open for days does not grow without bound.
pub const MAX_LOG_LINES: usize = 500;

/// The state of the chat connection, as shown in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    /// Not connected and not retrying yet: before the first connect, or the browser is offline.
    #[default]
    Offline,
    Connected,
    /// The socket dropped and the client is trying again.
    Reconnecting,
}

impl ConnectionStatus {
    /// The exact text users (and the browser tests) see.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionStatus::Offline => "Offline",
            ConnectionStatus::Connected => "Connected",
            ConnectionStatus::Reconnecting => "Reconnecting\u{2026}",
        }
    }
}

/// A server `error` reply, kept until the reader dismisses it or it times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The message id, so a new notice with the same text still restarts its timer.
    pub id: u64,
    pub text: String,
}

/// Everything the room page renders.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomState {
    /// `chat`, `join` and `left` messages, ordered by id, each id at most once.
    pub log: Vec<ServerMessage>,
    /// Online users, ordered by id.
    pub users: Vec<User>,
    pub status: ConnectionStatus,
    pub notice: Option<Notice>,
    /// Id of the last `list` applied. `join`/`left` lines older than it (a replay of stored
    /// messages) say nothing about who is online now and must not touch `users`.
    users_as_of: u64,
}

/// Everything that can happen to the room.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Received(ServerMessage),
    Status(ConnectionStatus),
    DismissNotice,
}

impl RoomState {
    /// Applies one action in place; the whole state machine of the room.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Status(status) => self.status = status,
            Action::DismissNotice => self.notice = None,
            Action::Received(message) => self.receive(message),
        }
    }

    fn receive(&mut self, message: ServerMessage) {
        let id = message.id;
        match &message.body {
            ServerBody::List(users) => {
                if id > self.users_as_of {
                    self.users_as_of = id;
                    self.users = users.clone();
                    self.users.sort_by_key(|user| user.id);
                    self.users.dedup_by_key(|user| user.id);
                }
            }
            ServerBody::Error(text) => {
                self.notice = Some(Notice {
                    id,
                    text: text.clone(),
                });
            }
            ServerBody::Join(_) => {
                let user = message.user.clone();
                if self.insert_line(message) && id > self.users_as_of {
                    self.add_user(user);
                }
            }
            ServerBody::Left(_) => {
                let user_id = message.user.id;
                if self.insert_line(message) && id > self.users_as_of {
                    self.users.retain(|user| user.id != user_id);
                }
            }
            ServerBody::Chat(_) => {
                self.insert_line(message);
            }
        }
    }

    /// Puts a line in id order; `false` when that id is already in the log.
    fn insert_line(&mut self, message: ServerMessage) -> bool {
        match self.log.binary_search_by_key(&message.id, |line| line.id) {
            Ok(_) => false,
            Err(at) => {
                self.log.insert(at, message);
                if self.log.len() > MAX_LOG_LINES {
                    let excess = self.log.len() - MAX_LOG_LINES;
                    self.log.drain(..excess);
                }
                true
            }
        }
    }

    fn add_user(&mut self, user: User) {
        if let Err(at) = self.users.binary_search_by_key(&user.id, |known| known.id) {
            self.users.insert(at, user);
        }
    }
}

impl Reducible for RoomState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // Returning the same Rc tells Yew nothing changed, so a repeated status does not re-render.
        if matches!(action, Action::Status(status) if status == self.status) {
            return self;
        }
        let mut next = Rc::unwrap_or_clone(self);
        next.apply(action);
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, name: &str) -> User {
        User::new(id, name)
    }

    fn message(id: u64, from: User, body: ServerBody) -> Action {
        Action::Received(ServerMessage {
            id,
            ts: 1_764_070_000_000 + id,
            user: from,
            body,
        })
    }

    fn chat(id: u64, text: &str) -> Action {
        message(id, user(1, "Ada"), ServerBody::Chat(text.into()))
    }

    fn join(id: u64, who: User) -> Action {
        let text = format!("{} joined.", who.name);
        message(id, who, ServerBody::Join(text))
    }

    fn left(id: u64, who: User) -> Action {
        let text = format!("{} left.", who.name);
        message(id, who, ServerBody::Left(text))
    }

    fn list(id: u64, users: Vec<User>) -> Action {
        message(id, user(1, "Ada"), ServerBody::List(users))
    }

    fn room(actions: impl IntoIterator<Item = Action>) -> RoomState {
        let mut state = RoomState::default();
        for action in actions {
            state.apply(action);
        }
        state
    }

    fn log_ids(state: &RoomState) -> Vec<u64> {
        state.log.iter().map(|line| line.id).collect()
    }

    fn user_ids(state: &RoomState) -> Vec<u64> {
        state.users.iter().map(|user| user.id).collect()
    }

    #[test]
    fn a_message_received_twice_is_shown_once() {
        let state = room([chat(5, "hi"), chat(6, "there"), chat(5, "hi")]);
        assert_eq!(log_ids(&state), [5, 6]);
    }

    #[test]
    fn lines_are_ordered_by_id_whatever_the_arrival_order() {
        let state = room([chat(9, "c"), chat(3, "a"), chat(7, "b")]);
        assert_eq!(log_ids(&state), [3, 7, 9]);
    }

    #[test]
    fn list_replaces_the_online_users() {
        let state = room([
            list(1, vec![user(1, "Ada"), user(2, "Bob")]),
            list(4, vec![user(3, "Cy"), user(1, "Ada")]),
        ]);
        assert_eq!(user_ids(&state), [1, 3]);
        assert!(state.log.is_empty(), "a list is not a log line");
    }

    #[test]
    fn join_adds_the_user_and_left_removes_them() {
        let state = room([list(1, vec![user(1, "Ada")]), join(2, user(2, "Bob"))]);
        assert_eq!(user_ids(&state), [1, 2]);

        let state = room([
            list(1, vec![user(1, "Ada"), user(2, "Bob")]),
            left(3, user(1, "Ada")),
        ]);
        assert_eq!(user_ids(&state), [2]);
        assert_eq!(log_ids(&state), [3], "left is shown as a line");
    }

    #[test]
    fn join_of_someone_already_listed_does_not_duplicate_them() {
        let state = room([join(1, user(7, "Gil")), list(2, vec![user(7, "Gil")])]);
        assert_eq!(user_ids(&state), [7]);
        let state = room([list(1, vec![user(7, "Gil")]), join(2, user(7, "Gil"))]);
        assert_eq!(user_ids(&state), [7]);
    }

    #[test]
    fn replayed_join_and_left_older_than_the_list_leave_users_alone() {
        let state = room([
            list(10, vec![user(1, "Ada"), user(2, "Bob")]),
            left(4, user(2, "Bob")),
            join(5, user(3, "Cy")),
        ]);
        assert_eq!(user_ids(&state), [1, 2]);
        assert_eq!(
            log_ids(&state),
            [4, 5],
            "the replayed lines are still shown"
        );
    }

    #[test]
    fn an_older_list_does_not_replace_a_newer_one() {
        let state = room([list(8, vec![user(1, "Ada")]), list(3, vec![user(2, "Bob")])]);
        assert_eq!(user_ids(&state), [1]);
    }

    #[test]
    fn a_duplicate_left_does_not_remove_a_user_who_came_back() {
        let state = room([
            list(1, vec![user(2, "Bob")]),
            left(2, user(2, "Bob")),
            join(3, user(2, "Bob")),
            left(2, user(2, "Bob")),
        ]);
        assert_eq!(user_ids(&state), [2]);
    }

    #[test]
    fn server_error_becomes_a_notice_not_a_log_line() {
        let mut state = room([message(
            4,
            user(1, "Ada"),
            ServerBody::Error("message is too long".into()),
        )]);
        assert!(state.log.is_empty());
        assert_eq!(
            state.notice,
            Some(Notice {
                id: 4,
                text: "message is too long".into()
            })
        );
        state.apply(Action::DismissNotice);
        assert_eq!(state.notice, None);
    }

    #[test]
    fn log_keeps_only_the_newest_lines() {
        let total = MAX_LOG_LINES as u64 + 10;
        let state = room((1..=total).map(|id| chat(id, "x")));
        assert_eq!(state.log.len(), MAX_LOG_LINES);
        assert_eq!(state.log.first().map(|line| line.id), Some(11));
        assert_eq!(state.log.last().map(|line| line.id), Some(total));
    }

    #[test]
    fn status_labels_are_the_exact_texts_shown() {
        assert_eq!(ConnectionStatus::default().label(), "Offline");
        assert_eq!(ConnectionStatus::Connected.label(), "Connected");
        assert_eq!(ConnectionStatus::Reconnecting.label(), "Reconnecting…");
    }

    #[test]
    fn repeating_the_current_status_keeps_the_same_state() {
        let state = Rc::new(RoomState::default());
        let next = Rc::clone(&state).reduce(Action::Status(ConnectionStatus::Offline));
        assert!(Rc::ptr_eq(&state, &next));
        let next = next.reduce(Action::Status(ConnectionStatus::Connected));
        assert_eq!(next.status, ConnectionStatus::Connected);
    }
}
