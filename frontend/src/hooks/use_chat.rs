//! The chat connection as a context: [`ChatProvider`] owns the socket and the room state
//! for as long as the room is on screen, and [`use_chat`] hands both to the page.

use std::cell::RefCell;
use std::rc::Rc;

use shared::ClientMessage;
use yew::prelude::*;

use crate::hooks::use_session;
use crate::services::chat::{ChatConnection, ChatEvent};
use crate::state::{Action, RoomState};

/// The room and what can be done in it; cheap to clone.
#[derive(Clone, PartialEq)]
pub struct ChatHandle {
    room: UseReducerHandle<RoomState>,
    /// Sends a chat line (already trimmed and checked by the composer).
    pub send: Callback<String>,
    /// Hides the current notice.
    pub dismiss_notice: Callback<()>,
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
    let room = use_reducer(RoomState::default);
    let session = use_session();
    let connection: Rc<RefCell<Option<ChatConnection>>> = use_mut_ref(|| None);
    {
        let dispatcher = room.dispatcher();
        let connection = connection.clone();
        use_effect_with((), move |_| {
            let on_event = Callback::from(move |event| match event {
                ChatEvent::Status(status) => dispatcher.dispatch(Action::Status(status)),
                ChatEvent::Message(message) => dispatcher.dispatch(Action::Received(message)),
                ChatEvent::SessionEnded => session.ended(),
            });
            *connection.borrow_mut() = Some(ChatConnection::open(on_event));
            move || drop(connection.borrow_mut().take())
        });
    }
    let send = {
        let connection = connection.clone();
        use_callback((), move |text: String, _| {
            if let Some(connection) = connection.borrow().as_ref() {
                connection.send(ClientMessage::chat(text));
            }
        })
    };
    let dismiss_notice = {
        let dispatcher = room.dispatcher();
        use_callback((), move |(), _| dispatcher.dispatch(Action::DismissNotice))
    };
    let handle = ChatHandle {
        room,
        send,
        dismiss_notice,
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
