//! The two room dialogs of the sidebar: "New room" (name, topic, public or private) and
//! "Browse rooms" (the public rooms the reader is not in, to join).

use shared::{NewRoom, Room, RoomKind};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::hooks::use_chat;

#[derive(Properties, PartialEq)]
pub struct DialogProps {
    pub on_close: Callback<()>,
}

/// A modal box with a heading that names it; Escape closes it.
#[derive(Properties, PartialEq)]
struct FrameProps {
    title: AttrValue,
    id: AttrValue,
    on_close: Callback<()>,
    children: Html,
}

#[component]
fn Frame(props: &FrameProps) -> Html {
    let onkeydown = {
        let on_close = props.on_close.clone();
        Callback::from(move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                on_close.emit(());
            }
        })
    };
    let heading = format!("{}-title", props.id);
    html! {
        <div class="dialog-backdrop">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby={heading.clone()} {onkeydown}>
                <h2 id={heading}>{ &props.title }</h2>
                { props.children.clone() }
            </div>
        </div>
    }
}

/// Creates a room, then opens it.
#[component]
pub fn NewRoomDialog(props: &DialogProps) -> Html {
    let chat = use_chat();
    let navigator = use_navigator();
    let name = use_node_ref();
    let topic = use_node_ref();
    let private = use_state(|| false);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    {
        let name = name.clone();
        use_effect_with((), move |_| {
            if let Some(input) = name.cast::<HtmlInputElement>() {
                let _ = input.focus();
            }
        });
    }
    let onsubmit = {
        let (name, topic, private, error, busy) = (
            name.clone(),
            topic.clone(),
            private.clone(),
            error.clone(),
            busy.clone(),
        );
        let on_close = props.on_close.clone();
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let value = |node: &NodeRef| {
                node.cast::<HtmlInputElement>()
                    .map(|input| input.value())
                    .unwrap_or_default()
            };
            let room = NewRoom {
                name: value(&name),
                topic: value(&topic),
                kind: if *private {
                    RoomKind::Private
                } else {
                    RoomKind::Public
                },
            };
            let (chat, navigator, error, busy, on_close) = (
                chat.clone(),
                navigator.clone(),
                error.clone(),
                busy.clone(),
                on_close.clone(),
            );
            busy.set(true);
            spawn_local(async move {
                match chat.create_room(room).await {
                    Ok(created) => {
                        on_close.emit(());
                        if let Some(navigator) = navigator {
                            navigator.push(&Route::Channel { slug: created.slug });
                        }
                    }
                    Err(failure) => {
                        busy.set(false);
                        error.set(Some(failure.to_string()));
                    }
                }
            });
        })
    };
    let set_private = |value: bool| {
        let private = private.clone();
        Callback::from(move |_: Event| private.set(value))
    };
    let cancel = props.on_close.reform(|_: MouseEvent| ());
    let invalid = error.is_some();
    html! {
        <Frame title="New room" id="new-room" on_close={props.on_close.clone()}>
            <form class="dialog-form" {onsubmit} novalidate=true>
                <label for="new-room-name">{ "Room name" }</label>
                <input
                    id="new-room-name"
                    ref={name}
                    type="text"
                    autocomplete="off"
                    aria-invalid={invalid.then_some("true")}
                    aria-describedby={invalid.then_some("new-room-error")}
                />
                <label for="new-room-topic">{ "Topic" }</label>
                <input id="new-room-topic" ref={topic} type="text" autocomplete="off" />
                <fieldset class="dialog-choice">
                    <legend>{ "Who can join" }</legend>
                    <label>
                        <input type="radio" name="new-room-kind" checked={!*private} onchange={set_private(false)} />
                        { "Public: anyone can join" }
                    </label>
                    <label>
                        <input type="radio" name="new-room-kind" checked={*private} onchange={set_private(true)} />
                        { "Private: members invite others" }
                    </label>
                </fieldset>
                if let Some(error) = &*error {
                    <p id="new-room-error" class="field-error" role="alert">{ error }</p>
                }
                <div class="dialog-actions">
                    <button type="button" class="button-quiet" onclick={cancel}>{ "Cancel" }</button>
                    <button type="submit" class="button-primary" disabled={*busy}>{ "Create room" }</button>
                </div>
            </form>
        </Frame>
    }
}

/// The public rooms the reader is not in, each with "Join".
#[component]
pub fn BrowseRoomsDialog(props: &DialogProps) -> Html {
    let chat = use_chat();
    let navigator = use_navigator();
    let rooms = use_state(|| None::<Result<Vec<Room>, String>>);
    {
        let (rooms, chat) = (rooms.clone(), chat.clone());
        use_effect_with((), move |_| {
            spawn_local(async move {
                let found = chat.directory().await;
                rooms.set(Some(found.map_err(|failure| failure.to_string())));
            });
        });
    }
    let join = {
        let on_close = props.on_close.clone();
        Callback::from(move |room: Room| {
            let (chat, navigator, on_close) = (chat.clone(), navigator.clone(), on_close.clone());
            spawn_local(async move {
                if let Ok(joined) = chat.join(room.id).await {
                    on_close.emit(());
                    if let Some(navigator) = navigator {
                        navigator.push(&Route::Channel { slug: joined.slug });
                    }
                }
            });
        })
    };
    let close = props.on_close.reform(|_: MouseEvent| ());
    html! {
        <Frame title="Browse rooms" id="browse" on_close={props.on_close.clone()}>
            { match &*rooms {
                None => html! { <p class="dialog-note">{ "Loading rooms\u{2026}" }</p> },
                Some(Err(error)) => html! { <p class="field-error" role="alert">{ error }</p> },
                Some(Ok(list)) if list.is_empty() => {
                    html! { <p class="dialog-note">{ "You are in every public room." }</p> }
                }
                Some(Ok(list)) => html! {
                    <ul class="browse-list" aria-label="Public rooms">
                        { for list.iter().map(|room| {
                            let chosen = room.clone();
                            let onclick = join.reform(move |_: MouseEvent| chosen.clone());
                            html! {
                                <li key={room.id} class="browse-room">
                                    <div>
                                        <bdi class="browse-name">{ &room.name }</bdi>
                                        <span class="browse-meta">
                                            { format!(" · {} members", room.members) }
                                        </span>
                                        if !room.topic.is_empty() {
                                            <p class="browse-topic" dir="auto">{ &room.topic }</p>
                                        }
                                    </div>
                                    <button
                                        type="button"
                                        class="button-primary"
                                        aria-label={format!("Join {}", room.name)}
                                        {onclick}
                                    >
                                        { "Join" }
                                    </button>
                                </li>
                            }
                        }) }
                    </ul>
                },
            } }
            <div class="dialog-actions">
                <button type="button" class="button-quiet" onclick={close}>{ "Close" }</button>
            </div>
        </Frame>
    }
}
