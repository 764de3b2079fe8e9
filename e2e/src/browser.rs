//! One headless Chromium session in a fresh profile, with the few things a person does in the
//! chat: sign in, read the status, the online users and the log, type and send a message.
//!
//! Elements are found the way a person (or a screen reader) finds them: by label text, by
//! role, by button text. Never by class name.

use crate::{ChromeDriver, POLL, WAIT};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// Headless Chromium for a machine with only loopback networking: without the
/// background-networking flags it keeps trying to reach services it cannot.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// How long opening a session may take: Chromium starts slowly on a busy machine.
const SESSION_START: Duration = Duration::from_secs(60);

/// A browser session. Call [`Browser::close`] at the end; if a test panics first, the
/// [`ChromeDriver`] guard closes it.
pub struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    /// Opens a session with its own `--user-data-dir`, so its cookies are its own.
    pub async fn open(driver: &ChromeDriver, base: &str) -> Self {
        let profile = driver.new_profile();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": ChromeDriver::chromium(), "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = driver.url();
        let client = match tokio::time::timeout(SESSION_START, builder.connect(&webdriver)).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => panic!("cannot open a Chromium session: {err}"),
            Err(_) => panic!("opening a Chromium session took over {SESSION_START:?}"),
        };
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Ends the session (and its browser).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// The underlying WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `path` on the server and waits for the page load.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|err| panic!("cannot open {url}: {err}"));
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client
            .refresh()
            .await
            .unwrap_or_else(|err| panic!("cannot reload the page: {err}"));
    }

    /// The path of the current URL.
    pub async fn path(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .unwrap_or_else(|err| panic!("cannot read the current URL: {err}"));
        url.path().to_owned()
    }

    /// Waits until the current URL's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let this = self;
        self.wait_until(
            &format!("the page to be {path}"),
            WAIT,
            move || async move {
                let url = this.client.current_url().await?;
                Ok((url.path() == path).then_some(()))
            },
        )
        .await
    }

    /// Runs `script` in the page and returns its result.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value, CmdError> {
        self.client.execute(script, args).await
    }

    /// Waits for the form field labelled `label` (a `<label for>` pointing at it).
    pub async fn field(&self, label: &str) -> Element {
        let this = self;
        let xpath = format!("//label[normalize-space()={}]", xpath_literal(label));
        let xpath = xpath.as_str();
        self.wait_until(
            &format!("a field labelled {label:?} (a <label for> and its control)"),
            WAIT,
            move || async move {
                let Some(label) = optional(this.client.find(Locator::XPath(xpath)).await)? else {
                    return Ok(None);
                };
                let Some(id) = label.attr("for").await? else {
                    return Ok(None);
                };
                optional(this.client.find(Locator::Id(&id)).await)
            },
        )
        .await
    }

    /// Waits for the button whose text is `text`.
    pub async fn button(&self, text: &str) -> Element {
        let this = self;
        let xpath = format!("//button[normalize-space()={}]", xpath_literal(text));
        let xpath = xpath.as_str();
        self.wait_until(&format!("a button {text:?}"), WAIT, move || async move {
            optional(this.client.find(Locator::XPath(xpath)).await)
        })
        .await
    }

    /// Clicks the button whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        self.button(text)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("cannot click the button {text:?}: {err}"));
    }

    /// Replaces the value of the field labelled `label` with `text` by typing it.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field
            .clear()
            .await
            .unwrap_or_else(|err| panic!("cannot clear the field {label:?}: {err}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("cannot type into the field {label:?}: {err}"));
    }

    /// Types `keys` into the field labelled `label`, after what is there.
    pub async fn type_into(&self, label: &str, keys: &str) {
        self.field(label)
            .await
            .send_keys(keys)
            .await
            .unwrap_or_else(|err| panic!("cannot type into the field {label:?}: {err}"));
    }

    /// The current value of the field labelled `label`.
    pub async fn value_of(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|err| panic!("cannot read the field {label:?}: {err}"))
            .unwrap_or_default()
    }

    /// Waits until the field labelled `label` holds `want`.
    pub async fn wait_for_value(&self, label: &str, want: &str) {
        let field = self.field(label).await;
        let field = &field;
        self.wait_until(
            &format!("the field {label:?} to hold {want:?}"),
            WAIT,
            move || async move {
                let value = field.prop("value").await?.unwrap_or_default();
                Ok((value == want).then_some(()))
            },
        )
        .await
    }

    /// Waits until `text` shows next to the field labelled `label`: in an element its
    /// `aria-describedby` names, its parent, or its form.
    pub async fn wait_for_text_near(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        let args = vec![
            serde_json::to_value(&field).expect("an element serializes"),
            json!(text),
        ];
        let this = self;
        let args = &args;
        self.wait_until(
            &format!("{text:?} next to the field {label:?} (its aria-describedby, parent or form)"),
            WAIT,
            move || async move {
                let found = this
                    .eval(
                        r#"const [field, text] = arguments;
                           const described = (field.getAttribute('aria-describedby') || '')
                               .split(/\s+/).filter(Boolean)
                               .map(id => document.getElementById(id));
                           return [...described, field.parentElement, field.closest('form')]
                               .some(el => el && el.textContent.includes(text));"#,
                        args.clone(),
                    )
                    .await?;
                Ok((found == Value::Bool(true)).then_some(()))
            },
        )
        .await
    }

    /// Signs in on `/signin` as `name` and waits until the chat is connected.
    pub async fn sign_in(&self, name: &str) {
        self.goto("/signin").await;
        self.fill("Name", name).await;
        self.click_button("Sign in").await;
        self.wait_for_path("/").await;
        self.wait_for_status("Connected").await;
    }

    /// Registers the account `name` with `password` on `/signin` (the Register button) and
    /// waits until the chat is connected.
    pub async fn register(&self, name: &str, password: &str) {
        self.submit_credentials(name, password, "Register").await;
        self.wait_for_path("/").await;
        self.wait_for_status("Connected").await;
    }

    /// Signs in to the account `name` with `password` and waits until the chat is connected.
    pub async fn sign_in_with_password(&self, name: &str, password: &str) {
        self.submit_credentials(name, password, "Sign in").await;
        self.wait_for_path("/").await;
        self.wait_for_status("Connected").await;
    }

    /// Opens `/signin`, types `name` and `password` (empty for a guest) and presses the
    /// button `button`, without waiting for the answer.
    pub async fn submit_credentials(&self, name: &str, password: &str, button: &str) {
        self.goto("/signin").await;
        self.fill("Name", name).await;
        self.fill("Password", password).await;
        self.click_button(button).await;
    }

    /// Signs out with the header's button and waits for the sign-in page.
    pub async fn sign_out(&self) {
        self.click_button("Sign out").await;
        self.wait_for_path("/signin").await;
    }

    /// Sends each of `texts` as a chat message over a `/ws/chat` socket that the page opens
    /// beside its own, as a second tab of the same user would, and returns once the last one
    /// has come back as a broadcast. Much faster than typing, for filling a room.
    pub async fn send_over_a_second_socket(&self, texts: &[&str]) {
        let script = r#"
            const [texts, done] = arguments;
            const socket = new WebSocket(`ws://${location.host}/ws/chat`);
            const finish = outcome => {
                socket.onclose = null;
                socket.close();
                done(outcome);
            };
            let sent = false;
            socket.onmessage = event => {
                const message = JSON.parse(event.data);
                if (message.type === 'history' && !sent) {
                    sent = true;
                    for (const text of texts) socket.send(JSON.stringify({ type: 'chat', text }));
                } else if (message.type === 'error') {
                    finish(`the server refused a message: ${message.data}`);
                } else if (message.type === 'chat' && message.data === texts[texts.length - 1]) {
                    finish(null);
                }
            };
            socket.onclose = event => done(`the socket closed with code ${event.code}`);
        "#;
        let limit = WAIT * 3;
        let sent =
            tokio::time::timeout(limit, self.client.execute_async(script, vec![json!(texts)]))
                .await;
        match sent {
            Ok(Ok(Value::Null)) => {}
            Ok(Ok(problem)) => panic!("sending over a second socket failed: {problem}"),
            Ok(Err(err)) => panic!("cannot send over a second socket: {err}"),
            Err(_) => panic!("sending {} messages took over {limit:?}", texts.len()),
        }
    }

    /// The text of the connection status (`[role="status"]`), if there is one.
    pub async fn status(&self) -> Result<Option<String>, CmdError> {
        let value = self
            .eval(
                r#"const s = document.querySelector('[role="status"]');
                   return s ? s.textContent.trim() : null;"#,
                vec![],
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Waits until the connection status reads `want`.
    pub async fn wait_for_status(&self, want: &str) {
        self.wait_for_status_within(want, WAIT).await
    }

    /// Waits up to `timeout` until the connection status reads `want`.
    pub async fn wait_for_status_within(&self, want: &str, timeout: Duration) {
        let this = self;
        self.wait_until(
            &format!("the status [role=\"status\"] to read {want:?}"),
            timeout,
            move || async move { Ok((this.status().await?.as_deref() == Some(want)).then_some(())) },
        )
        .await
    }

    /// Waits until the connection status reads anything but `left` (or is gone).
    pub async fn wait_for_status_other_than(&self, left: &str) {
        let this = self;
        self.wait_until(
            &format!("the status [role=\"status\"] to stop reading {left:?}"),
            WAIT,
            move || async move { Ok((this.status().await?.as_deref() != Some(left)).then_some(())) },
        )
        .await
    }

    /// The text of every entry of the online users list.
    pub async fn online_users(&self) -> Result<Vec<String>, CmdError> {
        let value = self
            .eval(
                r#"return Array.from(document.querySelectorAll('[aria-label="Online users"] li'))
                       .map(li => li.textContent.trim());"#,
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(value).unwrap_or_default())
    }

    /// Waits until the online users list has exactly one entry per name in `names`.
    pub async fn wait_for_online_users(&self, names: &[&str]) {
        let this = self;
        self.wait_until(
            &format!("the list [aria-label=\"Online users\"] to show exactly {names:?}"),
            WAIT,
            move || async move {
                let entries = this.online_users().await?;
                let each_once = names
                    .iter()
                    .all(|name| entries.iter().filter(|e| e.contains(name)).count() == 1);
                Ok((entries.len() == names.len() && each_once).then_some(()))
            },
        )
        .await
    }

    /// The text of an open `alert()`, if one is open.
    pub async fn open_alert(&self) -> Option<String> {
        match self.client.get_alert_text().await {
            Ok(text) => Some(text),
            Err(err) if err.is_no_such_alert() => None,
            Err(err) => Some(format!("(cannot tell: {err})")),
        }
    }

    /// Calls `probe` every [`POLL`] until it returns `Some`, for at most `timeout`.
    ///
    /// On timeout the test fails with `what`, the last WebDriver error, the current URL and
    /// the page's visible text: enough to tell a client bug from a server bug.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, CmdError>>,
    {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left.max(POLL), probe()).await {
                Ok(Ok(Some(value))) => return value,
                Ok(Ok(None)) => {}
                Ok(Err(err)) => last_error = Some(err.to_string()),
                Err(_) => last_error = Some("a WebDriver command did not answer".into()),
            }
            if Instant::now() >= deadline {
                let page = self.describe().await;
                let error = last_error.map_or(String::new(), |e| format!("\nlast error: {e}"));
                panic!("gave up after {timeout:?} waiting for {what}{error}\n{page}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The current URL and visible text, for failure messages.
    async fn describe(&self) -> String {
        let bounded = Duration::from_secs(5);
        let url = match tokio::time::timeout(bounded, self.client.current_url()).await {
            Ok(Ok(url)) => url.to_string(),
            Ok(Err(err)) => format!("(unknown: {err})"),
            Err(_) => "(unknown: no answer)".into(),
        };
        let text = tokio::time::timeout(
            bounded,
            self.eval(
                "return document.body ? document.body.innerText : '';",
                vec![],
            ),
        )
        .await;
        let text = match text {
            Ok(Ok(Value::String(text))) => text.chars().take(2000).collect(),
            Ok(Ok(other)) => other.to_string(),
            Ok(Err(err)) => format!("(unknown: {err})"),
            Err(_) => "(unknown: no answer)".into(),
        };
        format!("page: {url}\nvisible text:\n{text}")
    }
}

/// Keys for WebDriver's `send_keys`: Enter.
pub fn enter() -> String {
    char::from(Key::Enter).to_string()
}

/// Keys for WebDriver's `send_keys`: Shift+Enter, then Shift released.
pub fn shift_enter() -> String {
    [Key::Shift, Key::Enter, Key::Null]
        .into_iter()
        .map(char::from)
        .collect()
}

/// `Ok(None)` for "no such element", so a wait keeps looking.
fn optional(found: Result<Element, CmdError>) -> Result<Option<Element>, CmdError> {
    match found {
        Ok(element) => Ok(Some(element)),
        Err(err) if err.is_no_such_element() => Ok(None),
        Err(err) => Err(err),
    }
}

/// `text` as an XPath string literal, whatever quotes it holds.
pub(crate) fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

#[cfg(test)]
mod tests {
    use super::xpath_literal;

    #[test]
    fn xpath_literal_quotes_text_with_both_kinds_of_quote() {
        assert_eq!(xpath_literal("Send"), "'Send'");
        assert_eq!(xpath_literal("it's"), "\"it's\"");
        assert_eq!(xpath_literal(r#"a'b"c"#), r#"concat('a', "'", 'b"c')"#);
    }
}
