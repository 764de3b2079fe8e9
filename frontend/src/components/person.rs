//! A user in a list (online users, a room's members): their avatar and name, and for
//! anyone but the reader a button that offers "Message" (a direct message) and, where the
//! list allows it, "Invite".

use shared::User;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::components::{Avatar, Name};

#[derive(Properties, PartialEq)]
pub struct PersonProps {
    pub user: User,
    /// The reader themself: no menu.
    #[prop_or_default]
    pub me: bool,
    /// Offers "Invite" too, which calls this.
    #[prop_or_default]
    pub on_invite: Option<Callback<User>>,
}

/// The menu opens under the name and closes with Escape or a second click.
#[component]
pub fn Person(props: &PersonProps) -> Html {
    let open = use_state(|| false);
    let navigator = use_navigator();
    let user = &props.user;
    if props.me {
        return html! {
            <>
                <Avatar user={user.clone()} small=true />
                <Name user={user.clone()} class="user-name" />
            </>
        };
    }
    let toggle = {
        let open = open.clone();
        Callback::from(move |_: MouseEvent| open.set(!*open))
    };
    let onkeydown = {
        let open = open.clone();
        Callback::from(move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                open.set(false);
            }
        })
    };
    let message = {
        let (open, id) = (open.clone(), user.id);
        Callback::from(move |_: MouseEvent| {
            open.set(false);
            if let Some(navigator) = &navigator {
                navigator.push(&Route::Direct { user: id });
            }
        })
    };
    let invite = props.on_invite.clone().map(|on_invite| {
        let (open, user) = (open.clone(), user.clone());
        Callback::from(move |_: MouseEvent| {
            open.set(false);
            on_invite.emit(user.clone());
        })
    });
    html! {
        <span class="person" {onkeydown}>
            <button type="button" class="person-button" aria-expanded={(*open).to_string()} onclick={toggle}>
                <Avatar user={user.clone()} small=true />
                <Name user={user.clone()} class="user-name" />
            </button>
            if *open {
                <span class="person-menu">
                    <button type="button" class="button-quiet" onclick={message}>{ "Message" }</button>
                    if let Some(invite) = invite {
                        <button type="button" class="button-quiet" onclick={invite}>{ "Invite" }</button>
                    }
                </span>
            }
        </span>
    }
}
