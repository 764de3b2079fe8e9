//! The routes and the providers around them. Which page a visitor may see is decided here,
//! in one place, from the session.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::Replace;
use crate::hooks::{use_session, Session, SessionProvider};
use crate::pages::{RoomPage, SignInPage, Target};

/// Every address the app answers; the server sends all of them `index.html`.
#[derive(Debug, Clone, PartialEq, Routable)]
pub enum Route {
    /// `general`.
    #[at("/")]
    Room,
    /// A room by its slug.
    #[at("/r/:slug")]
    Channel { slug: String },
    /// The direct messages with one user, by their id.
    #[at("/dm/:user")]
    Direct { user: u64 },
    #[at("/signin")]
    SignIn,
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// The whole app: routing, with the session available to every page.
#[component]
pub fn App() -> Html {
    html! {
        <BrowserRouter>
            <SessionProvider>
                <Pages />
            </SessionProvider>
        </BrowserRouter>
    }
}

#[component]
fn Pages() -> Html {
    let session = use_session();
    let render = Callback::from(move |route| switch(route, &session));
    html! { <Switch<Route> {render} /> }
}

/// Rooms need a session and the sign-in page needs none; anything else goes to `general`.
fn switch(route: Route, session: &crate::hooks::SessionHandle) -> Html {
    match (session.current(), route) {
        (Session::Checking, _) => html! { <div class="splash" aria-busy="true"></div> },
        (Session::Unknown(error), _) => {
            let session = session.clone();
            let retry = Callback::from(move |_: MouseEvent| session.refresh());
            html! {
                <main class="splash">
                    <div class="signin-card">
                        <h1>{ "Chat" }</h1>
                        <p class="field-error" role="alert">{ error.to_string() }</p>
                        <button type="button" class="button-primary" onclick={retry}>
                            { "Try again" }
                        </button>
                    </div>
                </main>
            }
        }
        // One page for every room, so the socket stays open while the reader moves between them.
        (Session::SignedIn(_), Route::Room) => html! { <RoomPage target={Target::General} /> },
        (Session::SignedIn(_), Route::Channel { slug }) => {
            html! { <RoomPage target={Target::Slug(slug)} /> }
        }
        (Session::SignedIn(_), Route::Direct { user }) => {
            html! { <RoomPage target={Target::Dm(user)} /> }
        }
        (Session::SignedIn(_), _) => html! { <Replace to={Route::Room} /> },
        (Session::SignedOut, Route::SignIn) => html! { <SignInPage /> },
        (Session::SignedOut, _) => html! { <Replace to={Route::SignIn} /> },
    }
}
