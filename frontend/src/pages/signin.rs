//! `/signin`: join as a guest with just a name, sign in to an account, or register one.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::{use_sign_in, Credentials, Intent};

/// The form only reports what was typed and which button was used; the name and password
/// rules are the server's, and its answer is shown as is under the fields.
#[component]
pub fn SignInPage() -> Html {
    let sign_in = use_sign_in();
    let name = use_node_ref();
    let password = use_node_ref();

    let send = {
        let (name, password) = (name.clone(), password.clone());
        let (submit, pending) = (sign_in.submit.clone(), sign_in.pending.is_some());
        Callback::from(move |intent: Intent| {
            if pending {
                return;
            }
            let value = |field: &NodeRef| {
                field
                    .cast::<HtmlInputElement>()
                    .map(|input| input.value())
                    .unwrap_or_default()
            };
            submit.emit(Credentials {
                name: value(&name),
                password: value(&password),
                intent,
            });
        })
    };
    // Enter in either field signs in, like the first button.
    let onsubmit = send.reform(|event: SubmitEvent| {
        event.prevent_default();
        Intent::SignIn
    });
    let register = send.reform(|_: MouseEvent| Intent::Register);

    let invalid = sign_in.error.is_some();
    let busy = |intent| (sign_in.pending == Some(intent)).then_some("true");
    html! {
        <main class="signin">
            <form class="signin-card" {onsubmit} novalidate=true>
                <div class="brand-mark brand-mark-large" aria-hidden="true"></div>
                <h1>{ "Chat" }</h1>
                <p class="signin-lead">
                    { "Pick a name to join as a guest, or use a password for your own account." }
                </p>
                <div class="field">
                    <label for="signin-name">{ "Name" }</label>
                    <input
                        id="signin-name"
                        ref={name}
                        type="text"
                        name="username"
                        autocomplete="username"
                        autocapitalize="words"
                        spellcheck="false"
                        autofocus=true
                        aria-invalid={invalid.then_some("true")}
                        aria-describedby={invalid.then_some("signin-error")}
                    />
                </div>
                <div class="field">
                    <label for="signin-password">{ "Password" }</label>
                    <input
                        id="signin-password"
                        ref={password}
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        aria-describedby={if invalid { "signin-password-hint signin-error" } else { "signin-password-hint" }}
                    />
                    <p id="signin-password-hint" class="field-hint">
                        { "Optional for guests. Needed to register." }
                    </p>
                </div>
                if let Some(error) = &sign_in.error {
                    <p id="signin-error" class="field-error form-error" role="alert">{ error }</p>
                }
                <div class="signin-actions">
                    <button type="submit" class="button-primary" aria-busy={busy(Intent::SignIn)}>
                        { "Sign in" }
                    </button>
                    <button
                        type="button"
                        class="button-secondary"
                        aria-busy={busy(Intent::Register)}
                        onclick={register}
                    >
                        { "Register" }
                    </button>
                </div>
            </form>
        </main>
    }
}
