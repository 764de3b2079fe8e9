//! The message log: newest at the bottom, following new lines unless the reader scrolled up,
//! fetching older pages when the reader reaches the top, and the reader's unsent messages last.

use std::cell::RefCell;
use std::rc::Rc;

use shared::{ServerBody, ServerMessage, User};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Element, ResizeObserver};
use yew::prelude::*;

use crate::components::MessageItem;
use crate::state::{Older, Pending};

/// Within this many pixels of the bottom still counts as "at the bottom".
const STICKY_PIXELS: i32 = 48;
/// Within this many pixels of the top, the page before the first line is fetched.
const FETCH_PIXELS: i32 = 160;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub lines: Vec<ServerMessage>,
    /// The reader's messages not confirmed yet, drawn after the lines.
    #[prop_or_default]
    pub pending: Vec<Pending>,
    /// The reader: their own new line always scrolls into view.
    pub me: Option<User>,
    #[prop_or_default]
    pub older: Older,
    /// Asks for the page before this id (the first line).
    #[prop_or_default]
    pub on_load_older: Callback<u64>,
    /// The read marker when the room was opened: a "New messages" divider goes after it.
    #[prop_or_default]
    pub divider: Option<u64>,
    /// Told whether the reader is at the bottom, each time that changes by scrolling.
    #[prop_or_default]
    pub on_at_bottom: Callback<bool>,
}

/// The log element itself scrolls, so `role="log"` holds exactly the lines, oldest first.
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let log = use_node_ref();
    // Whether the reader is at the bottom; kept outside the state so scrolling does not re-render.
    let pinned = use_mut_ref(|| true);
    // While an older page loads: how far the reader was from the bottom, to stay there after.
    let anchor: Rc<RefCell<Option<i32>>> = use_mut_ref(|| None);
    let unseen = use_state(|| false);
    let first = props.lines.first().map(|line| line.id);
    let me = props.me.as_ref().map(|user| user.id);

    // Asks for the page before the first line, remembering where the reader is.
    let fetch_older = {
        let (anchor, on_load_older, older) =
            (anchor.clone(), props.on_load_older.clone(), props.older);
        move |element: &Element| {
            let Some(first) = first else { return };
            if older == Older::Available && anchor.borrow().is_none() {
                *anchor.borrow_mut() = Some(element.scroll_height() - element.scroll_top());
                on_load_older.emit(first);
            }
        }
    };

    let onscroll = {
        let (log, pinned, unseen) = (log.clone(), pinned.clone(), unseen.clone());
        let fetch_older = fetch_older.clone();
        let on_at_bottom = props.on_at_bottom.clone();
        Callback::from(move |_: Event| {
            if let Some(element) = log.cast::<Element>() {
                let at_bottom = distance_from_bottom(&element) <= STICKY_PIXELS;
                if *pinned.borrow() != at_bottom {
                    on_at_bottom.emit(at_bottom);
                }
                *pinned.borrow_mut() = at_bottom;
                if at_bottom && *unseen {
                    unseen.set(false);
                }
                if element.scroll_top() <= FETCH_PIXELS {
                    fetch_older(&element);
                }
            }
        })
    };

    // After lines came or went: keep the reader where they were reading.
    {
        let (log, pinned, anchor) = (log.clone(), pinned.clone(), anchor.clone());
        let shape = (first, props.older, props.lines.len() + props.pending.len());
        use_effect_with(shape, move |&(_, older, _)| {
            let Some(element) = log.cast::<Element>() else {
                return;
            };
            if older != Older::Loading {
                if let Some(from_bottom) = anchor.borrow_mut().take() {
                    element.set_scroll_top(element.scroll_height() - from_bottom);
                    return;
                }
            }
            if *pinned.borrow() {
                scroll_to_bottom(&element);
            }
            // A log too short to scroll would never reach "the top" by scrolling.
            if element.scroll_height() <= element.client_height() {
                fetch_older(&element);
            }
        });
    }

    // A new line at the bottom: the reader's own always shows, others wait below a button.
    let newest = match props.pending.last() {
        Some(pending) => Some((format!("p-{}", pending.cid), me)),
        None => props
            .lines
            .last()
            .map(|line| (line.id.to_string(), Some(line.user.id))),
    };
    {
        let (log, pinned, unseen) = (log.clone(), pinned.clone(), unseen.clone());
        use_effect_with(newest, move |newest| {
            let Some((_, author)) = newest else { return };
            if *pinned.borrow() || (me.is_some() && *author == me) {
                if let Some(element) = log.cast::<Element>() {
                    scroll_to_bottom(&element);
                    *pinned.borrow_mut() = true;
                }
            } else {
                unseen.set(true);
            }
        });
    }

    // The log shrinks when the composer grows or a phone keyboard opens: keep the newest line in view.
    {
        let (log, pinned) = (log.clone(), pinned.clone());
        use_effect_with((), move |_| {
            let watch = log.cast::<Element>().and_then(|element| {
                let target = element.clone();
                let on_resize = Closure::<dyn FnMut()>::new(move || {
                    if *pinned.borrow() {
                        scroll_to_bottom(&target);
                    }
                });
                let observer = ResizeObserver::new(on_resize.as_ref().unchecked_ref()).ok()?;
                observer.observe(&element);
                Some((observer, on_resize))
            });
            move || {
                if let Some((observer, _on_resize)) = watch {
                    observer.disconnect();
                }
            }
        });
    }

    let jump = {
        let (log, unseen) = (log.clone(), unseen.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(element) = log.cast::<Element>() {
                scroll_to_bottom(&element);
            }
            unseen.set(false);
        })
    };

    let retry = {
        let on_load_older = props.on_load_older.clone();
        let anchor = anchor.clone();
        let log = log.clone();
        Callback::from(move |_: MouseEvent| {
            if let (Some(first), Some(element)) = (first, log.cast::<Element>()) {
                *anchor.borrow_mut() = Some(element.scroll_height() - element.scroll_top());
                on_load_older.emit(first);
            }
        })
    };

    let first_new = first_after(&props.lines, props.divider);
    let mut lines = Vec::with_capacity(props.lines.len() + 1);
    for line in &props.lines {
        if first_new == Some(line.id) {
            lines.push(html! {
                <p key="new-messages" id="first-unread" class="log-divider">
                    <span>{ "New messages" }</span>
                </p>
            });
        }
        lines.push(html! {
            <MessageItem
                key={line.id}
                message={line.clone()}
                mine={me == Some(line.user.id)}
                highlight={mentions(line, me)}
            />
        });
    }

    // Before the first `history` the room is not known to be empty.
    let empty = props.lines.is_empty() && props.pending.is_empty() && props.older != Older::Unknown;
    html! {
        <div class="log-frame">
            <div class="log" role="log" aria-label="Messages" tabindex="0" ref={log} {onscroll}>
                if empty {
                    <p class="log-empty">{ "No messages yet. Say hello!" }</p>
                } else {
                    <OlderMarker older={props.older} {retry} />
                }
                { for lines }
                if let Some(me) = &props.me {
                    { for props.pending.iter().map(|pending| html! {
                        <MessageItem
                            key={format!("p-{}", pending.cid)}
                            message={pending_line(me, pending)}
                            mine=true
                            pending=true
                        />
                    }) }
                }
            </div>
            if *unseen {
                <button type="button" class="jump" onclick={jump}>{ "New messages ↓" }</button>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct OlderMarkerProps {
    older: Older,
    retry: Callback<MouseEvent>,
}

/// The top of the log: what is known about older messages. Always the same height, so the
/// lines below do not move when it changes.
#[component]
fn OlderMarker(props: &OlderMarkerProps) -> Html {
    match props.older {
        Older::Loading => html! { <p class="log-marker">{ "Loading older messages\u{2026}" }</p> },
        Older::Exhausted => {
            html! { <p class="log-marker">{ "Beginning of the conversation" }</p> }
        }
        Older::Failed => html! {
            <p class="log-marker">
                { "Could not load older messages." }
                <button type="button" class="marker-retry" onclick={props.retry.clone()}>
                    { "Try again" }
                </button>
            </p>
        },
        Older::Unknown | Older::Available => {
            html! { <p class="log-marker" aria-hidden="true"></p> }
        }
    }
}

/// A pending message drawn like the line it will become.
fn pending_line(me: &User, pending: &Pending) -> ServerMessage {
    ServerMessage {
        id: 0,
        ts: pending.queued_at,
        user: me.clone(),
        room: None,
        body: ServerBody::Chat {
            text: pending.text.clone(),
            cid: Some(pending.cid.clone()),
            mentions: Vec::new(),
        },
    }
}

/// The first line after the read marker, where the "New messages" divider goes.
fn first_after(lines: &[ServerMessage], read: Option<u64>) -> Option<u64> {
    let read = read?;
    lines.iter().map(|line| line.id).find(|&id| id > read)
}

/// Whether a line mentions the reader.
fn mentions(line: &ServerMessage, me: Option<u64>) -> bool {
    matches!((&line.body, me), (ServerBody::Chat { mentions, .. }, Some(me)) if mentions.contains(&me))
}

fn distance_from_bottom(element: &Element) -> i32 {
    element.scroll_height() - element.scroll_top() - element.client_height()
}

fn scroll_to_bottom(element: &Element) {
    element.set_scroll_top(element.scroll_height());
}
