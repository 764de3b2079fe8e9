//! A user's name wherever it appears: isolated from the text around it, so a name holding
//! right-to-left text (or a stray bidi control) cannot reorder what follows it, and marked
//! when the user is a guest, whose name nobody owns.

use shared::User;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct NameProps {
    pub user: User,
    /// Classes for the name itself (not the guest label).
    #[prop_or_default]
    pub class: Classes,
}

/// `<bdi>` isolates the name and takes its direction from the name's own letters.
#[component]
pub fn Name(props: &NameProps) -> Html {
    html! {
        <>
            <bdi class={props.class.clone()}>{ &props.user.name }</bdi>
            if props.user.guest {
                <span class="guest-tag" title="Signed in as a guest: anyone may use this name once it is free">
                    { "guest" }
                </span>
            }
        </>
    }
}
