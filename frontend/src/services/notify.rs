//! Desktop notifications: asked for only when the reader clicks "Enable notifications",
//! one per room at a time (the room is the tag, so a newer one replaces the older), and
//! closed when the reader looks at the room.

use std::collections::HashMap;

use gloo_events::EventListener;
use shared::RoomId;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// Whether this browser has notifications at all (not every one does, nor every context).
pub fn supported() -> bool {
    web_sys::window().is_some_and(|window| {
        js_sys::Reflect::has(&window, &"Notification".into()).unwrap_or(false)
    })
}

/// Whether the reader allowed notifications.
pub fn granted() -> bool {
    supported() && Notification::permission() == NotificationPermission::Granted
}

/// Asks the browser's permission; `true` when granted. Only ever called from a click.
pub async fn request() -> bool {
    if !supported() {
        return false;
    }
    let Ok(promise) = Notification::request_permission() else {
        return false;
    };
    let _ = JsFuture::from(promise).await;
    granted()
}

/// The notifications on screen, one per room, with what clicking each does.
#[derive(Default)]
pub struct Shown {
    by_room: HashMap<RoomId, (Notification, EventListener)>,
}

impl Shown {
    /// Shows (or replaces) the notification for `room`; `on_click` runs when it is clicked,
    /// after the tab got the focus.
    pub fn show(&mut self, room: RoomId, title: &str, body: &str, on_click: impl Fn() + 'static) {
        if !granted() {
            return;
        }
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag(&format!("room-{room}"));
        let Ok(notification) = Notification::new_with_options(title, &options) else {
            return;
        };
        let closing = notification.clone();
        let listener = EventListener::new(&notification, "click", move |_| {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
            }
            closing.close();
            on_click();
        });
        if let Some((old, _)) = self.by_room.insert(room, (notification, listener)) {
            old.close();
        }
    }

    /// Closes `room`'s notification: the reader is looking at the room.
    pub fn close(&mut self, room: RoomId) {
        if let Some((notification, _)) = self.by_room.remove(&room) {
            notification.close();
        }
    }
}
