//! What a person does with rooms: create, browse and join them, open one from the room
//! list (`nav` "Rooms"), read its badges, write to someone directly, and watch who is
//! typing. Found by names and roles, like everything else here.

use crate::{Browser, WAIT};
use fantoccini::elements::Element;
use fantoccini::Locator;
use serde_json::{json, Value};

/// The XPath of the room list's link named `name` (the room's name, or a DM peer's).
fn room_link_xpath(name: &str) -> String {
    format!(
        "//nav[@aria-label='Rooms']//a[normalize-space(.//bdi)={}]",
        crate::browser::xpath_literal(name)
    )
}

impl Browser {
    /// Waits for the link to the room `name` in the room list.
    pub async fn room_link(&self, name: &str) -> Element {
        let xpath = room_link_xpath(name);
        let (this, xpath) = (self, xpath.as_str());
        self.wait_until(
            &format!("a link {name:?} in the room list (nav \"Rooms\")"),
            WAIT,
            move || async move {
                match this.client().find(Locator::XPath(xpath)).await {
                    Ok(found) => Ok(Some(found)),
                    Err(err) if err.is_no_such_element() => Ok(None),
                    Err(err) => Err(err),
                }
            },
        )
        .await
    }

    /// Makes sure the room list shows: on a phone it is a drawer, opened from the header.
    pub async fn show_rooms(&self) {
        let shown = self
            .eval(
                "return getComputedStyle(document.querySelector('nav[aria-label=\"Rooms\"]')).display !== 'none';",
                vec![],
            )
            .await
            .unwrap_or(Value::Bool(true));
        if shown == Value::Bool(false) {
            self.click_button("Rooms").await;
        }
    }

    /// Opens the room `name` from the room list and waits for its heading.
    pub async fn open_room(&self, name: &str) {
        self.show_rooms().await;
        self.room_link(name)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("cannot open the room {name:?}: {err}"));
        self.wait_for_room_heading(name).await;
    }

    /// Waits until the open room's heading (`h2` in the conversation) is `name`.
    pub async fn wait_for_room_heading(&self, name: &str) {
        let this = self;
        self.wait_until(
            &format!("the room heading to read {name:?}"),
            WAIT,
            move || async move {
                let found = this
                    .eval(
                        r#"const h = document.querySelector('[aria-label="Conversation"] h2 bdi');
                           return h ? h.textContent.trim() : null;"#,
                        vec![],
                    )
                    .await?;
                Ok((found == json!(name)).then_some(()))
            },
        )
        .await
    }

    /// The badge beside the room `name` in the list: its text, or `None` without one.
    pub async fn room_badge(&self, name: &str) -> Option<String> {
        let value = self
            .eval(
                r#"const [name] = arguments;
                   const nav = document.querySelector('nav[aria-label="Rooms"]');
                   if (!nav) return null;
                   const link = Array.from(nav.querySelectorAll('a'))
                       .find(a => { const b = a.querySelector('bdi'); return b && b.textContent.trim() === name; });
                   if (!link) return null;
                   const badge = link.parentElement.querySelector('[aria-label]');
                   return badge ? badge.textContent.trim() + '|' + badge.getAttribute('aria-label') : null;"#,
                vec![json!(name)],
            )
            .await
            .unwrap_or(Value::Null);
        value.as_str().map(str::to_owned)
    }

    /// Waits until the room `name` has a badge whose label is `label` ("1 unread message",
    /// "1 mention"), or none when `label` is `None`.
    pub async fn wait_for_room_badge(&self, name: &str, label: Option<&str>) {
        let this = self;
        self.wait_until(
            &format!("the room {name:?} to show the badge {label:?}"),
            WAIT,
            move || async move {
                let badge = this.room_badge(name).await;
                let matches = match (&badge, label) {
                    (None, None) => true,
                    (Some(badge), Some(label)) => badge.ends_with(&format!("|{label}")),
                    _ => false,
                };
                Ok(matches.then_some(()))
            },
        )
        .await
    }

    /// Creates a room with "+ New room" and waits until it is open.
    pub async fn create_room(&self, name: &str, private: bool) {
        self.show_rooms().await;
        self.click_button("+ New room").await;
        self.fill("Room name", name).await;
        if private {
            self.client()
                .find(Locator::XPath(
                    "//label[contains(normalize-space(), 'Private')]/input",
                ))
                .await
                .and_then_click()
                .await;
        }
        self.click_button("Create room").await;
        self.wait_for_room_heading(name).await;
    }

    /// Joins the public room `name` through "Browse rooms" and waits until it is open.
    pub async fn join_room(&self, name: &str) {
        self.show_rooms().await;
        self.click_button("Browse rooms").await;
        let xpath = format!(
            "//button[@aria-label={}]",
            crate::browser::xpath_literal(&format!("Join {name}"))
        );
        let (this, xpath) = (self, xpath.as_str());
        let join = self
            .wait_until(
                &format!("a button \"Join {name}\""),
                WAIT,
                move || async move {
                    match this.client().find(Locator::XPath(xpath)).await {
                        Ok(found) => Ok(Some(found)),
                        Err(err) if err.is_no_such_element() => Ok(None),
                        Err(err) => Err(err),
                    }
                },
            )
            .await;
        join.click()
            .await
            .unwrap_or_else(|err| panic!("cannot join {name:?}: {err}"));
        self.wait_for_room_heading(name).await;
    }

    /// Picks `name` in the online list and chooses "Message".
    pub async fn message_user(&self, name: &str) {
        let xpath = format!(
            "//ul[@aria-label='Online users']//button[contains(normalize-space(), {})]",
            crate::browser::xpath_literal(name)
        );
        self.client()
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|err| panic!("no button for {name:?} in the online list: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("cannot pick {name:?}: {err}"));
        self.click_button("Message").await;
        self.wait_for_room_heading(name).await;
    }

    /// Waits until some `[role="status"]` element reads `text` (`""`: none mentions typing).
    pub async fn wait_for_typing(&self, text: &str) {
        let this = self;
        self.wait_until(
            &format!("a status [role=\"status\"] reading {text:?}"),
            WAIT,
            move || async move {
                let found = this
                    .eval(
                        r#"const [text] = arguments;
                           const all = Array.from(document.querySelectorAll('[role="status"]'))
                               .map(s => s.textContent.trim());
                           return text === ''
                               ? !all.some(t => t.includes('typing'))
                               : all.includes(text);"#,
                        vec![json!(text)],
                    )
                    .await?;
                Ok((found == Value::Bool(true)).then_some(()))
            },
        )
        .await
    }

    /// How far the page is wider than the window, in pixels (0: no horizontal scrolling).
    pub async fn horizontal_overflow(&self) -> i64 {
        self.eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .ok()
        .and_then(|value| value.as_i64())
        .unwrap_or(i64::MAX)
    }

    /// The elements that reach past the right edge of the window, for failure messages.
    pub async fn overflowing_elements(&self) -> String {
        self.eval(
            r#"const width = document.documentElement.clientWidth;
               return Array.from(document.querySelectorAll('body *'))
                   .filter(el => el.getBoundingClientRect().right > width + 0.5)
                   .slice(0, 8)
                   .map(el => `${el.tagName.toLowerCase()}.${el.className} right=${el.getBoundingClientRect().right}`)
                   .join('\n');"#,
            vec![],
        )
        .await
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    /// The title of the tab.
    pub async fn title(&self) -> String {
        self.client().title().await.unwrap_or_default()
    }
}

/// Clicks an element that was looked up, failing the test when it was not found.
trait ClickFound {
    async fn and_then_click(self);
}

impl ClickFound for Result<Element, fantoccini::error::CmdError> {
    async fn and_then_click(self) {
        match self {
            Ok(element) => element
                .click()
                .await
                .unwrap_or_else(|err| panic!("cannot click: {err}")),
            Err(err) => panic!("nothing to click: {err}"),
        }
    }
}
