//! The head of the open room: its name and topic, and what can be done with it (members,
//! mute, leave), with the members panel under it.

use shared::{RoomKind, User};
use yew::prelude::*;

use crate::components::Person;

#[derive(Properties, PartialEq)]
pub struct RoomHeaderProps {
    pub title: String,
    pub topic: String,
    pub kind: RoomKind,
    pub member_count: u64,
    pub muted: bool,
    /// `general` and DMs cannot be left.
    pub can_leave: bool,
    /// The room's members, by name, once fetched.
    pub members: Vec<User>,
    pub me: Option<u64>,
    pub on_mute: Callback<bool>,
    pub on_leave: Callback<()>,
    /// The first unread line is somewhere above: offer to jump there.
    #[prop_or_default]
    pub on_jump_unread: Option<Callback<()>>,
    /// Asks the browser for permission to notify; absent once allowed.
    #[prop_or_default]
    pub on_enable_notifications: Option<Callback<()>>,
}

#[component]
pub fn RoomHeader(props: &RoomHeaderProps) -> Html {
    let panel = use_state(|| false);
    let toggle = {
        let panel = panel.clone();
        Callback::from(move |_: MouseEvent| panel.set(!*panel))
    };
    let mute = {
        let (on_mute, muted) = (props.on_mute.clone(), props.muted);
        Callback::from(move |_: MouseEvent| on_mute.emit(!muted))
    };
    let leave = props.on_leave.reform(|_: MouseEvent| ());
    let sigil = if props.kind == RoomKind::Dm { "@" } else { "#" };
    html! {
        <div class="room-head">
            <div class="room-head-text">
                <h2 class="room-head-name">
                    <span class="room-sigil" aria-hidden="true">{ sigil }</span>
                    <bdi>{ &props.title }</bdi>
                </h2>
                if !props.topic.is_empty() {
                    <p class="room-topic" dir="auto">{ &props.topic }</p>
                }
            </div>
            <div class="room-head-actions">
                if let Some(jump) = &props.on_jump_unread {
                    <button type="button" class="button-quiet" onclick={jump.reform(|_: MouseEvent| ())}>
                        { "Jump to first unread" }
                    </button>
                }
                if let Some(enable) = &props.on_enable_notifications {
                    <button type="button" class="button-quiet" onclick={enable.reform(|_: MouseEvent| ())}>
                        { "Enable notifications" }
                    </button>
                }
                <button
                    type="button"
                    class="button-quiet"
                    aria-expanded={(*panel).to_string()}
                    aria-controls="members-panel"
                    onclick={toggle}
                >
                    { format!("Members ({})", props.member_count) }
                </button>
                <button type="button" class="button-quiet" aria-pressed={props.muted.to_string()} onclick={mute}>
                    { "Mute" }
                </button>
                if props.can_leave {
                    <button type="button" class="button-quiet" onclick={leave}>{ "Leave" }</button>
                }
            </div>
            if *panel {
                <section id="members-panel" class="members-panel" aria-label="Members">
                    <ul class="user-list">
                        { for props.members.iter().map(|user| html! {
                            <li key={user.id} class="user">
                                <Person user={user.clone()} me={props.me == Some(user.id)} />
                            </li>
                        }) }
                    </ul>
                </section>
            }
        </div>
    }
}
