//! The message log: newest at the bottom, following new lines unless the reader scrolled up.

use shared::ServerMessage;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Element, ResizeObserver};
use yew::prelude::*;

use crate::components::MessageItem;

/// Within this many pixels of the bottom still counts as "at the bottom".
const STICKY_PIXELS: i32 = 48;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub lines: Vec<ServerMessage>,
    /// The reader's own id: their own new line always scrolls into view.
    pub me: Option<u64>,
}

/// The log element itself scrolls, so `role="log"` holds exactly the lines, oldest first.
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let log = use_node_ref();
    // Whether the reader is at the bottom; kept outside the state so scrolling does not re-render.
    let pinned = use_mut_ref(|| true);
    let unseen = use_state(|| false);

    let onscroll = {
        let (log, pinned, unseen) = (log.clone(), pinned.clone(), unseen.clone());
        Callback::from(move |_: Event| {
            if let Some(element) = log.cast::<Element>() {
                let at_bottom = distance_from_bottom(&element) <= STICKY_PIXELS;
                *pinned.borrow_mut() = at_bottom;
                if at_bottom && *unseen {
                    unseen.set(false);
                }
            }
        })
    };

    let last = props.lines.last().map(|line| (line.id, line.user.id));
    {
        let (log, pinned, unseen, me) = (log.clone(), pinned.clone(), unseen.clone(), props.me);
        use_effect_with(last, move |last| {
            let Some((_, author)) = *last else { return };
            if *pinned.borrow() || Some(author) == me {
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

    html! {
        <div class="log-frame">
            <div class="log" role="log" aria-label="Messages" tabindex="0" ref={log} {onscroll}>
                if props.lines.is_empty() {
                    <p class="log-empty">{ "No messages yet. Say hello!" }</p>
                }
                { for props.lines.iter().map(|line| html! {
                    <MessageItem
                        key={line.id}
                        message={line.clone()}
                        mine={props.me == Some(line.user.id)}
                    />
                }) }
            </div>
            if *unseen {
                <button type="button" class="jump" onclick={jump}>{ "New messages ↓" }</button>
            }
        </div>
    }
}

fn distance_from_bottom(element: &Element) -> i32 {
    element.scroll_height() - element.scroll_top() - element.client_height()
}

fn scroll_to_bottom(element: &Element) {
    element.set_scroll_top(element.scroll_height());
}
