//! `/`, `/r/<slug>` and `/dm/<user id>`: the chat, shown only to a signed-in visitor. One
//! page for all rooms, so moving between them keeps the socket and every room's state.

use shared::{RoomId, RoomKind, User, GENERAL, GENERAL_SLUG};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::components::{
    Avatar, BrowseRoomsDialog, Composer, MessageList, Name, NewRoomDialog, Notice, RoomEntry,
    RoomHeader, RoomsNav, Status, TypingStatus, UserList,
};
use crate::hooks::{route_of, use_chat, use_session, ChatProvider};
use crate::state::{collapse_membership, Action, ChatState, ConnectionStatus, Older};

/// Which room an address names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    General,
    Slug(String),
    /// The DM with this user.
    Dm(u64),
}

#[derive(Properties, PartialEq)]
pub struct RoomPageProps {
    pub target: Target,
}

/// The page owns the chat connection: it opens when a room appears and closes when the
/// reader leaves the rooms (signs out).
#[component]
pub fn RoomPage(props: &RoomPageProps) -> Html {
    html! {
        <ChatProvider>
            <Room target={props.target.clone()} />
        </ChatProvider>
    }
}

/// What became of the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Room(RoomId),
    /// The room list (or the DM) has not come yet.
    Waiting,
    /// No such room, or not one of the reader's.
    Missing,
}

fn resolve(state: &ChatState, target: &Target) -> Resolved {
    let found = match target {
        Target::General => Some(GENERAL),
        Target::Slug(slug) if slug == GENERAL_SLUG => Some(GENERAL),
        Target::Slug(slug) => state.room_by_slug(slug),
        Target::Dm(user) => state.dm_with(*user),
    };
    match found {
        Some(room) => Resolved::Room(room),
        None if state.rooms_known() && !matches!(target, Target::Dm(_)) => Resolved::Missing,
        None => Resolved::Waiting,
    }
}

/// Which dialog of the sidebar is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialog {
    NewRoom,
    Browse,
}

#[derive(Properties, PartialEq)]
struct RoomProps {
    target: Target,
}

#[component]
fn Room(props: &RoomProps) -> Html {
    let session = use_session();
    let chat = use_chat();
    let navigator = use_navigator();
    let state = chat.state();
    let me = session.user().cloned();
    let my_id = me.as_ref().map(|user| user.id);
    let resolved = resolve(state, &props.target);
    let current = match resolved {
        Resolved::Room(room) => Some(room),
        _ => None,
    };
    let dialog = use_state(|| None::<Dialog>);
    let drawer = use_state(|| false);
    let problem = use_state(|| None::<String>);
    let members = use_state(Vec::<User>::new);

    // `/dm/<id>` for a DM that is not in the list yet: ask for it (created the first time).
    {
        let (chat, problem) = (chat.clone(), problem.clone());
        let wanted = match (&props.target, resolved, state.rooms_known()) {
            (Target::Dm(user), Resolved::Waiting, true) => Some(*user),
            _ => None,
        };
        use_effect_with(wanted, move |wanted| {
            if let Some(user) = *wanted {
                spawn_local(async move {
                    if let Err(failure) = chat.dm(user).await {
                        problem.set(Some(failure.to_string()));
                    }
                });
            }
        });
    }
    // Opening a room: its divider, the composer's focus, and a history when it has none.
    {
        let (dispatch, problem, drawer) = (chat.dispatch.clone(), problem.clone(), drawer.clone());
        use_effect_with(current, move |current| {
            if let Some(room) = *current {
                problem.set(None);
                drawer.set(false);
                dispatch.emit(Action::Open(room));
                focus_composer();
            }
        });
    }
    {
        let load_older = chat.load_older.clone();
        let view = current.and_then(|room| state.room(room).map(|view| (room, view)));
        let first_page = view.and_then(|(room, view)| {
            let last = view.info.as_ref().map_or(0, |info| info.last_id);
            (view.log.lines.is_empty()
                && matches!(view.log.older, Older::Unknown | Older::Available)
                && last > 0)
                .then_some((room, last + 1))
        });
        use_effect_with(first_page, move |first_page| {
            if let Some(page) = *first_page {
                load_older.emit(page);
            }
        });
    }
    // The members, for the panel and for `@`; again when the count changes.
    {
        let (chat, members) = (chat.clone(), members.clone());
        let count = current
            .and_then(|room| state.room(room))
            .and_then(|view| view.info.as_ref())
            .map(|info| info.members);
        use_effect_with((current, count), move |&(current, _)| {
            if let Some(room) = current {
                spawn_local(async move {
                    if let Ok(found) = chat.members(room).await {
                        members.set(found);
                    }
                });
            }
        });
    }

    let sign_out = {
        let session = session.clone();
        Callback::from(move |_: MouseEvent| session.sign_out())
    };
    let open_dialog = |which: Dialog| {
        let dialog = dialog.clone();
        Callback::from(move |()| dialog.set(Some(which)))
    };
    let close_dialog = {
        let dialog = dialog.clone();
        Callback::from(move |()| dialog.set(None))
    };
    let toggle_drawer = {
        let drawer = drawer.clone();
        Callback::from(move |_: MouseEvent| drawer.set(!*drawer))
    };
    let close_drawer = {
        let drawer = drawer.clone();
        Callback::from(move |()| drawer.set(false))
    };

    let entries = room_entries(state);
    let can_create = me.as_ref().is_some_and(|user| !user.guest);
    let stale = state.status != ConnectionStatus::Connected;
    let view = current.and_then(|room| state.room(room));
    let kind = view.map_or(RoomKind::Public, |view| view.kind());
    let on_invite = current.filter(|_| kind == RoomKind::Private).map(|room| {
        let (chat, problem) = (chat.clone(), problem.clone());
        Callback::from(move |user: User| {
            let (chat, problem) = (chat.clone(), problem.clone());
            spawn_local(async move {
                if let Err(failure) = chat.invite(room, user.id).await {
                    problem.set(Some(failure.to_string()));
                }
            });
        })
    });
    let member_ids: Vec<u64> = members.iter().map(|user| user.id).collect();

    let conversation = match (resolved, current, view) {
        (_, Some(room), Some(view)) => {
            let info = view.info.as_ref();
            let on_mute = {
                let (chat, problem) = (chat.clone(), problem.clone());
                Callback::from(move |muted: bool| {
                    let (chat, problem) = (chat.clone(), problem.clone());
                    spawn_local(async move {
                        if let Err(failure) = chat.mute(room, muted).await {
                            problem.set(Some(failure.to_string()));
                        }
                    });
                })
            };
            let on_leave = {
                let (chat, problem, navigator) = (chat.clone(), problem.clone(), navigator.clone());
                Callback::from(move |()| {
                    let (chat, problem, navigator) =
                        (chat.clone(), problem.clone(), navigator.clone());
                    spawn_local(async move {
                        match chat.leave(room).await {
                            Ok(()) => {
                                if let Some(navigator) = navigator {
                                    navigator.push(&Route::Room);
                                }
                            }
                            Err(failure) => problem.set(Some(failure.to_string())),
                        }
                    });
                })
            };
            let on_jump_unread = view
                .divider
                .map(|_| Callback::from(|()| scroll_to_first_unread()));
            let on_enable_notifications = (!chat.notifications && notify_supported())
                .then(|| chat.enable_notifications.clone());
            let pending: Vec<_> = state
                .outbox
                .iter()
                .filter(|pending| pending.room == room)
                .cloned()
                .collect();
            let typing: Vec<String> = state
                .typing
                .names(room)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let send = chat.send.reform(move |text: String| (room, text));
            let on_typing = chat.typing.reform(move |()| room);
            let on_load_older = chat.load_older.reform(move |before: u64| (room, before));
            let on_at_bottom = chat.dispatch.reform(Action::AtBottom);
            html! {
                <>
                    <RoomHeader
                        title={view.title()}
                        topic={info.map(|info| info.topic.clone()).unwrap_or_default()}
                        {kind}
                        member_count={info.map_or(members.len() as u64, |info| info.members)}
                        muted={view.muted()}
                        can_leave={room != GENERAL && kind != RoomKind::Dm && info.is_some()}
                        members={(*members).clone()}
                        me={my_id}
                        {on_mute}
                        {on_leave}
                        {on_jump_unread}
                        {on_enable_notifications}
                    />
                    <MessageList
                        key={room}
                        lines={collapse_membership(&view.log.lines)}
                        {pending}
                        me={me.clone()}
                        older={view.log.older}
                        {on_load_older}
                        divider={view.divider}
                        {on_at_bottom}
                    />
                    if let Some(notice) = &state.notice {
                        <Notice notice={notice.clone()} on_dismiss={chat.dismiss_notice.clone()} />
                    }
                    <TypingStatus names={typing} />
                    <Composer
                        on_send={send}
                        {on_typing}
                        members={(*members).clone()}
                        me={my_id.unwrap_or_default()}
                        focus_key={room.to_string()}
                    />
                </>
            }
        }
        (Resolved::Missing, _, _) => html! {
            <div class="room-missing">
                <h2>{ "No such room" }</h2>
                <p>{ "It does not exist, or you are not a member. Browse the public rooms to join one." }</p>
            </div>
        },
        _ => html! { <div class="room-missing" aria-busy="true"></div> },
    };

    html! {
        <div class={classes!("room", drawer.then_some("drawer-open"))}>
            <header class="topbar">
                <button
                    type="button"
                    class="button-quiet drawer-toggle"
                    aria-expanded={(*drawer).to_string()}
                    aria-controls="side"
                    onclick={toggle_drawer}
                >
                    { "Rooms" }
                    if state.unread_total() > 0 {
                        <span class="badge">{ state.unread_total() }</span>
                    }
                </button>
                <div class="room-title">
                    <span class="brand-mark" aria-hidden="true"></span>
                    <div>
                        <h1>{ "Chat" }</h1>
                        <p class="room-subtitle">
                            { view.map_or_else(|| "General room".to_owned(), |view| view.title()) }
                        </p>
                    </div>
                </div>
                <Status status={state.status} on_retry={chat.retry.clone()} />
                <div class="me">
                    if let Some(user) = &me {
                        <Avatar user={user.clone()} small=true />
                        <Name user={user.clone()} class="me-name" />
                    }
                    <button type="button" class="button-quiet" onclick={sign_out}>
                        { "Sign out" }
                    </button>
                </div>
            </header>
            <div id="side" class="side">
                <RoomsNav
                    rooms={entries}
                    {current}
                    {can_create}
                    on_new_room={open_dialog(Dialog::NewRoom)}
                    on_browse={open_dialog(Dialog::Browse)}
                    on_navigate={close_drawer}
                />
                <aside class="people" aria-labelledby="people-heading">
                    <h2 id="people-heading">
                        { "Online" }
                        <span class="people-count">{ state.users.len() }</span>
                    </h2>
                    <UserList
                        users={state.users.clone()}
                        me={my_id}
                        {on_invite}
                        members={member_ids}
                        {stale}
                    />
                </aside>
            </div>
            <section class="conversation" aria-label="Conversation">
                if let Some(problem) = &*problem {
                    <p class="field-error" role="alert">{ problem }</p>
                }
                { conversation }
            </section>
            { match *dialog {
                Some(Dialog::NewRoom) => html! { <NewRoomDialog on_close={close_dialog} /> },
                Some(Dialog::Browse) => html! { <BrowseRoomsDialog on_close={close_dialog} /> },
                None => Html::default(),
            } }
        </div>
    }
}

/// The sidebar's entries: `general` first, then rooms by name, then DMs by name.
fn room_entries(state: &ChatState) -> Vec<RoomEntry> {
    let mut entries: Vec<RoomEntry> = state
        .rooms
        .iter()
        .map(|(&id, view)| RoomEntry {
            id,
            title: view.title(),
            kind: view.kind(),
            route: route_of(state, id),
            unread: view.unread,
            mentions: view.mentions,
            muted: view.muted(),
        })
        .collect();
    entries.sort_by_key(|entry| (entry.id != GENERAL, entry.title.to_lowercase()));
    entries
}

fn focus_composer() {
    use wasm_bindgen::JsCast;
    if let Some(area) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id("composer-text"))
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = area.focus();
    }
}

fn scroll_to_first_unread() {
    if let Some(divider) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id("first-unread"))
    {
        divider.scroll_into_view();
    }
}

fn notify_supported() -> bool {
    crate::services::notify::supported()
}
