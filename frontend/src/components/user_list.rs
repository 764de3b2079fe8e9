//! Who is online right now.

use shared::User;
use yew::prelude::*;

use crate::components::{Avatar, Name};

#[derive(Properties, PartialEq)]
pub struct UserListProps {
    pub users: Vec<User>,
    /// The reader's own id, to mark their entry.
    pub me: Option<u64>,
}

/// One `<li>` per user, in the order the server lists them (by id).
#[component]
pub fn UserList(props: &UserListProps) -> Html {
    html! {
        <ul class="user-list" aria-label="Online users">
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
    }
}
