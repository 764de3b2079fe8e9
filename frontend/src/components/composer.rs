//! The message box at the bottom of the room: Enter sends, Shift+Enter starts a new line,
//! and `@` offers the room's members (arrow keys, Enter or Tab to pick, Escape to close).

use shared::{User, MAX_TEXT_CHARS};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::state::{complete, mention_at, suggestions};

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
    /// The reader typed and the box is not empty.
    #[prop_or_default]
    pub on_typing: Callback<()>,
    /// Who `@` can mention.
    #[prop_or_default]
    pub members: Vec<User>,
    /// The reader, never offered.
    #[prop_or_default]
    pub me: u64,
}

/// The `@word` being completed: where it starts and ends (in characters), and the pick.
#[derive(Debug, Clone, PartialEq)]
struct Completion {
    at: usize,
    caret: usize,
    query: String,
    chosen: usize,
}

/// Owns only what is being typed; sending is the parent's business.
#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let input = use_node_ref();
    let length = use_state(|| 0_usize);
    let completion = use_state(|| None::<Completion>);
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
        let (length, completion, on_typing) =
            (length.clone(), completion.clone(), props.on_typing.clone());
        Callback::from(move |event: InputEvent| {
            let area: HtmlTextAreaElement = event.target_unchecked_into();
            let value = area.value();
            let count = value.trim().chars().count();
            length.set(count);
            if count > 0 {
                on_typing.emit(());
            }
            let caret = caret_chars(&area, &value);
            completion.set(mention_at(&value, caret).map(|(at, query)| Completion {
                at,
                caret,
                query,
                chosen: 0,
            }));
        })
    };

    let offered: Vec<User> = completion
        .as_ref()
        .map(|open| {
            suggestions(&props.members, &open.query, props.me)
                .into_iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default();

    let pick = {
        let (input, completion) = (input.clone(), completion.clone());
        Callback::from(move |name: String| {
            let (Some(area), Some(open)) = (input.cast::<HtmlTextAreaElement>(), &*completion)
            else {
                return;
            };
            let (text, caret) = complete(&area.value(), open.at, open.caret, &name);
            area.set_value(&text);
            let offset = text.chars().take(caret).map(char::len_utf16).sum::<usize>() as u32;
            let _ = area.set_selection_range(offset, offset);
            let _ = area.focus();
            completion.set(None);
        })
    };

    let onkeydown = {
        let (submit, completion, pick) = (submit.clone(), completion.clone(), pick.clone());
        let offered = offered.clone();
        Callback::from(move |event: KeyboardEvent| {
            if let (Some(open), false) = (&*completion, offered.is_empty()) {
                let last = offered.len() - 1;
                match event.key().as_str() {
                    "ArrowDown" => {
                        event.prevent_default();
                        let chosen = if open.chosen >= last {
                            0
                        } else {
                            open.chosen + 1
                        };
                        completion.set(Some(Completion {
                            chosen,
                            ..open.clone()
                        }));
                        return;
                    }
                    "ArrowUp" => {
                        event.prevent_default();
                        let chosen = if open.chosen == 0 {
                            last
                        } else {
                            open.chosen - 1
                        };
                        completion.set(Some(Completion {
                            chosen,
                            ..open.clone()
                        }));
                        return;
                    }
                    "Enter" | "Tab" if !event.shift_key() => {
                        event.prevent_default();
                        let chosen = offered[open.chosen.min(last)].name.clone();
                        pick.emit(chosen);
                        return;
                    }
                    "Escape" => {
                        event.prevent_default();
                        completion.set(None);
                        return;
                    }
                    _ => {}
                }
            }
            // While an input method is composing, Enter confirms the composition instead.
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                submit.emit(());
            }
        })
    };

    let onsubmit = submit.reform(|event: SubmitEvent| event.prevent_default());

    let too_long = *length > MAX_TEXT_CHARS;
    let listing = !offered.is_empty();
    let chosen = completion.as_ref().map_or(0, |open| open.chosen);
    html! {
        <form class="composer" {onsubmit}>
            <label for="composer-text" class="visually-hidden">{ "Message" }</label>
            if listing {
                <ul id="mention-list" class="mention-list" role="listbox" aria-label="Mention">
                    { for offered.iter().enumerate().map(|(at, user)| {
                        let name = user.name.clone();
                        let onmousedown = pick.reform(move |event: MouseEvent| {
                            event.prevent_default();
                            name.clone()
                        });
                        html! {
                            <li
                                key={user.id}
                                id={format!("mention-{at}")}
                                role="option"
                                aria-selected={(at == chosen).to_string()}
                                {onmousedown}
                            >
                                <bdi>{ &user.name }</bdi>
                            </li>
                        }
                    }) }
                </ul>
            }
            <textarea
                id="composer-text"
                ref={input}
                rows="1"
                placeholder="Write a message…"
                enterkeyhint="send"
                role={listing.then_some("combobox")}
                aria-expanded={listing.then_some("true")}
                aria-controls={listing.then_some("mention-list")}
                aria-activedescendant={listing.then(|| format!("mention-{chosen}"))}
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

/// The caret as a character index (the browser counts UTF-16 units).
fn caret_chars(area: &HtmlTextAreaElement, value: &str) -> usize {
    let units = area
        .selection_start()
        .ok()
        .flatten()
        .unwrap_or(value.len() as u32) as usize;
    let mut seen = 0;
    value
        .chars()
        .take_while(|c| {
            seen += c.len_utf16();
            seen <= units
        })
        .count()
}
