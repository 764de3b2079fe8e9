//! The line in the log where a new day starts: "Today", "Yesterday" or the date.

use js_sys::{Date, Object, Reflect};
use wasm_bindgen::JsValue;
use yew::prelude::*;

use crate::timeline::DayLabel;

#[derive(Properties, PartialEq)]
pub struct DaySeparatorProps {
    /// How the day reads relative to the reader's today.
    pub label: DayLabel,
    /// Any time on that day (the first line's), for the date.
    pub ts: u64,
}

/// A heading, so a screen reader can move day by day through a long log.
#[component]
pub fn DaySeparator(props: &DaySeparatorProps) -> Html {
    let text = match props.label {
        DayLabel::Today => "Today".to_owned(),
        DayLabel::Yesterday => "Yesterday".to_owned(),
        DayLabel::Date => long_date(props.ts),
    };
    html! {
        <h2 class="day-separator"><span>{ text }</span></h2>
    }
}

/// "Monday, 30 November 2026" in the reader's locale.
fn long_date(ts: u64) -> String {
    let date = Date::new(&JsValue::from_f64(ts as f64));
    let options = Object::new();
    for (key, value) in [
        ("weekday", "long"),
        ("day", "numeric"),
        ("month", "long"),
        ("year", "numeric"),
    ] {
        let _ = Reflect::set(&options, &key.into(), &value.into());
    }
    date.to_locale_date_string("default", &options).into()
}
