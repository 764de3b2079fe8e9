//! One line of the log: a chat message (or one of the reader's still on its way), or a
//! quieter line for an event. Each chat message is an `<article>` of its own, so screen
//! readers move through the log message by message.

use js_sys::{Date, Object, Reflect};
use shared::{ServerBody, ServerMessage};
use wasm_bindgen::JsValue;
use yew::prelude::*;

use crate::components::{Avatar, Name};

#[derive(Properties, PartialEq)]
pub struct MessageItemProps {
    pub message: ServerMessage,
    /// Written by the reader, drawn a little differently.
    pub mine: bool,
    /// Typed here and not yet confirmed by the server: dimmed, with "Sending…" for a time.
    #[prop_or_default]
    pub pending: bool,
    /// Follows its author's previous message closely: no avatar, and the name is only there
    /// for screen readers.
    #[prop_or_default]
    pub continued: bool,
    /// Mentions the reader: drawn so it stands out.
    #[prop_or_default]
    pub highlight: bool,
}

/// Text is always rendered as text nodes, never parsed as HTML.
#[component]
pub fn MessageItem(props: &MessageItemProps) -> Html {
    let message = &props.message;
    let time = use_memo(message.ts, |ts| LocalTime::of(*ts));
    let stamp = html! {
        <time datetime={time.iso.clone()} title={time.full.clone()}>{ &time.short }</time>
    };
    let state = if props.pending {
        html! { <span class="sending">{ "Sending\u{2026}" }</span> }
    } else {
        stamp.clone()
    };
    match &message.body {
        ServerBody::Chat { text, .. } if props.continued => html! {
            <article class={classes!(
                "line",
                "line-chat",
                "line-continued",
                props.mine.then_some("line-mine"),
                props.pending.then_some("line-pending"),
                props.highlight.then_some("line-mention"),
            )}>
                <span class="gutter">{ stamp }</span>
                <div class="bubble">
                    <div class="meta">
                        <span class="visually-hidden">
                            <Name user={message.user.clone()} class="author" />
                        </span>
                        if props.pending {
                            { state }
                        }
                        if props.highlight {
                            <span class="mention-tag">{ "mentions you" }</span>
                        }
                    </div>
                    <p class="text" dir="auto">{ text }</p>
                </div>
            </article>
        },
        ServerBody::Chat { text, .. } => html! {
            <article class={classes!(
                "line",
                "line-chat",
                props.mine.then_some("line-mine"),
                props.pending.then_some("line-pending"),
                props.highlight.then_some("line-mention"),
            )}>
                <Avatar user={message.user.clone()} />
                <div class="bubble">
                    <div class="meta">
                        <Name user={message.user.clone()} class="author" />
                        { state }
                        if props.highlight {
                            <span class="mention-tag">{ "mentions you" }</span>
                        }
                    </div>
                    <p class="text" dir="auto">{ text }</p>
                </div>
            </article>
        },
        ServerBody::Join(text)
        | ServerBody::Left(text)
        | ServerBody::RoomJoin { text, .. }
        | ServerBody::RoomLeave { text, .. } => html! {
            <div class={classes!("line", "line-system", format!("line-{}", message.body.kind()))}>
                <span class="system-text">{ system_text(text, &message.user.name) }</span>
                { stamp }
            </div>
        },
        // Never stored in the log; nothing to draw.
        _ => Html::default(),
    }
}

/// `"<name> joined."` with the name isolated, as on every other line.
fn system_text(text: &str, name: &str) -> Html {
    match text.strip_prefix(name) {
        Some(rest) if !name.is_empty() => html! { <><bdi>{ name }</bdi>{ rest }</> },
        _ => html! { <bdi>{ text }</bdi> },
    }
}

/// A server timestamp in the reader's time zone and locale.
struct LocalTime {
    /// Hours and minutes, shown on the line.
    short: String,
    /// Date and time, shown on hover.
    full: String,
    /// For the `datetime` attribute.
    iso: String,
}

impl LocalTime {
    fn of(ts: u64) -> Self {
        let date = Date::new(&JsValue::from_f64(ts as f64));
        let options = Object::new();
        for (key, value) in [("hour", "numeric"), ("minute", "2-digit")] {
            let _ = Reflect::set(&options, &key.into(), &value.into());
        }
        Self {
            short: date
                .to_locale_time_string_with_options(LOCALE, &options)
                .into(),
            full: date.to_locale_string(LOCALE, &JsValue::UNDEFINED).into(),
            iso: date.to_iso_string().into(),
        }
    }
}

/// Resolves to the browser's own locale.
const LOCALE: &str = "default";
