//! `/signin`: pick a name and join.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::use_sign_in;

/// The form only reports the name; the name rules are the server's, and its answer is shown
/// as is next to the field.
#[component]
pub fn SignInPage() -> Html {
    let sign_in = use_sign_in();
    let input = use_node_ref();

    let onsubmit = {
        let (input, submit, pending) = (input.clone(), sign_in.submit.clone(), sign_in.pending);
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if pending {
                return;
            }
            if let Some(field) = input.cast::<HtmlInputElement>() {
                submit.emit(field.value());
            }
        })
    };

    let invalid = sign_in.error.is_some();
    html! {
        <main class="signin">
            <form class="signin-card" {onsubmit} novalidate=true>
                <div class="brand-mark brand-mark-large" aria-hidden="true"></div>
                <h1>{ "Chat" }</h1>
                <p class="signin-lead">{ "Pick a name to join the room." }</p>
                <div class="field">
                    <label for="signin-name">{ "Name" }</label>
                    <input
                        id="signin-name"
                        ref={input}
                        type="text"
                        autocomplete="nickname"
                        autocapitalize="words"
                        spellcheck="false"
                        autofocus=true
                        aria-invalid={invalid.then_some("true")}
                        aria-describedby={invalid.then_some("signin-error")}
                    />
                    if let Some(error) = &sign_in.error {
                        <p id="signin-error" class="field-error" role="alert">{ error }</p>
                    }
                </div>
                <button type="submit" class="button-primary" aria-busy={sign_in.pending.then_some("true")}>
                    { "Sign in" }
                </button>
            </form>
        </main>
    }
}
