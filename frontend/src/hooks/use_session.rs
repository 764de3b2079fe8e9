//! Who is signed in: the [`SessionProvider`] that asks the server once at start-up, the
//! [`use_session`] hook every page reads it through, and [`use_sign_in`] for the form.

use shared::User;
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

/// A sign-in form's view of its request.
#[derive(Clone, PartialEq)]
pub struct SignInHandle {
    /// A request is on its way; the form should not send another.
    pub pending: bool,
    /// Why the last try failed, in words for the user (usually the server's name rule).
    pub error: Option<String>,
    /// Sends the name to the server; on success the session becomes signed in.
    pub submit: Callback<String>,
}

/// Sign-in requests for a form, feeding their result into the session.
#[hook]
pub fn use_sign_in() -> SignInHandle {
    let session = use_session().session.setter();
    let pending = use_state(|| false);
    let error = use_state(|| None::<String>);
    let submit = {
        let (pending, error) = (pending.clone(), error.clone());
        use_callback((), move |name: String, _| {
            let (pending, error, session) = (pending.clone(), error.clone(), session.clone());
            pending.set(true);
            // Cleared first so the same complaint twice is announced twice.
            error.set(None);
            spawn_local(async move {
                let result = api::sign_in(&name).await;
                pending.set(false);
                match result {
                    Ok(user) => session.set(Session::SignedIn(user)),
                    Err(failure) => error.set(Some(failure.to_string())),
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
