//! The chat connection as a context: [`ChatProvider`] owns the socket and the room state
//! for as long as the room is on screen, and [`use_chat`] hands both to the page.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use shared::ClientMessage;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::hooks::use_session;
use crate::services::chat::{ChatConnection, ChatEvent};
use crate::services::{api, outbox};
use crate::state::{Action, Pending, RoomState, OLDER_PAGE};

/// The room and what can be done in it; cheap to clone.
#[derive(Clone, PartialEq)]
pub struct ChatHandle {
    room: UseReducerHandle<RoomState>,
    /// Sends a chat line (already trimmed and checked by the composer). It shows at once as
    /// pending and is delivered whenever the connection allows.
    pub send: Callback<String>,
    /// Hides the current notice.
    pub dismiss_notice: Callback<()>,
    /// Fetches the page of messages before the given id (the first line of the log).
    pub load_older: Callback<u64>,
    /// While disconnected: tries to connect at once rather than after the wait.
    pub retry: Callback<()>,
}

impl ChatHandle {
    /// The current room, for rendering.
    pub fn room(&self) -> &RoomState {
        &self.room
    }
}

#[derive(Properties, PartialEq)]
pub struct ChatProviderProps {
    pub children: Html,
}

/// Connects when mounted and disconnects when unmounted, so only the room page holds a socket.
#[component]
pub fn ChatProvider(props: &ChatProviderProps) -> Html {
    let session = use_session();
    // Only rendered for a signed-in visitor.
    let me = session.user().map_or(0, |user| user.id);
    let room = use_reducer(|| RoomState::new(me, outbox::load(me)));
    let connection: Rc<RefCell<Option<ChatConnection>>> = use_mut_ref(|| None);
    {
        let dispatcher = room.dispatcher();
        let connection = connection.clone();
        let session = session.clone();
        // Messages left unsent when the page last closed go out again with their old ids.
        let unsent = room.outbox.clone();
        use_effect_with(me, move |&me| {
            let on_event = Callback::from(move |event| match event {
                ChatEvent::Status(status) => dispatcher.dispatch(Action::Status(status)),
                ChatEvent::Message(message) => dispatcher.dispatch(Action::Received(message)),
                ChatEvent::SessionEnded => session.ended(),
            });
            let opened = ChatConnection::open(me, on_event);
            for pending in unsent {
                opened.send(ClientMessage::chat_with_cid(pending.text, pending.cid));
            }
            *connection.borrow_mut() = Some(opened);
            move || drop(connection.borrow_mut().take())
        });
    }
    // A copy in the tab's storage survives a reload while offline.
    use_effect_with(room.outbox.clone(), move |outbox| outbox::save(me, outbox));
    let send = {
        let dispatcher = room.dispatcher();
        let connection = connection.clone();
        use_callback((), move |text: String, _| {
            let pending = Pending {
                cid: outbox::new_cid(),
                text,
                queued_at: js_sys::Date::now() as u64,
            };
            let message = ClientMessage::chat_with_cid(pending.text.clone(), pending.cid.clone());
            dispatcher.dispatch(Action::Queued(pending));
            if let Some(connection) = connection.borrow().as_ref() {
                connection.send(message);
            }
        })
    };
    let dismiss_notice = {
        let dispatcher = room.dispatcher();
        use_callback((), move |(), _| dispatcher.dispatch(Action::DismissNotice))
    };
    let load_older = {
        let dispatcher = room.dispatcher();
        // Scroll events come faster than renders: one page at a time.
        let busy = use_memo((), |_| Cell::new(false));
        use_callback((), move |before: u64, _| {
            if busy.replace(true) {
                return;
            }
            let (dispatcher, busy, session) = (dispatcher.clone(), busy.clone(), session.clone());
            dispatcher.dispatch(Action::OlderLoading);
            spawn_local(async move {
                match api::history(before, OLDER_PAGE).await {
                    Ok(messages) => dispatcher.dispatch(Action::OlderLoaded { before, messages }),
                    Err(error) if error.is_signed_out() => session.ended(),
                    Err(_) => dispatcher.dispatch(Action::OlderFailed),
                }
                busy.set(false);
            });
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
        room,
        send,
        dismiss_notice,
        load_older,
        retry,
    };
    html! {
        <ContextProvider<ChatHandle> context={handle}>
            { props.children.clone() }
        </ContextProvider<ChatHandle>>
    }
}

/// The room the page is showing. Must be used below a [`ChatProvider`].
#[hook]
pub fn use_chat() -> ChatHandle {
    use_context::<ChatHandle>().expect("use_chat needs a ChatProvider above it")
}
