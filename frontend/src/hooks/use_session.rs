//! Who is signed in: the [`SessionProvider`] that asks the server once at start-up, the
//! [`use_session`] hook every page reads it through, and [`use_sign_in`] for the form that
//! signs in (as a guest or to an account) and registers.

use shared::{ErrorCode, User, PASSWORD_CHARS};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::error::Error;
use crate::services::api;

/// What the client knows about the visitor's session.
#[derive(Debug, Clone, PartialEq)]
pub enum Session {
    /// `GET /api/me` has not answered yet.
    Checking,
    SignedOut,
    SignedIn(User),
    /// `GET /api/me` got no usable answer, so the client cannot tell.
    Unknown(Error),
}

/// The session as shared through context; cheap to clone.
#[derive(Clone, PartialEq)]
pub struct SessionHandle {
    session: UseStateHandle<Session>,
}

impl SessionHandle {
    /// The session as last learned, which decides the page shown.
    pub fn current(&self) -> &Session {
        &self.session
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match &*self.session {
            Session::SignedIn(user) => Some(user),
            _ => None,
        }
    }

    /// Asks the server again who is signed in (start-up, or "try again" after a failure).
    pub fn refresh(&self) {
        let session = self.session.setter();
        session.set(Session::Checking);
        spawn_local(async move {
            session.set(match api::me().await {
                Ok(Some(user)) => Session::SignedIn(user),
                Ok(None) => Session::SignedOut,
                Err(error) => Session::Unknown(error),
            });
        });
    }

    /// Signs out on the server, then locally whatever the answer: the visitor asked to leave.
    pub fn sign_out(&self) {
        let session = self.session.setter();
        spawn_local(async move {
            let _ = api::sign_out().await;
            session.set(Session::SignedOut);
        });
    }

    /// The server no longer accepts this session (the chat socket closed with 4001).
    pub fn ended(&self) {
        self.session.set(Session::SignedOut);
    }
}

#[derive(Properties, PartialEq)]
pub struct SessionProviderProps {
    pub children: Html,
}

/// Holds the session for the whole app and checks it with the server once on start-up.
#[component]
pub fn SessionProvider(props: &SessionProviderProps) -> Html {
    let handle = SessionHandle {
        session: use_state(|| Session::Checking),
    };
    {
        let handle = handle.clone();
        use_effect_with((), move |_| handle.refresh());
    }
    html! {
        <ContextProvider<SessionHandle> context={handle}>
            { props.children.clone() }
        </ContextProvider<SessionHandle>>
    }
}

/// The session of the visitor. Must be used below a [`SessionProvider`].
#[hook]
pub fn use_session() -> SessionHandle {
    use_context::<SessionHandle>().expect("use_session needs a SessionProvider above it")
}

/// Which button of the sign-in form was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// As a guest without a password, to an account with one.
    SignIn,
    /// A new account; needs a password.
    Register,
}

/// What the sign-in form sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub name: String,
    /// Empty for a guest.
    pub password: String,
    pub intent: Intent,
}

/// A sign-in form's view of its request.
#[derive(Clone, PartialEq)]
pub struct SignInHandle {
    /// A request is on its way, sent by this button; the form should not send another.
    pub pending: Option<Intent>,
    /// Why the last try failed; its code tells the form which field is at fault.
    pub error: Option<Error>,
    /// Sends the form to the server; on success the session becomes signed in.
    pub submit: Callback<Credentials>,
}

/// Sign-in and register requests for a form, feeding their result into the session.
#[hook]
pub fn use_sign_in() -> SignInHandle {
    let session = use_session().session.setter();
    let pending = use_state(|| None::<Intent>);
    let error = use_state(|| None::<Error>);
    let submit = {
        let (pending, error) = (pending.clone(), error.clone());
        use_callback((), move |form: Credentials, _| {
            let (pending, error, session) = (pending.clone(), error.clone(), session.clone());
            // Cleared first so the same complaint twice is announced twice.
            error.set(None);
            if let Some(complaint) = check(&form) {
                error.set(Some(complaint));
                return;
            }
            pending.set(Some(form.intent));
            spawn_local(async move {
                let Credentials {
                    name,
                    password,
                    intent,
                } = form;
                let result = match intent {
                    Intent::SignIn => {
                        let password = (!password.is_empty()).then_some(password.as_str());
                        api::sign_in(&name, password).await
                    }
                    Intent::Register => api::register(&name, &password).await,
                };
                pending.set(None);
                match result {
                    Ok(user) => session.set(Session::SignedIn(user)),
                    Err(failure) => error.set(Some(failure)),
                }
            });
        })
    };
    SignInHandle {
        pending: *pending,
        error: (*error).clone(),
        submit,
    }
}

/// What can be said before asking the server: registering needs a password of a valid length.
/// Names are left to the server, whose rules these are.
fn check(form: &Credentials) -> Option<Error> {
    let length = form.password.chars().count();
    (form.intent == Intent::Register && !PASSWORD_CHARS.contains(&length)).then(|| {
        Error::Rejected {
            status: 400,
            code: ErrorCode::BadPassword,
            message: String::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(password: &str, intent: Intent) -> Credentials {
        Credentials {
            name: "Ada".into(),
            password: password.into(),
            intent,
        }
    }

    #[test]
    fn registering_needs_a_password_of_valid_length() {
        assert!(check(&form("", Intent::Register)).is_some());
        assert!(check(&form("short", Intent::Register)).is_some());
        assert!(check(&form(&"x".repeat(129), Intent::Register)).is_some());
        assert_eq!(check(&form("long enough", Intent::Register)), None);
    }

    #[test]
    fn signing_in_leaves_every_judgement_to_the_server() {
        assert_eq!(check(&form("", Intent::SignIn)), None);
        assert_eq!(check(&form("short", Intent::SignIn)), None);
    }
}
