//! The connection indicator in the header, with "Retry now" while disconnected.

use yew::prelude::*;

use crate::state::ConnectionStatus;

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub status: ConnectionStatus,
    /// Offered as "Retry now" while not connected, when given.
    #[prop_or_default]
    pub on_retry: Option<Callback<()>>,
}

/// A pill whose text is exactly the status label; `role="status"` has it read out on change.
/// The button sits outside the pill so the status text stays just the label.
#[component]
pub fn Status(props: &StatusProps) -> Html {
    let kind = match props.status {
        ConnectionStatus::Connected => "status-connected",
        ConnectionStatus::Reconnecting => "status-reconnecting",
        ConnectionStatus::Offline => "status-offline",
    };
    let retry = props
        .on_retry
        .as_ref()
        .filter(|_| props.status != ConnectionStatus::Connected)
        .map(|on_retry| on_retry.reform(|_: MouseEvent| ()));
    html! {
        <div class="status-area">
            <span class={classes!("status", kind)} role="status">{ props.status.label() }</span>
            if let Some(onclick) = retry {
                <button type="button" class="button-link status-retry" {onclick}>
                    { "Retry now" }
                </button>
            }
        </div>
    }
}
