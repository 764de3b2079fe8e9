//! Who is online right now, or, while disconnected, who was when last known.

use shared::User;
use yew::prelude::*;

use crate::components::{Avatar, Name};

#[derive(Properties, PartialEq)]
pub struct UserListProps {
    pub users: Vec<User>,
    /// The reader's own id, to mark their entry.
    pub me: Option<u64>,
    /// Not connected: the list is the last one known, not who is online now. It is dimmed
    /// and says so, rather than show everyone as online.
    #[prop_or_default]
    pub stale: bool,
}

/// One `<li>` per user, in the order the server lists them (by id).
#[component]
pub fn UserList(props: &UserListProps) -> Html {
    html! {
        <>
            if props.stale {
                <p id="online-unknown" class="online-unknown">{ "Unknown while offline" }</p>
            }
            <ul
                class={classes!("user-list", props.stale.then_some("user-list-unknown"))}
                aria-label="Online users"
                aria-describedby={props.stale.then_some("online-unknown")}
                aria-busy={props.stale.then_some("true")}
            >
                { for props.users.iter().map(|user| {
                    let mine = props.me == Some(user.id);
                    html! {
                        <li key={user.id} class={classes!("user", mine.then_some("user-me"))}>
                            <Avatar user={user.clone()} small=true />
                            <Name user={user.clone()} class="user-name" />
                        </li>
                    }
                }) }
            </ul>
        </>
    }
}
