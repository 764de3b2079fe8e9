//! The room reducer, pinned rule by rule on the host.

use super::*;

const ME: u64 = 1;

fn user(id: u64, name: &str) -> User {
    User::new(id, name)
}

fn envelope(id: u64, from: User, body: ServerBody) -> ServerMessage {
    ServerMessage {
        id,
        ts: 1_764_070_000_000 + id,
        user: from,
        room: None,
        body,
    }
}

fn message(id: u64, from: User, body: ServerBody) -> Action {
    Action::Received(envelope(id, from, body))
}

fn chat_body(text: &str, cid: Option<&str>) -> ServerBody {
    ServerBody::Chat {
        text: text.into(),
        cid: cid.map(str::to_owned),
        mentions: Vec::new(),
    }
}

fn chat_line(id: u64, text: &str) -> ServerMessage {
    envelope(id, user(2, "Bob"), chat_body(text, None))
}

fn chat(id: u64, text: &str) -> Action {
    Action::Received(chat_line(id, text))
}

fn join_line(id: u64, who: User) -> ServerMessage {
    let text = format!("{} joined.", who.name);
    envelope(id, who, ServerBody::Join(text))
}

fn left_line(id: u64, who: User) -> ServerMessage {
    let text = format!("{} left.", who.name);
    envelope(id, who, ServerBody::Left(text))
}

fn join(id: u64, who: User) -> Action {
    Action::Received(join_line(id, who))
}

fn left(id: u64, who: User) -> Action {
    Action::Received(left_line(id, who))
}

fn list(id: u64, users: Vec<User>) -> Action {
    message(id, user(ME, "Ada"), ServerBody::List(users))
}

fn history(id: u64, messages: Vec<ServerMessage>, truncated: bool) -> Action {
    message(
        id,
        user(ME, "Ada"),
        ServerBody::History {
            messages,
            truncated,
        },
    )
}

fn pending(cid: &str, text: &str) -> Pending {
    Pending {
        cid: cid.into(),
        text: text.into(),
        queued_at: 1_764_070_000_000,
    }
}

fn room(actions: impl IntoIterator<Item = Action>) -> RoomState {
    let mut state = RoomState::new(ME, Vec::new());
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

fn outbox_cids(state: &RoomState) -> Vec<&str> {
    state.outbox.iter().map(|p| p.cid.as_str()).collect()
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
        ServerBody::Error(shared::Refusal::new(
            shared::ErrorCode::BadRequest,
            "message is too long",
        )),
    )]);
    assert!(state.log.is_empty());
    assert_eq!(
        state.notice,
        Some(Notice {
            id: 4,
            text: "The server refused this: message is too long.".into()
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

// ---------- history ----------

#[test]
fn history_is_merged_into_the_log_in_id_order_without_duplicates() {
    let state = room([
        join(20, user(ME, "Ada")),
        list(21, vec![user(ME, "Ada")]),
        history(
            22,
            vec![chat_line(3, "a"), chat_line(5, "b"), chat_line(9, "c")],
            false,
        ),
        chat(5, "b"),
        history(30, vec![chat_line(9, "c"), chat_line(12, "d")], false),
    ]);
    assert_eq!(log_ids(&state), [3, 5, 9, 12, 20]);
}

#[test]
fn join_and_left_inside_history_do_not_touch_who_is_online() {
    let state = room([
        list(10, vec![user(ME, "Ada"), user(2, "Bob")]),
        history(
            11,
            vec![
                left_line(3, user(2, "Bob")),
                join_line(4, user(5, "Eve")),
                chat_line(6, "hi"),
            ],
            false,
        ),
    ]);
    assert_eq!(user_ids(&state), [ME, 2], "only `list` says who is online");
    assert_eq!(log_ids(&state), [3, 4, 6], "but the lines are shown");

    // Even a history whose lines are newer than the last list leaves presence alone.
    let state = room([
        list(1, vec![user(ME, "Ada")]),
        history(9, vec![join_line(5, user(7, "Gil"))], false),
    ]);
    assert_eq!(user_ids(&state), [ME]);
}

#[test]
fn first_history_says_whether_older_messages_exist() {
    let state = room([history(3, vec![chat_line(1, "a")], false)]);
    assert_eq!(state.older, Older::Exhausted);
    let state = room([history(3, vec![chat_line(2, "a")], true)]);
    assert_eq!(state.older, Older::Available);
    let state = room([history(3, vec![], false)]);
    assert_eq!(
        state.older,
        Older::Exhausted,
        "an empty room has nothing older"
    );
}

#[test]
fn a_resumed_history_with_a_gap_drops_the_lines_before_the_gap() {
    let state = room([
        history(10, vec![chat_line(1, "a"), chat_line(2, "b")], false),
        history(2000, vec![chat_line(900, "x"), chat_line(901, "y")], true),
    ]);
    assert_eq!(log_ids(&state), [900, 901]);
    assert_eq!(state.older, Older::Available);
}

#[test]
fn a_resumed_history_without_a_gap_keeps_what_is_known_about_older_messages() {
    let state = room([
        history(10, vec![chat_line(1, "a")], false),
        history(20, vec![chat_line(12, "b")], false),
    ]);
    assert_eq!(log_ids(&state), [1, 12]);
    assert_eq!(state.older, Older::Exhausted);
}

// ---------- the largest broadcast id ----------

#[test]
fn last_broadcast_id_counts_join_left_and_chat_only() {
    let mut state = room([]);
    assert_eq!(state.last_broadcast_id(), None);
    state.apply(join(4, user(2, "Bob")));
    assert_eq!(state.last_broadcast_id(), Some(4));
    state.apply(list(5, vec![user(2, "Bob")]));
    state.apply(message(
        6,
        user(ME, "Ada"),
        ServerBody::Error(shared::Refusal::new(
            shared::ErrorCode::RateLimited,
            "slow down",
        )),
    ));
    state.apply(history(7, vec![], false));
    assert_eq!(
        state.last_broadcast_id(),
        Some(4),
        "list, error and history ids are not broadcasts"
    );
    state.apply(left(8, user(2, "Bob")));
    state.apply(chat(3, "late"));
    assert_eq!(state.last_broadcast_id(), Some(8), "it never goes down");
}

#[test]
fn last_broadcast_id_looks_inside_history() {
    let state = room([history(
        50,
        vec![chat_line(10, "a"), join_line(12, user(3, "Cy"))],
        false,
    )]);
    assert_eq!(state.last_broadcast_id(), Some(12));
    let frame = envelope(
        50,
        user(ME, "Ada"),
        ServerBody::History {
            messages: vec![chat_line(10, "a"), chat_line(12, "b")],
            truncated: false,
        },
    );
    assert_eq!(newest_broadcast_id(&frame), Some(12));
    assert_eq!(newest_broadcast_id(&chat_line(7, "x")), Some(7));
    let list = envelope(9, user(ME, "Ada"), ServerBody::List(vec![]));
    assert_eq!(newest_broadcast_id(&list), None);
}

// ---------- outbox ----------

fn my_chat(id: u64, text: &str, cid: &str) -> Action {
    message(id, user(ME, "Ada"), chat_body(text, Some(cid)))
}

#[test]
fn a_queued_message_waits_in_the_outbox_until_its_broadcast_comes_back() {
    let mut state = room([
        Action::Queued(pending("c1", "hello")),
        Action::Queued(pending("c2", "again")),
    ]);
    assert_eq!(outbox_cids(&state), ["c1", "c2"]);
    assert!(state.log.is_empty(), "pending messages are not log lines");

    state.apply(my_chat(7, "hello", "c1"));
    assert_eq!(outbox_cids(&state), ["c2"]);
    assert_eq!(log_ids(&state), [7], "the real message takes its place");
}

#[test]
fn queuing_the_same_cid_twice_keeps_one_entry() {
    let state = room([
        Action::Queued(pending("c1", "hello")),
        Action::Queued(pending("c1", "hello")),
    ]);
    assert_eq!(outbox_cids(&state), ["c1"]);
}

#[test]
fn only_the_readers_own_broadcast_confirms_an_entry() {
    let state = room([
        Action::Queued(pending("c1", "hello")),
        message(7, user(2, "Bob"), chat_body("hello", Some("c1"))),
    ]);
    assert_eq!(outbox_cids(&state), ["c1"]);
}

#[test]
fn an_entry_confirmed_by_history_or_a_resent_original_leaves_the_outbox() {
    let state = room([
        Action::Queued(pending("c1", "hello")),
        Action::Queued(pending("c2", "there")),
        history(
            20,
            vec![envelope(
                11,
                user(ME, "Ada"),
                chat_body("hello", Some("c1")),
            )],
            false,
        ),
    ]);
    assert_eq!(outbox_cids(&state), ["c2"]);

    // The server answers a resent cid with the stored original: same id, shown once.
    let state = room([
        my_chat(11, "hello", "c1"),
        Action::Queued(pending("c1", "hello")),
        my_chat(11, "hello", "c1"),
    ]);
    assert!(state.outbox.is_empty());
    assert_eq!(log_ids(&state), [11]);
}

#[test]
fn a_resent_original_older_than_the_log_confirms_without_opening_a_gap() {
    let state = room([
        history(300, page(200..300), true),
        Action::Queued(pending("c1", "hello")),
        my_chat(40, "hello", "c1"),
    ]);
    assert!(state.outbox.is_empty());
    assert_eq!(
        state.oldest_id(),
        Some(200),
        "older pages are still fetched from 200"
    );

    // When the log reaches back to the beginning, the line goes where it belongs.
    let state = room([
        history(300, page(1..3), false),
        history(301, page(50..52), false),
        my_chat(40, "hello", "c1"),
    ]);
    assert_eq!(log_ids(&state), [1, 2, 40, 50, 51]);
}

#[test]
fn an_outbox_kept_from_before_is_restored() {
    let state = RoomState::new(ME, vec![pending("c9", "from before")]);
    assert_eq!(outbox_cids(&state), ["c9"]);
}

#[test]
fn a_slow_down_error_keeps_the_message_pending() {
    let state = room([
        Action::Queued(pending("c1", "hello")),
        message(
            4,
            user(ME, "Ada"),
            ServerBody::Error(shared::Refusal::new(
                shared::ErrorCode::RateLimited,
                "slow down: you are sending messages too fast",
            )),
        ),
    ]);
    assert_eq!(outbox_cids(&state), ["c1"]);
    assert!(state.notice.is_some());
}

// ---------- older pages ----------

fn page(ids: impl IntoIterator<Item = u64>) -> Vec<ServerMessage> {
    ids.into_iter().map(|id| chat_line(id, "old")).collect()
}

#[test]
fn an_older_page_goes_on_top_of_the_log() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading,
        Action::OlderLoaded {
            before: 200,
            messages: page(150..200),
        },
    ]);
    assert_eq!(state.log.first().map(|l| l.id), Some(150));
    assert_eq!(state.log.len(), 150);
    assert_eq!(
        state.older,
        Older::Available,
        "a full page: there may be more"
    );
}

#[test]
fn a_short_or_empty_page_is_the_beginning_of_the_conversation() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading,
        Action::OlderLoaded {
            before: 200,
            messages: page(190..200),
        },
    ]);
    assert_eq!(state.older, Older::Exhausted);
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading,
        Action::OlderLoaded {
            before: 200,
            messages: vec![],
        },
    ]);
    assert_eq!(state.older, Older::Exhausted);
    assert_eq!(state.log.len(), 100);
}

#[test]
fn nothing_is_fetched_once_the_beginning_is_known() {
    let state = room([history(3, page(1..3), false), Action::OlderLoading]);
    assert_eq!(state.older, Older::Exhausted);
}

#[test]
fn a_page_for_a_log_that_changed_meanwhile_is_dropped() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading,
        history(5000, page(4000..4100), true),
        Action::OlderLoaded {
            before: 200,
            messages: page(150..200),
        },
    ]);
    assert_eq!(state.log.first().map(|l| l.id), Some(4000));
    assert_eq!(state.older, Older::Available);
}

#[test]
fn a_failed_page_can_be_tried_again() {
    let mut state = room([
        history(300, page(200..300), true),
        Action::OlderLoading,
        Action::OlderFailed,
    ]);
    assert_eq!(state.older, Older::Failed);
    state.apply(Action::OlderLoading);
    assert_eq!(state.older, Older::Loading);
}

#[test]
fn lines_fetched_by_scrolling_up_are_not_trimmed_away() {
    let newest = 1000 + MAX_LOG_LINES as u64;
    let state = room([
        history(5000, page(1000..newest), true),
        Action::OlderLoading,
        Action::OlderLoaded {
            before: 1000,
            messages: page(950..1000),
        },
        chat(newest, "live"),
    ]);
    assert_eq!(state.log.len(), MAX_LOG_LINES + OLDER_PAGE);
    assert_eq!(state.log.first().map(|l| l.id), Some(951));
}
