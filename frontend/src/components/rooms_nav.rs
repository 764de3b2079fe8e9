//! The room list: rooms, then direct messages, each a link named after the room, with
//! unread counts (bold) and mention badges; and the buttons to create and browse rooms.

use shared::{RoomId, RoomKind};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;

/// One entry of the list, as the page computed it from the state.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEntry {
    pub id: RoomId,
    pub title: String,
    pub kind: RoomKind,
    pub route: Route,
    pub unread: u64,
    pub mentions: u64,
    pub muted: bool,
}

#[derive(Properties, PartialEq)]
pub struct RoomsNavProps {
    pub rooms: Vec<RoomEntry>,
    /// The room on screen.
    pub current: Option<RoomId>,
    /// Accounts may create rooms; guests may not.
    pub can_create: bool,
    pub on_new_room: Callback<()>,
    pub on_browse: Callback<()>,
    /// A link was followed (the phone drawer closes).
    #[prop_or_default]
    pub on_navigate: Callback<()>,
}

/// `nav` named "Rooms"; each link's name is exactly the room's name, and the counts sit
/// beside it with their own labels.
#[component]
pub fn RoomsNav(props: &RoomsNavProps) -> Html {
    let (dms, rooms): (Vec<&RoomEntry>, Vec<&RoomEntry>) = props
        .rooms
        .iter()
        .partition(|entry| entry.kind == RoomKind::Dm);
    let item = |entry: &&RoomEntry| {
        html! {
            <RoomLink
                key={entry.id}
                entry={(*entry).clone()}
                current={props.current == Some(entry.id)}
                on_navigate={props.on_navigate.clone()}
            />
        }
    };
    let new_room = props.on_new_room.reform(|_: MouseEvent| ());
    let browse = props.on_browse.reform(|_: MouseEvent| ());
    html! {
        <nav class="rooms-nav" aria-label="Rooms">
            <h2 id="rooms-heading">{ "Rooms" }</h2>
            <ul class="room-list" aria-labelledby="rooms-heading">
                { for rooms.iter().map(item) }
            </ul>
            <div class="rooms-actions">
                if props.can_create {
                    <button type="button" class="button-quiet" onclick={new_room}>
                        <span aria-hidden="true">{ "+ " }</span>{ "New room" }
                    </button>
                }
                <button type="button" class="button-quiet" onclick={browse}>{ "Browse rooms" }</button>
            </div>
            <h2 id="dms-heading">{ "Direct messages" }</h2>
            if dms.is_empty() {
                <p class="rooms-empty">{ "Pick someone in the online list to write to them." }</p>
            } else {
                <ul class="room-list" aria-labelledby="dms-heading">
                    { for dms.iter().map(item) }
                </ul>
            }
        </nav>
    }
}

#[derive(Properties, PartialEq)]
struct RoomLinkProps {
    entry: RoomEntry,
    current: bool,
    on_navigate: Callback<()>,
}

#[component]
fn RoomLink(props: &RoomLinkProps) -> Html {
    let navigator = use_navigator();
    let entry = &props.entry;
    let href = entry.route.to_path();
    let onclick = {
        let (route, on_navigate) = (entry.route.clone(), props.on_navigate.clone());
        Callback::from(move |event: MouseEvent| {
            // Let the browser open a new tab when asked to.
            if event.ctrl_key() || event.meta_key() || event.shift_key() {
                return;
            }
            event.prevent_default();
            if let Some(navigator) = &navigator {
                navigator.push(&route);
            }
            on_navigate.emit(());
        })
    };
    let unread = entry.unread > 0;
    html! {
        <li class={classes!(
            "room-entry",
            unread.then_some("room-unread"),
            props.current.then_some("room-current"),
            entry.muted.then_some("room-muted"),
        )}>
            <a {href} {onclick} aria-current={props.current.then_some("page")}>
                <span class="room-sigil" aria-hidden="true">
                    { if entry.kind == RoomKind::Dm { "@" } else { "#" } }
                </span>
                <bdi class="room-name">{ &entry.title }</bdi>
            </a>
            if entry.mentions > 0 {
                <span class="badge badge-mention" aria-label={count_label(entry.mentions, "mention")}>
                    { format!("@{}", entry.mentions) }
                </span>
            } else if unread {
                <span class="badge" aria-label={count_label(entry.unread, "unread message")}>
                    { entry.unread }
                </span>
            }
        </li>
    }
}

/// "1 mention", "3 unread messages".
fn count_label(count: u64, what: &str) -> String {
    if count == 1 {
        format!("1 {what}")
    } else {
        format!("{count} {what}s")
    }
}
