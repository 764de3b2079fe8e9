//! Sends the browser to another route without leaving a history entry behind.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;

#[derive(Properties, PartialEq)]
pub struct ReplaceProps {
    pub to: Route,
}

/// Like yew-router's `Redirect`, but replacing the entry so "Back" does not bounce again.
#[component]
pub fn Replace(props: &ReplaceProps) -> Html {
    let navigator = use_navigator();
    use_effect_with(props.to.clone(), move |to| {
        if let Some(navigator) = navigator {
            navigator.replace(to);
        }
    });
    Html::default()
}
