//! "Ada is typing…" under the log: a polite live region, present (and empty) even when
//! nobody types, so screen readers announce each change.

use yew::prelude::*;

use crate::state::typing_text;

#[derive(Properties, PartialEq)]
pub struct TypingStatusProps {
    /// Who types in the open room, in the order they started.
    pub names: Vec<String>,
}

#[component]
pub fn TypingStatus(props: &TypingStatusProps) -> Html {
    let names: Vec<&str> = props.names.iter().map(String::as_str).collect();
    html! {
        <p class="typing" role="status" aria-live="polite">
            { typing_text(&names).unwrap_or_default() }
        </p>
    }
}
