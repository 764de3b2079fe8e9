//! `/`: the chat room, shown only to a signed-in visitor.

use yew::prelude::*;

use crate::components::{Avatar, Composer, MessageList, Name, Notice, Status, UserList};
use crate::hooks::{use_chat, use_session, ChatProvider};
use crate::state::ConnectionStatus;

/// The page owns the chat connection: it opens when the room appears and closes when it goes.
#[component]
pub fn RoomPage() -> Html {
    html! {
        <ChatProvider>
            <Room />
        </ChatProvider>
    }
}

#[component]
fn Room() -> Html {
    let session = use_session();
    let chat = use_chat();
    let room = chat.room();
    let me = session.user().cloned();
    let my_id = me.as_ref().map(|user| user.id);

    let sign_out = {
        let session = session.clone();
        Callback::from(move |_: MouseEvent| session.sign_out())
    };

    html! {
        <div class="room">
            <header class="topbar">
                <div class="room-title">
                    <span class="brand-mark" aria-hidden="true"></span>
                    <div>
                        <h1>{ "Chat" }</h1>
                        <p class="room-subtitle">{ "General room" }</p>
                    </div>
                </div>
                <Status status={room.status} on_retry={chat.retry.clone()} />
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
            <aside class="people" aria-labelledby="people-heading">
                <h2 id="people-heading">
                    { "Online" }
                    <span class="people-count">{ room.users.len() }</span>
                </h2>
                <UserList
                    users={room.users.clone()}
                    me={my_id}
                    stale={room.status != ConnectionStatus::Connected}
                />
            </aside>
            <section class="conversation" aria-label="Conversation">
                <MessageList
                    lines={room.log.clone()}
                    pending={room.outbox.clone()}
                    me={me.clone()}
                    older={room.older}
                    on_load_older={chat.load_older.clone()}
                />
                if let Some(notice) = &room.notice {
                    <Notice notice={notice.clone()} on_dismiss={chat.dismiss_notice.clone()} />
                }
                <Composer on_send={chat.send.clone()} />
            </section>
        </div>
    }
}
