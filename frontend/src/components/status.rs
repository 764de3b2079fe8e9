//! The connection indicator in the header.

use yew::prelude::*;

use crate::state::ConnectionStatus;

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub status: ConnectionStatus,
}

/// A pill whose text is exactly the status label; `role="status"` has it read out on change.
#[component]
pub fn Status(props: &StatusProps) -> Html {
    let kind = match props.status {
        ConnectionStatus::Connected => "status-connected",
        ConnectionStatus::Reconnecting => "status-reconnecting",
        ConnectionStatus::Offline => "status-offline",
    };
    html! {
        <span class={classes!("status", kind)} role="status">{ props.status.label() }</span>
    }
}
