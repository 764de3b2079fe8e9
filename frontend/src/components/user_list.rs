//! Who is online right now. Anyone but the reader can be picked for a direct message (or
//! invited to the open room, when it is private).

use shared::User;
use yew::prelude::*;

use crate::components::Person;

#[derive(Properties, PartialEq)]
pub struct UserListProps {
    pub users: Vec<User>,
    /// The reader's own id, to mark their entry.
    pub me: Option<u64>,
    /// Offered as "Invite" beside "Message" for users not in the open room.
    #[prop_or_default]
    pub on_invite: Option<Callback<User>>,
    /// Who is already in the open room, so nobody is invited twice.
    #[prop_or_default]
    pub members: Vec<u64>,
    /// The connection is down: who is online is not known, so the list is dimmed.
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
                    let on_invite = props
                        .on_invite
                        .clone()
                        .filter(|_| !props.members.contains(&user.id));
                    html! {
                        <li key={user.id} class={classes!("user", mine.then_some("user-me"))}>
                            <Person user={user.clone()} me={mine} {on_invite} />
                        </li>
                    }
                }) }
            </ul>
        </>
    }
}
