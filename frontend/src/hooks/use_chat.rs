//! The chat connection as a context: [`ChatProvider`] owns the socket and the chat state
//! for as long as a room page is on screen, whichever room it shows, and [`use_chat`]
//! hands both to the page. The side effects of the state live here too: read markers,
//! typing notes, the tab's title and notifications.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_events::EventListener;
use gloo_timers::callback::Interval;
use shared::{ClientMessage, NewRoom, Room, RoomId, ServerBody, User};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::error::Error;
use crate::hooks::use_session;
use crate::services::chat::{ChatConnection, ChatEvent};
use crate::services::notify::{self, Shown};
use crate::services::{api, outbox};
use crate::state::{typing_due, Action, ChatState, Pending, OLDER_PAGE};

/// What the app is called in the tab's title.
const TITLE: &str = "Chat";

/// The chat and what can be done in it; cheap to clone.
#[derive(Clone, PartialEq)]
pub struct ChatHandle {
    state: UseReducerHandle<ChatState>,
    /// Sends a chat line (already trimmed and checked by the composer) to a room. It shows
    /// at once as pending and is delivered whenever the connection allows.
    pub send: Callback<(RoomId, String)>,
    /// Hides the current notice.
    pub dismiss_notice: Callback<()>,
    /// Fetches the page of a room's messages before the given id.
    pub load_older: Callback<(RoomId, u64)>,
    /// The reader typed in a room's composer; sent at most every 3 s.
    pub typing: Callback<RoomId>,
    /// Changes to the state that come from the page (the room opened, scrolling, HTTP answers).
    pub dispatch: Callback<Action>,
    /// Asks for permission to notify; the answer comes back as `notifications`.
    pub enable_notifications: Callback<()>,
    /// Whether notifications are allowed.
    pub notifications: bool,
    /// While disconnected: tries to connect at once rather than after the wait.
    pub retry: Callback<()>,
}

impl ChatHandle {
    /// The current chat, for rendering.
    pub fn state(&self) -> &ChatState {
        &self.state
    }

    /// Creates a room and adds it to the list.
    pub async fn create_room(&self, room: NewRoom) -> Result<Room, Error> {
        let created = api::create_room(&room).await?;
        self.dispatch.emit(Action::RoomChanged(created.clone()));
        Ok(created)
    }

    /// Joins a public room and adds it to the list.
    pub async fn join(&self, room: RoomId) -> Result<Room, Error> {
        let joined = api::join(room).await?;
        self.dispatch.emit(Action::RoomChanged(joined.clone()));
        Ok(joined)
    }

    /// Leaves a room and takes it off the list.
    pub async fn leave(&self, room: RoomId) -> Result<(), Error> {
        api::leave(room).await?;
        self.dispatch.emit(Action::RoomGone(room));
        Ok(())
    }

    /// Mutes or unmutes a room.
    pub async fn mute(&self, room: RoomId, muted: bool) -> Result<(), Error> {
        let changed = api::mute(room, muted).await?;
        self.dispatch.emit(Action::RoomChanged(changed));
        Ok(())
    }

    /// The DM room with `user`, created the first time.
    pub async fn dm(&self, user: u64) -> Result<Room, Error> {
        let room = api::dm(user).await?;
        self.dispatch.emit(Action::RoomChanged(room.clone()));
        Ok(room)
    }

    /// The public rooms the reader is not in.
    pub async fn directory(&self) -> Result<Vec<Room>, Error> {
        let rooms = api::rooms().await?;
        Ok(rooms.into_iter().filter(|room| !room.member).collect())
    }

    /// A room's members, by name.
    pub async fn members(&self, room: RoomId) -> Result<Vec<User>, Error> {
        api::members(room).await
    }

    /// Adds `user` to a room.
    pub async fn invite(&self, room: RoomId, user: u64) -> Result<(), Error> {
        let changed = api::invite(room, user).await?;
        self.dispatch.emit(Action::RoomChanged(changed));
        Ok(())
    }
}

#[derive(Properties, PartialEq)]
pub struct ChatProviderProps {
    pub children: Html,
}

/// Connects when mounted and disconnects when unmounted, so only the room pages hold a socket.
#[component]
pub fn ChatProvider(props: &ChatProviderProps) -> Html {
    let session = use_session();
    let navigator = use_navigator();
    // Only rendered for a signed-in visitor.
    let me = session.user().map_or(0, |user| user.id);
    let state = use_reducer(|| ChatState::new(me, Vec::new()));
    let connection: Rc<RefCell<Option<ChatConnection>>> = use_mut_ref(|| None);
    // The state as of the last render, for event handlers that decide on it.
    let latest = use_mut_ref(|| state.clone());
    *latest.borrow_mut() = state.clone();
    let shown: Rc<RefCell<Shown>> = use_mut_ref(Shown::default);
    {
        let dispatcher = state.dispatcher();
        let connection = connection.clone();
        let session = session.clone();
        let (latest, shown) = (latest.clone(), shown.clone());
        use_effect_with(me, move |&me| {
            let on_event = Callback::from(move |event| match event {
                ChatEvent::Status(status) => dispatcher.dispatch(Action::Status(status)),
                ChatEvent::Message(message) => {
                    if latest.borrow().notifies(&message) {
                        notify_of(&latest.borrow(), &message, &shown, navigator.clone());
                    }
                    dispatcher.dispatch(Action::Received(message))
                }
                ChatEvent::Signal(signal) => dispatcher.dispatch(Action::Signal {
                    signal,
                    now: js_sys::Date::now(),
                }),
                ChatEvent::Outbox(pending) => dispatcher.dispatch(Action::Outbox(pending)),
                ChatEvent::SessionEnded => session.ended(),
            });
            // Messages left unsent when the page last closed go out again with their old ids.
            let opened = ChatConnection::open(me, outbox::load(me), on_event);
            *connection.borrow_mut() = Some(opened);
            move || drop(connection.borrow_mut().take())
        });
    }
    // A copy in the tab's storage survives a reload while offline.
    use_effect_with(state.outbox.clone(), move |outbox| outbox::save(me, outbox));
    // The open room is seen at its newest line: move the marker, here and on the server.
    {
        let (dispatcher, connection) = (state.dispatcher(), connection.clone());
        use_effect_with(state.read_due(), move |due| {
            if let Some((room, id)) = *due {
                dispatcher.dispatch(Action::Read { room, id });
                if let Some(connection) = connection.borrow().as_ref() {
                    connection.signal(ClientMessage::Read { room, id });
                }
            }
        });
    }
    // "(3) Chat": unread messages in rooms that are not muted.
    use_effect_with(state.unread_total(), |&unread| {
        if let Some(document) = web_sys::window().and_then(|window| window.document()) {
            document.set_title(&match unread {
                0 => TITLE.to_owned(),
                unread => format!("({unread}) {TITLE}"),
            });
        }
    });
    // Whether the tab is hidden decides what counts as seen and what notifies.
    {
        let dispatcher = state.dispatcher();
        use_effect_with((), move |_| {
            let document = web_sys::window().and_then(|window| window.document());
            let listener = document.map(|document| {
                let hidden = document.hidden();
                dispatcher.dispatch(Action::Hidden(hidden));
                let watched = document.clone();
                EventListener::new(&document, "visibilitychange", move |_| {
                    dispatcher.dispatch(Action::Hidden(watched.hidden()));
                })
            });
            move || drop(listener)
        });
    }
    // The room in view has no business keeping a notification up.
    {
        let shown = shown.clone();
        let view = (state.view.room, state.view.hidden);
        use_effect_with(view, move |&(room, hidden)| {
            if let (Some(room), false) = (room, hidden) {
                shown.borrow_mut().close(room);
            }
        });
    }
    // Typing notes expire: look once a second while there are any.
    {
        let dispatcher = state.dispatcher();
        use_effect_with(state.typing.is_empty(), move |&empty| {
            let ticking = (!empty).then(|| {
                Interval::new(1_000, move || {
                    dispatcher.dispatch(Action::Tick(js_sys::Date::now()))
                })
            });
            move || drop(ticking)
        });
    }
    let send = {
        let connection = connection.clone();
        use_callback((), move |(room, text): (RoomId, String), _| {
            let pending = Pending {
                cid: outbox::new_cid(),
                room,
                text,
                queued_at: js_sys::Date::now() as u64,
            };
            if let Some(connection) = connection.borrow().as_ref() {
                connection.send(pending);
            }
        })
    };
    let typing = {
        let connection = connection.clone();
        let last = use_mut_ref(|| None::<(RoomId, f64)>);
        use_callback((), move |room: RoomId, _| {
            let now = js_sys::Date::now();
            let previous = last
                .borrow()
                .filter(|(was, _)| *was == room)
                .map(|(_, at)| at);
            if typing_due(previous, now) {
                *last.borrow_mut() = Some((room, now));
                if let Some(connection) = connection.borrow().as_ref() {
                    connection.signal(ClientMessage::Typing { room });
                }
            }
        })
    };
    let dismiss_notice = {
        let dispatcher = state.dispatcher();
        use_callback((), move |(), _| dispatcher.dispatch(Action::DismissNotice))
    };
    let dispatch = {
        let dispatcher = state.dispatcher();
        use_callback((), move |action, _| dispatcher.dispatch(action))
    };
    let load_older = {
        let dispatcher = state.dispatcher();
        // Scroll events come faster than renders: one page at a time.
        let busy = use_memo((), |_| Cell::new(false));
        let session = session.clone();
        use_callback((), move |(room, before): (RoomId, u64), _| {
            if busy.replace(true) {
                return;
            }
            let (dispatcher, busy, session) = (dispatcher.clone(), busy.clone(), session.clone());
            dispatcher.dispatch(Action::OlderLoading(room));
            spawn_local(async move {
                match api::room_history(room, before, OLDER_PAGE).await {
                    Ok(messages) => dispatcher.dispatch(Action::OlderLoaded {
                        room,
                        before,
                        messages,
                    }),
                    Err(error) if error.is_signed_out() => session.ended(),
                    Err(_) => dispatcher.dispatch(Action::OlderFailed(room)),
                }
                busy.set(false);
            });
        })
    };
    let notifications = use_state(notify::granted);
    let enable_notifications = {
        let notifications = notifications.setter();
        use_callback((), move |(), _| {
            let notifications = notifications.clone();
            spawn_local(async move { notifications.set(notify::request().await) });
        })
    };
    let retry = {
        let connection = connection.clone();
        use_callback((), move |(), _| {
            if let Some(connection) = connection.borrow().as_ref() {
                connection.retry_now();
            }
        })
    };
    let handle = ChatHandle {
        state,
        send,
        dismiss_notice,
        load_older,
        typing,
        dispatch,
        enable_notifications,
        notifications: *notifications,
        retry,
    };
    html! {
        <ContextProvider<ChatHandle> context={handle}>
            { props.children.clone() }
        </ContextProvider<ChatHandle>>
    }
}

/// One notification for the message's room; clicking it opens the room.
fn notify_of(
    state: &ChatState,
    message: &shared::ServerMessage,
    shown: &Rc<RefCell<Shown>>,
    navigator: Option<Navigator>,
) {
    let ServerBody::Chat { text, .. } = &message.body else {
        return;
    };
    let Some(room_id) = message.room_or_general() else {
        return;
    };
    let Some(room) = state.room(room_id) else {
        return;
    };
    let title = match room.kind() {
        shared::RoomKind::Dm => message.user.name.clone(),
        _ => format!("{} in #{}", message.user.name, room.title()),
    };
    let route = route_of(state, room_id);
    shown.borrow_mut().show(room_id, &title, text, move || {
        if let Some(navigator) = &navigator {
            navigator.push(&route);
        }
    });
}

/// The address of a room: `/` for `general`, `/dm/<peer>` for a DM, `/r/<slug>` otherwise.
pub fn route_of(state: &ChatState, room: RoomId) -> Route {
    match state.room(room).and_then(|view| view.info.as_ref()) {
        _ if room == shared::GENERAL => Route::Room,
        Some(info) if info.kind == shared::RoomKind::Dm => match &info.peer {
            Some(peer) => Route::Direct { user: peer.id },
            None => Route::Channel {
                slug: info.slug.clone(),
            },
        },
        Some(info) => Route::Channel {
            slug: info.slug.clone(),
        },
        None => Route::Room,
    }
}

/// The room the page is showing. Must be used below a [`ChatProvider`].
#[hook]
pub fn use_chat() -> ChatHandle {
    use_context::<ChatHandle>().expect("use_chat needs a ChatProvider above it")
}
