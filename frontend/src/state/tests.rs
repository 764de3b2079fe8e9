//! The chat reducer, pinned rule by rule on the host: first the log of one room (what a
//! server without rooms sends lands in `general`), then rooms, counts and typing.

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

fn room(actions: impl IntoIterator<Item = Action>) -> ChatState {
    let mut state = ChatState::new(ME, Vec::new());
    for action in actions {
        state.apply(action);
    }
    state
}

fn general(state: &ChatState) -> &RoomLog {
    &state.rooms[&GENERAL].log
}

fn log_ids(state: &ChatState) -> Vec<u64> {
    general(state).lines.iter().map(|line| line.id).collect()
}

fn user_ids(state: &ChatState) -> Vec<u64> {
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
    assert!(general(&state).lines.is_empty(), "a list is not a log line");
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
    assert!(general(&state).lines.is_empty());
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
    assert_eq!(general(&state).lines.len(), MAX_LOG_LINES);
    assert_eq!(general(&state).lines.first().map(|line| line.id), Some(11));
    assert_eq!(
        general(&state).lines.last().map(|line| line.id),
        Some(total)
    );
}

#[test]
fn status_labels_are_the_exact_texts_shown() {
    assert_eq!(ConnectionStatus::default().label(), "Offline");
    assert_eq!(ConnectionStatus::Connected.label(), "Connected");
    assert_eq!(ConnectionStatus::Reconnecting.label(), "Reconnecting…");
}

#[test]
fn repeating_the_current_status_keeps_the_same_state() {
    let state = Rc::new(ChatState::default());
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
    assert_eq!(general(&state).older, Older::Exhausted);
    let state = room([history(3, vec![chat_line(2, "a")], true)]);
    assert_eq!(general(&state).older, Older::Available);
    let state = room([history(3, vec![], false)]);
    assert_eq!(
        general(&state).older,
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
    assert_eq!(general(&state).older, Older::Available);
}

#[test]
fn a_resumed_history_without_a_gap_keeps_what_is_known_about_older_messages() {
    let state = room([
        history(10, vec![chat_line(1, "a")], false),
        history(20, vec![chat_line(12, "b")], false),
    ]);
    assert_eq!(log_ids(&state), [1, 12]);
    assert_eq!(general(&state).older, Older::Exhausted);
}

// ---------- the largest broadcast id ----------

#[test]
fn the_newest_broadcast_id_looks_inside_history() {
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

// ---------- older pages ----------

fn page(ids: impl IntoIterator<Item = u64>) -> Vec<ServerMessage> {
    ids.into_iter().map(|id| chat_line(id, "old")).collect()
}

#[test]
fn an_older_page_goes_on_top_of_the_log() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading(GENERAL),
        Action::OlderLoaded {
            room: GENERAL,
            before: 200,
            messages: page(150..200),
        },
    ]);
    assert_eq!(general(&state).lines.first().map(|l| l.id), Some(150));
    assert_eq!(general(&state).lines.len(), 150);
    assert_eq!(
        general(&state).older,
        Older::Available,
        "a full page: there may be more"
    );
}

#[test]
fn a_short_or_empty_page_is_the_beginning_of_the_conversation() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading(GENERAL),
        Action::OlderLoaded {
            room: GENERAL,
            before: 200,
            messages: page(190..200),
        },
    ]);
    assert_eq!(general(&state).older, Older::Exhausted);
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading(GENERAL),
        Action::OlderLoaded {
            room: GENERAL,
            before: 200,
            messages: vec![],
        },
    ]);
    assert_eq!(general(&state).older, Older::Exhausted);
    assert_eq!(general(&state).lines.len(), 100);
}

#[test]
fn nothing_is_fetched_once_the_beginning_is_known() {
    let state = room([history(3, page(1..3), false), Action::OlderLoading(GENERAL)]);
    assert_eq!(general(&state).older, Older::Exhausted);
}

#[test]
fn a_page_for_a_log_that_changed_meanwhile_is_dropped() {
    let state = room([
        history(300, page(200..300), true),
        Action::OlderLoading(GENERAL),
        history(5000, page(4000..4100), true),
        Action::OlderLoaded {
            room: GENERAL,
            before: 200,
            messages: page(150..200),
        },
    ]);
    assert_eq!(general(&state).lines.first().map(|l| l.id), Some(4000));
    assert_eq!(general(&state).older, Older::Available);
}

#[test]
fn a_failed_page_can_be_tried_again() {
    let mut state = room([
        history(300, page(200..300), true),
        Action::OlderLoading(GENERAL),
        Action::OlderFailed(GENERAL),
    ]);
    assert_eq!(general(&state).older, Older::Failed);
    state.apply(Action::OlderLoading(GENERAL));
    assert_eq!(general(&state).older, Older::Loading);
}

#[test]
fn lines_fetched_by_scrolling_up_are_not_trimmed_away() {
    let newest = 1000 + MAX_LOG_LINES as u64;
    let state = room([
        history(5000, page(1000..newest), true),
        Action::OlderLoading(GENERAL),
        Action::OlderLoaded {
            room: GENERAL,
            before: 1000,
            messages: page(950..1000),
        },
        chat(newest, "live"),
    ]);
    assert_eq!(general(&state).lines.len(), MAX_LOG_LINES + OLDER_PAGE);
    assert_eq!(general(&state).lines.first().map(|l| l.id), Some(951));
}

#[test]
fn a_live_line_older_than_a_partial_log_does_not_open_a_gap() {
    let state = room([history(300, page(200..300), true), chat(40, "late")]);
    assert_eq!(
        general(&state).oldest_id(),
        Some(200),
        "older pages still start at 200"
    );

    // When the log reaches back to the beginning, the line goes where it belongs.
    let state = room([
        history(300, page(1..3), false),
        history(301, page(50..52), false),
        chat(40, "hello"),
    ]);
    assert_eq!(log_ids(&state), [1, 2, 40, 50, 51]);
}

// ---------- rooms ----------

const DESIGN: RoomId = 3;
const DM: RoomId = 4;

fn info(id: RoomId, slug: &str, kind: RoomKind) -> Room {
    Room {
        id,
        slug: slug.into(),
        name: slug.to_uppercase(),
        topic: String::new(),
        kind,
        members: 2,
        peer: (kind == RoomKind::Dm).then(|| user(2, "Bob")),
        member: true,
        unread: 0,
        mentions: 0,
        last_id: 10,
        read: 10,
        muted: false,
    }
}

fn rooms_frame(id: u64, rooms: Vec<Room>) -> Action {
    message(id, user(ME, "Ada"), ServerBody::Rooms(rooms))
}

fn three_rooms() -> Action {
    rooms_frame(
        11,
        vec![
            info(GENERAL, "general", RoomKind::Public),
            info(DESIGN, "design", RoomKind::Private),
            info(DM, "dm-1-2", RoomKind::Dm),
        ],
    )
}

fn chat_in(id: u64, room: RoomId, from: User, text: &str, mentions: Vec<u64>) -> Action {
    Action::Received(ServerMessage {
        room: Some(room),
        ..envelope(
            id,
            from,
            ServerBody::Chat {
                text: text.into(),
                cid: None,
                mentions,
            },
        )
    })
}

fn room_history(id: u64, room: RoomId, lines: Vec<ServerMessage>) -> Action {
    Action::Received(ServerMessage {
        room: Some(room),
        ..envelope(
            id,
            user(ME, "Ada"),
            ServerBody::History {
                messages: lines,
                truncated: false,
            },
        )
    })
}

fn in_room(room: RoomId, line: ServerMessage) -> ServerMessage {
    ServerMessage {
        room: Some(room),
        ..line
    }
}

fn counts(state: &ChatState, room: RoomId) -> (u64, u64) {
    let view = &state.rooms[&room];
    (view.unread, view.mentions)
}

#[test]
fn the_rooms_frame_sets_the_room_list_and_its_counts() {
    let mut design = info(DESIGN, "design", RoomKind::Private);
    design.unread = 4;
    design.mentions = 1;
    let state = room([rooms_frame(
        11,
        vec![info(GENERAL, "general", RoomKind::Public), design],
    )]);
    assert_eq!(
        state.rooms.keys().copied().collect::<Vec<_>>(),
        [GENERAL, DESIGN]
    );
    assert_eq!(counts(&state, DESIGN), (4, 1));
    assert_eq!(state.room_by_slug("design"), Some(DESIGN));
    assert!(state.rooms_known());
}

#[test]
fn each_rooms_history_goes_to_its_own_log() {
    let state = room([
        three_rooms(),
        room_history(12, GENERAL, vec![chat_line(5, "g")]),
        room_history(13, DESIGN, vec![in_room(DESIGN, chat_line(7, "d"))]),
    ]);
    assert_eq!(log_ids(&state), [5]);
    assert_eq!(state.rooms[&DESIGN].log.newest_id(), Some(7));
    assert_eq!(state.rooms[&DESIGN].log.older, Older::Exhausted);
}

#[test]
fn a_resumed_history_spreads_over_the_rooms_and_counts_nothing() {
    let state = room([
        three_rooms(),
        history(
            20,
            vec![in_room(DESIGN, chat_line(12, "a")), chat_line(13, "b")],
            false,
        ),
    ]);
    assert_eq!(state.rooms[&DESIGN].log.newest_id(), Some(12));
    assert_eq!(log_ids(&state), [13]);
    assert_eq!(
        counts(&state, DESIGN),
        (0, 0),
        "the rooms frame counted them"
    );
    assert_eq!(
        state.rooms[&DESIGN].log.older,
        Older::Unknown,
        "a resume is not the whole past"
    );
}

#[test]
fn another_users_chat_in_a_room_not_in_view_counts_as_unread() {
    let state = room([
        three_rooms(),
        Action::Open(GENERAL),
        chat_in(20, DESIGN, user(2, "Bob"), "hi", vec![]),
        chat_in(20, DESIGN, user(2, "Bob"), "hi", vec![]),
        chat_in(21, DESIGN, user(ME, "Ada"), "mine", vec![]),
        chat_in(22, GENERAL, user(2, "Bob"), "seen", vec![]),
    ]);
    assert_eq!(counts(&state, DESIGN), (1, 0), "once, and not my own");
    assert_eq!(
        counts(&state, GENERAL),
        (0, 0),
        "the open room at the bottom is read"
    );
    assert_eq!(state.unread_total(), 1);
}

#[test]
fn the_open_room_counts_while_the_reader_is_scrolled_up_or_the_tab_hidden() {
    let state = room([
        three_rooms(),
        Action::Open(DESIGN),
        Action::AtBottom(false),
        chat_in(20, DESIGN, user(2, "Bob"), "a", vec![]),
        Action::AtBottom(true),
        Action::Hidden(true),
        chat_in(21, DESIGN, user(2, "Bob"), "b", vec![]),
    ]);
    assert_eq!(counts(&state, DESIGN), (2, 0));
}

#[test]
fn a_chat_that_mentions_me_counts_as_a_mention() {
    let state = room([
        three_rooms(),
        chat_in(20, DESIGN, user(2, "Bob"), "@Ada look", vec![ME]),
        chat_in(21, DESIGN, user(2, "Bob"), "@Cy look", vec![5]),
    ]);
    assert_eq!(counts(&state, DESIGN), (2, 1));
}

#[test]
fn a_muted_room_does_not_count_in_the_title() {
    let mut muted = info(DESIGN, "design", RoomKind::Private);
    muted.muted = true;
    muted.unread = 5;
    let mut dm = info(DM, "dm", RoomKind::Dm);
    dm.unread = 2;
    let state = room([rooms_frame(11, vec![muted, dm])]);
    assert_eq!(state.unread_total(), 2);
}

#[test]
fn a_read_marker_is_due_when_the_open_room_is_seen_at_its_newest_line() {
    let mut state = room([
        three_rooms(),
        room_history(12, DESIGN, vec![in_room(DESIGN, chat_line(10, "old"))]),
        Action::Open(GENERAL),
        chat_in(20, DESIGN, user(2, "Bob"), "new", vec![ME]),
    ]);
    assert_eq!(state.read_due(), None, "general has nothing new");
    state.apply(Action::Open(DESIGN));
    assert_eq!(state.read_due(), Some((DESIGN, 20)));
    state.apply(Action::AtBottom(false));
    assert_eq!(state.read_due(), None, "not while scrolled up");
    state.apply(Action::AtBottom(true));
    state.apply(Action::Read {
        room: DESIGN,
        id: 20,
    });
    assert_eq!(counts(&state, DESIGN), (0, 0));
    assert_eq!(state.read_due(), None, "sent once");
}

#[test]
fn read_markers_never_move_backwards_and_another_tabs_marker_clears_counts() {
    let mut state = room([
        three_rooms(),
        chat_in(20, DESIGN, user(2, "Bob"), "a", vec![]),
        chat_in(21, DESIGN, user(2, "Bob"), "b", vec![ME]),
        chat_in(22, DESIGN, user(2, "Bob"), "c", vec![]),
    ]);
    state.apply(Action::Signal {
        signal: Signal::Read {
            room: DESIGN,
            last: 21,
        },
        now: 0.0,
    });
    assert_eq!(
        counts(&state, DESIGN),
        (1, 0),
        "only the line after the marker is left"
    );
    state.apply(Action::Read {
        room: DESIGN,
        id: 15,
    });
    assert_eq!(state.rooms[&DESIGN].read, 21);
    assert_eq!(counts(&state, DESIGN), (1, 0));
}

#[test]
fn opening_a_room_puts_the_divider_at_the_read_marker() {
    let state = room([
        three_rooms(),
        room_history(12, DESIGN, vec![in_room(DESIGN, chat_line(10, "old"))]),
        chat_in(20, DESIGN, user(2, "Bob"), "new", vec![]),
        Action::Open(DESIGN),
    ]);
    assert_eq!(state.rooms[&DESIGN].divider, Some(10));
    let state = room([three_rooms(), Action::Open(DESIGN)]);
    assert_eq!(
        state.rooms[&DESIGN].divider, None,
        "nothing new: no divider"
    );
}

#[test]
fn leaving_a_room_removes_it_but_general_stays() {
    let state = room([
        three_rooms(),
        Action::Received(ServerMessage {
            room: Some(DESIGN),
            ..envelope(
                20,
                user(ME, "Ada"),
                ServerBody::RoomLeave {
                    text: "Ada left #design.".into(),
                    by: None,
                },
            )
        }),
        Action::RoomGone(GENERAL),
    ]);
    assert_eq!(
        state.rooms.keys().copied().collect::<Vec<_>>(),
        [GENERAL, DM]
    );
}

#[test]
fn a_dm_is_found_by_the_other_users_id_and_named_after_them() {
    let state = room([three_rooms()]);
    assert_eq!(state.dm_with(2), Some(DM));
    assert_eq!(state.dm_with(9), None);
    assert_eq!(state.rooms[&DM].title(), "Bob");
}

#[test]
fn a_room_joined_later_is_added_and_a_join_line_counts_a_member() {
    let mut state = room([three_rooms()]);
    state.apply(message(
        20,
        user(ME, "Ada"),
        ServerBody::Room(info(9, "ops", RoomKind::Public)),
    ));
    assert!(state.rooms.contains_key(&9));
    state.apply(Action::Received(ServerMessage {
        room: Some(9),
        ..envelope(
            21,
            user(5, "Cy"),
            ServerBody::RoomJoin {
                text: "Cy joined #ops.".into(),
                by: None,
            },
        )
    }));
    assert_eq!(state.rooms[&9].info.as_ref().map(|i| i.members), Some(3));
}

#[test]
fn notifications_are_for_dms_and_mentions_while_hidden_and_never_for_muted_rooms() {
    let line = |room, mentions| ServerMessage {
        room: Some(room),
        ..envelope(
            20,
            user(2, "Bob"),
            ServerBody::Chat {
                text: "x".into(),
                cid: None,
                mentions,
            },
        )
    };
    let mut state = room([three_rooms()]);
    assert!(!state.notifies(&line(DM, vec![])), "the tab is visible");
    state.apply(Action::Hidden(true));
    assert!(state.notifies(&line(DM, vec![])));
    assert!(state.notifies(&line(DESIGN, vec![ME])));
    assert!(!state.notifies(&line(DESIGN, vec![])));
    let mut muted = info(DM, "dm", RoomKind::Dm);
    muted.muted = true;
    state.apply(message(21, user(ME, "Ada"), ServerBody::Room(muted)));
    assert!(!state.notifies(&line(DM, vec![])));
}

// ---------- typing ----------

fn typing(room: RoomId, who: User, now: f64) -> Action {
    Action::Signal {
        signal: Signal::Typing { room, user: who },
        now,
    }
}

#[test]
fn typing_shows_for_six_seconds_then_clears() {
    let mut state = room([three_rooms(), typing(DESIGN, user(2, "Bob"), 1_000.0)]);
    assert_eq!(state.typing.names(DESIGN), ["Bob"]);
    assert!(state.typing.names(GENERAL).is_empty());
    state.apply(Action::Tick(6_999.0));
    assert_eq!(state.typing.names(DESIGN), ["Bob"]);
    state.apply(Action::Tick(7_000.0));
    assert!(state.typing.names(DESIGN).is_empty());
}

#[test]
fn typing_clears_when_that_users_line_arrives() {
    let mut state = room([
        three_rooms(),
        typing(DESIGN, user(2, "Bob"), 1_000.0),
        typing(DESIGN, user(5, "Cy"), 1_000.0),
        typing(DESIGN, user(ME, "Ada"), 1_000.0),
    ]);
    assert_eq!(state.typing.names(DESIGN), ["Bob", "Cy"], "never myself");
    state.apply(chat_in(20, DESIGN, user(2, "Bob"), "done", vec![]));
    assert_eq!(state.typing.names(DESIGN), ["Cy"]);
}

#[test]
fn typing_text_names_one_two_or_several() {
    assert_eq!(typing_text(&[]), None);
    assert_eq!(typing_text(&["Ada"]).as_deref(), Some("Ada is typing…"));
    assert_eq!(
        typing_text(&["Ada", "Bob"]).as_deref(),
        Some("Ada and Bob are typing…")
    );
    assert_eq!(
        typing_text(&["Ada", "Bob", "Cy"]).as_deref(),
        Some("Several people are typing…")
    );
}

#[test]
fn typing_goes_out_at_most_every_three_seconds() {
    assert!(typing_due(None, 0.0));
    assert!(!typing_due(Some(1_000.0), 3_999.0));
    assert!(typing_due(Some(1_000.0), 4_000.0));
}

// ---------- membership lines ----------

fn membership(id: u64, who: User, joined: bool) -> ServerMessage {
    let (verb, body): (&str, fn(String) -> ServerBody) = if joined {
        ("joined", |text| ServerBody::RoomJoin { text, by: None })
    } else {
        ("left", |text| ServerBody::RoomLeave { text, by: None })
    };
    let text = format!("{} {verb} #design.", who.name);
    in_room(DESIGN, envelope(id, who, body(text)))
}

fn texts(lines: &[ServerMessage]) -> Vec<String> {
    lines
        .iter()
        .map(|line| match &line.body {
            ServerBody::Chat { text, .. }
            | ServerBody::RoomJoin { text, .. }
            | ServerBody::RoomLeave { text, .. } => text.clone(),
            _ => String::new(),
        })
        .collect()
}

#[test]
fn consecutive_joins_collapse_into_one_line() {
    let names = ["Ada", "Bob", "Cy", "Di", "Ed"];
    let mut lines: Vec<ServerMessage> = names
        .iter()
        .enumerate()
        .map(|(at, name)| membership(at as u64 + 1, user(at as u64 + 1, name), true))
        .collect();
    lines.push(in_room(DESIGN, chat_line(9, "hello")));
    lines.push(membership(10, user(2, "Bob"), false));
    lines.push(membership(11, user(3, "Cy"), false));
    lines.push(membership(12, user(4, "Di"), true));
    let shown = collapse_membership(&lines);
    assert_eq!(
        texts(&shown),
        [
            "Ada, Bob and 3 others joined #design.",
            "hello",
            "Bob and Cy left #design.",
            "Di joined #design.",
        ]
    );
    assert_eq!(
        shown.iter().map(|line| line.id).collect::<Vec<_>>(),
        [5, 9, 11, 12],
        "a folded line keeps the id of the run's last line"
    );
}

#[test]
fn names_are_listed_in_words() {
    assert_eq!(list_names(&["Ada"]), "Ada");
    assert_eq!(list_names(&["Ada", "Bob"]), "Ada and Bob");
    assert_eq!(list_names(&["Ada", "Bob", "Cy"]), "Ada, Bob and Cy");
    assert_eq!(
        list_names(&["Ada", "Bob", "Cy", "Di"]),
        "Ada, Bob and 2 others"
    );
}
