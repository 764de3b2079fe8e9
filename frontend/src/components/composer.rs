//! The message box at the bottom of the room: Enter sends, Shift+Enter starts a new line.

use shared::MAX_TEXT_CHARS;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// The character counter appears once a message gets this close to the limit.
const COUNTER_FROM: usize = MAX_TEXT_CHARS - 200;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// Receives the trimmed text of a message worth sending.
    pub on_send: Callback<String>,
    /// Put the caret in the box when it appears and whenever `focus_key` changes (pass the
    /// open room's id, so opening a room lands in its composer).
    #[prop_or(true)]
    pub autofocus: bool,
    #[prop_or_default]
    pub focus_key: AttrValue,
}

/// Owns only what is being typed; sending is the parent's business.
#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let input = use_node_ref();
    let length = use_state(|| 0_usize);
    {
        let (input, autofocus) = (input.clone(), props.autofocus);
        use_effect_with(props.focus_key.clone(), move |_| {
            if autofocus {
                if let Some(area) = input.cast::<HtmlTextAreaElement>() {
                    let _ = area.focus();
                }
            }
        });
    }

    // Reads the box itself rather than the last render, so nothing typed just before Enter is lost.
    let submit = {
        let (input, length, on_send) = (input.clone(), length.clone(), props.on_send.clone());
        Callback::from(move |()| {
            let Some(area) = input.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let value = area.value();
            let text = value.trim();
            if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return;
            }
            on_send.emit(text.to_owned());
            area.set_value("");
            length.set(0);
        })
    };

    let oninput = {
        let length = length.clone();
        Callback::from(move |event: InputEvent| {
            let area: HtmlTextAreaElement = event.target_unchecked_into();
            length.set(area.value().trim().chars().count());
        })
    };

    let onkeydown = {
        let submit = submit.clone();
        Callback::from(move |event: KeyboardEvent| {
            // While an input method is composing, Enter confirms the composition instead.
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                submit.emit(());
            }
        })
    };

    let onsubmit = submit.reform(|event: SubmitEvent| event.prevent_default());

    let too_long = *length > MAX_TEXT_CHARS;
    html! {
        <form class="composer" {onsubmit}>
            <label for="composer-text" class="visually-hidden">{ "Message" }</label>
            <textarea
                id="composer-text"
                ref={input}
                rows="1"
                placeholder="Write a message…"
                enterkeyhint="send"
                aria-invalid={too_long.then_some("true")}
                aria-describedby={too_long.then_some("composer-hint")}
                {oninput}
                {onkeydown}
            />
            <button type="submit" class="send" disabled={too_long}>{ "Send" }</button>
            // The alert appears once, when the limit is crossed, and its text never changes
            // while it stays, so it is announced once; the count beside it is not live.
            if too_long {
                <p id="composer-hint" class="composer-hint">
                    <span role="alert">{ format!("Too long: at most {MAX_TEXT_CHARS} characters.") }</span>
                    { " " }
                    <span class="composer-over">{ format!("{} over.", *length - MAX_TEXT_CHARS) }</span>
                </p>
            } else if *length >= COUNTER_FROM {
                <p class="composer-count">{ format!("{} / {MAX_TEXT_CHARS}", *length) }</p>
            }
        </form>
    }
}
