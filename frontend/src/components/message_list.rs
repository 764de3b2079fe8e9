//! The message log: newest at the bottom, following new lines unless the reader scrolled up,
//! fetching older pages when the reader reaches the top, and the reader's unsent messages last.
//! Days are separated, and a run of messages by one person shows their name once.
//!
//! Who is online is the online list's business: `join` / `left` lines are not drawn here.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Date;
use shared::{ServerBody, ServerMessage, User};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, MutationObserver, MutationObserverInit, ResizeObserver};
use yew::prelude::*;

use crate::components::{DaySeparator, MessageItem};
use crate::state::{Older, Pending};
use crate::timeline::{layout, local_day, DayLabel, Row, Stamp};

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

/// Whether a line belongs in the log. Presence (`join` / `left`) shows in the online list.
pub fn shown_in_log(line: &ServerMessage) -> bool {
    !matches!(line.body, ServerBody::Join(_) | ServerBody::Left(_))
}

/// Where the reader is, kept outside the component state so scrolling does not re-render.
#[derive(Default)]
struct Reader {
    /// Following the newest line. Only the reader scrolling up clears it: content growing,
    /// lines being confirmed or the browser clamping the scroll position never do.
    pinned: Cell<bool>,
    /// The last scroll position seen, to tell scrolling up from everything else.
    last_top: Cell<i32>,
    /// The newest line id the reader has had in view at the bottom.
    seen: Cell<u64>,
    /// The "New messages" button is on screen.
    showing_jump: Cell<bool>,
}

/// The log element itself scrolls, so `role="log"` holds exactly the lines (and day lines),
/// oldest first.
#[component]
pub fn MessageList(props: &MessageListProps) -> Html {
    let log = use_node_ref();
    let reader = use_memo((), |_| Reader {
        pinned: Cell::new(true),
        ..Reader::default()
    });
    let redraw = use_force_update();
    // While an older page loads: how far the reader was from the bottom, to stay there after.
    let anchor: Rc<RefCell<Option<i32>>> = use_mut_ref(|| None);
    let first = props.lines.first().map(|line| line.id);
    let newest_id = props.lines.last().map_or(0, |line| line.id);
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
        let (log, reader, redraw) = (log.clone(), reader.clone(), redraw.clone());
        let fetch_older = fetch_older.clone();
        let on_at_bottom = props.on_at_bottom.clone();
        Callback::from(move |_: Event| {
            let Some(element) = log.cast::<Element>() else {
                return;
            };
            let top = element.scroll_top();
            let was_pinned = reader.pinned.get();
            if distance_from_bottom(&element) <= STICKY_PIXELS {
                reader.pinned.set(true);
                reader.seen.set(newest_id);
                if reader.showing_jump.get() {
                    redraw.force_update();
                }
            } else if top < reader.last_top.get() {
                reader.pinned.set(false);
            }
            if reader.pinned.get() != was_pinned {
                on_at_bottom.emit(reader.pinned.get());
            }
            reader.last_top.set(top);
            if top <= FETCH_PIXELS {
                fetch_older(&element);
            }
        })
    };

    // After lines came or went: keep the reader where they were reading.
    {
        let (log, reader, anchor) = (log.clone(), reader.clone(), anchor.clone());
        let shape = (first, props.older, props.lines.len() + props.pending.len());
        use_effect_with(shape, move |&(_, older, _)| {
            let Some(element) = log.cast::<Element>() else {
                return;
            };
            if older != Older::Loading {
                if let Some(from_bottom) = anchor.borrow_mut().take() {
                    element.set_scroll_top(element.scroll_height() - from_bottom);
                    reader.last_top.set(element.scroll_top());
                    return;
                }
            }
            if reader.pinned.get() {
                scroll_to_bottom(&element, &reader);
                reader.seen.set(newest_id);
            }
            // A log too short to scroll would never reach "the top" by scrolling.
            if element.scroll_height() <= element.client_height() {
                fetch_older(&element);
            }
        });
    }

    // The reader's own new message always shows, wherever they were.
    let newest_pending = props.pending.last().map(|pending| pending.cid.clone());
    {
        let (log, reader) = (log.clone(), reader.clone());
        use_effect_with(newest_pending, move |newest| {
            if newest.is_some() {
                if let Some(element) = log.cast::<Element>() {
                    reader.pinned.set(true);
                    scroll_to_bottom(&element, &reader);
                }
            }
        });
    }

    // Anything that changes the log's size or content while the reader follows it (a batch
    // of lines, a line confirmed, the composer growing, a phone keyboard) keeps the newest
    // line in view.
    {
        let (log, reader) = (log.clone(), reader.clone());
        use_effect_with((), move |_| {
            let watch = log.cast::<Element>().and_then(|element| {
                let target = element.clone();
                let follow = Closure::<dyn FnMut()>::new(move || {
                    if reader.pinned.get() {
                        scroll_to_bottom(&target, &reader);
                    }
                });
                let resized = ResizeObserver::new(follow.as_ref().unchecked_ref()).ok()?;
                resized.observe(&element);
                let changed = MutationObserver::new(follow.as_ref().unchecked_ref()).ok()?;
                let options = MutationObserverInit::new();
                options.set_child_list(true);
                options.set_subtree(true);
                options.set_character_data(true);
                changed.observe_with_options(&element, &options).ok()?;
                Some((resized, changed, follow))
            });
            move || {
                if let Some((resized, changed, _follow)) = watch {
                    resized.disconnect();
                    changed.disconnect();
                }
            }
        });
    }

    let jump = {
        let (log, reader, redraw) = (log.clone(), reader.clone(), redraw.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(element) = log.cast::<Element>() {
                reader.pinned.set(true);
                reader.seen.set(newest_id);
                scroll_to_bottom(&element, &reader);
            }
            redraw.force_update();
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

    // Others' messages that arrived below while the reader was scrolled up.
    let unseen = if reader.pinned.get() {
        0
    } else {
        let seen = reader.seen.get();
        props
            .lines
            .iter()
            .rev()
            .take_while(|line| line.id > seen)
            .filter(|line| matches!(line.body, ServerBody::Chat { .. }) && Some(line.user.id) != me)
            .count()
    };
    reader.showing_jump.set(unseen > 0);

    let shown: Vec<&ServerMessage> = props.lines.iter().filter(|l| shown_in_log(l)).collect();
    let pending: Vec<ServerMessage> = match &props.me {
        Some(me) => props.pending.iter().map(|p| pending_line(me, p)).collect(),
        None => Vec::new(),
    };
    let all: Vec<&ServerMessage> = shown.iter().copied().chain(pending.iter()).collect();
    let first_new = first_after(&shown, props.divider);
    let rows = layout(all.iter().map(|line| stamp(line)));
    let now = Date::now() as u64;
    let today = local_day(now, offset_at(now));

    // Before the first `history` the room is not known to be empty.
    let empty = all.is_empty() && props.older != Older::Unknown;
    html! {
        <div class="log-frame">
            <div class="log" role="log" aria-label="Messages" tabindex="0" ref={log} {onscroll}>
                if empty {
                    <p class="log-empty">{ "No messages yet. Say hello!" }</p>
                } else {
                    <OlderMarker older={props.older} {retry} />
                }
                { for rows.iter().map(|row| match *row {
                    Row::Day(day) => {
                        let ts = rows_first_ts(&rows, &all, day);
                        html! {
                            <DaySeparator
                                key={format!("d-{day}")}
                                label={DayLabel::of(day, today)}
                                {ts}
                            />
                        }
                    }
                    Row::Line { index, continued } => {
                        let line = all[index];
                        let is_pending = index >= shown.len();
                        let key = match &line.body {
                            ServerBody::Chat { cid: Some(cid), .. } if is_pending => {
                                format!("p-{cid}")
                            }
                            _ => line.id.to_string(),
                        };
                        let divider = !is_pending && first_new == Some(line.id);
                        html! {
                            <>
                                if divider {
                                    <p key="new-messages" id="first-unread" class="log-divider">
                                        <span>{ "New messages" }</span>
                                    </p>
                                }
                                <MessageItem
                                    {key}
                                    message={line.clone()}
                                    mine={me == Some(line.user.id)}
                                    pending={is_pending}
                                    highlight={mentions(line, me)}
                                    {continued}
                                />
                            </>
                        }
                    }
                }) }
            </div>
            if unseen > 0 {
                <button type="button" class="jump" onclick={jump}>
                    { "New messages " }
                    <span class="jump-count">{ unseen }</span>
                    { " ↓" }
                </button>
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

/// What the layout needs to know of a line, in the reader's time zone.
fn stamp(line: &ServerMessage) -> Stamp {
    Stamp {
        author: matches!(line.body, ServerBody::Chat { .. }).then_some(line.user.id),
        ts: line.ts,
        day: local_day(line.ts, offset_at(line.ts)),
    }
}

/// The reader's UTC offset at `ts` (it changes with daylight saving time).
fn offset_at(ts: u64) -> f64 {
    Date::new(&JsValue::from_f64(ts as f64)).get_timezone_offset()
}

/// The time of the first line on `day`, for the day line's date.
fn rows_first_ts(rows: &[Row], lines: &[&ServerMessage], day: i64) -> u64 {
    rows.iter()
        .skip_while(|row| **row != Row::Day(day))
        .find_map(|row| match row {
            Row::Line { index, .. } => Some(lines[*index].ts),
            Row::Day(_) => None,
        })
        .unwrap_or_default()
}

/// The first line after the read marker, where the "New messages" divider goes.
fn first_after(lines: &[&ServerMessage], read: Option<u64>) -> Option<u64> {
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

fn scroll_to_bottom(element: &Element, reader: &Reader) {
    element.set_scroll_top(element.scroll_height());
    reader.last_top.set(element.scroll_top());
}
