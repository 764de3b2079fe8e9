//! A short-lived notice above the composer, for the server's `error` replies.

use gloo_timers::callback::Timeout;
use yew::prelude::*;

use crate::state;

/// How long a notice stays up unless dismissed sooner.
const NOTICE_MILLIS: u32 = 8_000;

#[derive(Properties, PartialEq)]
pub struct NoticeProps {
    pub notice: state::Notice,
    pub on_dismiss: Callback<()>,
}

/// Announced at once (`role="alert"`) and gone by itself after a few seconds.
#[component]
pub fn Notice(props: &NoticeProps) -> Html {
    {
        let on_dismiss = props.on_dismiss.clone();
        use_effect_with(props.notice.id, move |_| {
            let timeout = Timeout::new(NOTICE_MILLIS, move || on_dismiss.emit(()));
            move || drop(timeout)
        });
    }
    let dismiss = props.on_dismiss.reform(|_: MouseEvent| ());
    html! {
        <div class="notice" role="alert">
            <span class="notice-text">{ &props.notice.text }</span>
            <button type="button" class="notice-close" aria-label="Dismiss" onclick={dismiss}>
                { "×" }
            </button>
        </div>
    }
}
