//! `/signin`: join as a guest with just a name, sign in to an account, or register one.

use gloo_timers::callback::Interval;
use shared::ErrorCode;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::error::Error;
use crate::hooks::{use_sign_in, Credentials, Intent};

/// A 429 without a wait in it still holds the buttons this long, in seconds.
const DEFAULT_WAIT_SECS: u64 = 60;

/// The field a refusal is about, which is the one marked invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Password,
}

/// Which field is at fault for `error`; `None` when neither is (too many tries, no network).
pub fn field_at_fault(error: &Error) -> Option<Field> {
    match error.code()? {
        ErrorCode::NoAccount | ErrorCode::WrongPassword | ErrorCode::BadPassword => {
            Some(Field::Password)
        }
        ErrorCode::BadName | ErrorCode::NameTaken | ErrorCode::BadRequest => Some(Field::Name),
        _ => None,
    }
}

/// The form only reports what was typed and which button was used; the name and password
/// rules are the server's, and its refusal is shown as a sentence under the fields, with
/// the field it is about marked invalid.
#[component]
pub fn SignInPage() -> Html {
    let sign_in = use_sign_in();
    let name = use_node_ref();
    let password = use_node_ref();
    let seconds_left = use_countdown(sign_in.error.as_ref());
    let blocked = seconds_left > 0;

    let send = {
        let (name, password) = (name.clone(), password.clone());
        let (submit, pending) = (sign_in.submit.clone(), sign_in.pending.is_some());
        Callback::from(move |intent: Intent| {
            if pending || blocked {
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

    let fault = sign_in.error.as_ref().and_then(field_at_fault);
    let invalid = |field| (fault == Some(field)).then_some("true");
    let described = |field| (fault == Some(field)).then_some("signin-error");
    let no_account = sign_in
        .error
        .as_ref()
        .and_then(Error::code)
        .is_some_and(|code| *code == ErrorCode::NoAccount);
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
                        aria-invalid={invalid(Field::Name)}
                        aria-describedby={described(Field::Name)}
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
                        aria-invalid={invalid(Field::Password)}
                        aria-describedby={match described(Field::Password) {
                            Some(error) => format!("signin-password-hint {error}"),
                            None => "signin-password-hint".to_owned(),
                        }}
                    />
                    <p id="signin-password-hint" class="field-hint">
                        { "Optional for guests. Needed to register." }
                    </p>
                </div>
                if let Some(error) = &sign_in.error {
                    <div class="field-error form-error">
                        // Fixed text, so it is announced once; the countdown below is not live.
                        <p id="signin-error" role="alert">{ error.to_string() }</p>
                        if no_account {
                            <button
                                type="button"
                                class="button-link"
                                onclick={register.clone()}
                                disabled={blocked}
                            >
                                { "Register this name" }
                            </button>
                        }
                    </div>
                }
                if blocked {
                    <p class="field-hint signin-wait">
                        { format!("You can try again in {seconds_left} s.") }
                    </p>
                }
                <div class="signin-actions">
                    <button
                        type="submit"
                        class="button-primary"
                        aria-busy={busy(Intent::SignIn)}
                        disabled={blocked}
                    >
                        { "Sign in" }
                    </button>
                    <button
                        type="button"
                        class="button-secondary"
                        aria-busy={busy(Intent::Register)}
                        disabled={blocked}
                        onclick={register}
                    >
                        { "Register" }
                    </button>
                </div>
            </form>
        </main>
    }
}

/// Seconds left before a refused-as-too-many form may be sent again; 0 when it may. Ticks
/// while it runs and stops by itself.
#[hook]
fn use_countdown(error: Option<&Error>) -> u64 {
    let wait = match error {
        Some(Error::TooManyAttempts(seconds)) => Some(seconds.unwrap_or(DEFAULT_WAIT_SECS)),
        _ => None,
    };
    // Set when the error arrives (a new error object each time), so equal waits restart it.
    let until = use_state(|| None::<f64>);
    let now = use_state(js_sys::Date::now);
    {
        let (until, now) = (until.clone(), now.clone());
        use_effect_with(error.cloned(), move |_| {
            let start = js_sys::Date::now();
            now.set(start);
            until.set(wait.map(|seconds| start + seconds as f64 * 1000.0));
        });
    }
    {
        let now = now.clone();
        use_effect_with(*until, move |until| {
            let ticking = until.map(|_| Interval::new(250, move || now.set(js_sys::Date::now())));
            move || drop(ticking)
        });
    }
    match *until {
        Some(until) if until > *now => ((until - *now) / 1000.0).ceil() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: ErrorCode) -> Error {
        Error::Rejected {
            status: 401,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn a_password_refusal_marks_the_password_field_not_the_name() {
        for code in [
            ErrorCode::NoAccount,
            ErrorCode::WrongPassword,
            ErrorCode::BadPassword,
        ] {
            assert_eq!(field_at_fault(&refused(code)), Some(Field::Password));
        }
    }

    #[test]
    fn a_name_refusal_marks_the_name_field() {
        for code in [
            ErrorCode::BadName,
            ErrorCode::NameTaken,
            ErrorCode::BadRequest,
        ] {
            assert_eq!(field_at_fault(&refused(code)), Some(Field::Name));
        }
    }

    #[test]
    fn too_many_tries_or_no_network_marks_no_field() {
        assert_eq!(field_at_fault(&Error::TooManyAttempts(Some(5))), None);
        assert_eq!(field_at_fault(&Error::Network), None);
        assert_eq!(field_at_fault(&refused(ErrorCode::Busy)), None);
    }
}
