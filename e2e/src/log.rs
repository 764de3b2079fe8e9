//! The message log as a reader sees it: its text, its lines in order, who wrote each one, and
//! whether a line of the reader's own is still on its way.
//!
//! A line is a child of the log element (`role="log"` holds exactly the lines, oldest first),
//! read by its text like everything else here.

use crate::{Browser, POLL, WAIT};
use fantoccini::error::CmdError;
use serde_json::{json, Value};
use std::fmt;
use std::time::{Duration, Instant};

/// What a message typed here shows instead of its time until the server confirms it.
pub const SENDING: &str = "Sending\u{2026}";

/// How long a settled log is watched for a late duplicate before it counts as settled.
pub const SETTLE: Duration = Duration::from_millis(1500);

impl Browser {
    /// The text content of the message log (`[role="log"]`), if there is one.
    pub async fn log_text(&self) -> Result<Option<String>, CmdError> {
        let value = self
            .eval(
                r#"const log = document.querySelector('[role="log"]');
                   return log ? log.textContent : null;"#,
                vec![],
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Waits until the message log's text contains `text`.
    pub async fn wait_for_log_text(&self, text: &str) {
        let this = self;
        self.wait_until(
            &format!("the log [role=\"log\"] to contain {text:?}"),
            WAIT,
            move || async move {
                let log = this.log_text().await?.unwrap_or_default();
                Ok(log.contains(text).then_some(()))
            },
        )
        .await
    }

    /// Waits until the log has a line by `sender` saying `text`: an element inside the log
    /// holding both the name and the text, and none of the names in `others` (so it is one
    /// line, not a container of several).
    pub async fn wait_for_line_by(&self, sender: &str, text: &str, others: &[&str]) {
        let this = self;
        let args = vec![json!(sender), json!(text), json!(others)];
        let args = &args;
        self.wait_until(
            &format!(
                "a line in the log [role=\"log\"] by {sender:?} saying {text:?} \
                 (an element with both, and without {others:?})"
            ),
            WAIT,
            move || async move {
                let found = this
                    .eval(
                        r#"const [name, text, others] = arguments;
                           const log = document.querySelector('[role="log"]');
                           if (!log) return false;
                           return Array.from(log.querySelectorAll('*')).some(el => {
                               const t = el.textContent;
                               return t.includes(name) && t.includes(text)
                                   && !others.some(o => t.includes(o));
                           });"#,
                        args.clone(),
                    )
                    .await?;
                Ok((found == Value::Bool(true)).then_some(()))
            },
        )
        .await
    }

    /// How many elements inside the log match the CSS `selector`.
    pub async fn count_in_log(&self, selector: &str) -> usize {
        let value = self
            .eval(
                r#"const log = document.querySelector('[role="log"]');
                   return log ? log.querySelectorAll(arguments[0]).length : 0;"#,
                vec![json!(selector)],
            )
            .await
            .unwrap_or_else(|err| panic!("cannot query the log for {selector:?}: {err}"));
        value.as_u64().unwrap_or_default() as usize
    }

    /// The text of every line of the log, oldest first (empty without a log).
    pub async fn log_lines(&self) -> Result<Lines, CmdError> {
        let value = self
            .eval(
                r#"const log = document.querySelector('[role="log"]');
                   return log ? Array.from(log.children).map(line => line.textContent) : [];"#,
                vec![],
            )
            .await?;
        Ok(Lines(serde_json::from_value(value).unwrap_or_default()))
    }

    /// Waits until the log's lines pass `check`, described by `what`; returns those lines.
    pub async fn wait_for_lines(&self, what: &str, check: impl Fn(&Lines) -> bool) -> Lines {
        let this = self;
        let check = &check;
        self.wait_until(
            &format!("the log [role=\"log\"] to show {what}"),
            WAIT,
            move || async move {
                let lines = this.log_lines().await?;
                Ok(check(&lines).then_some(lines))
            },
        )
        .await
    }

    /// Waits until the log's lines pass `check`, then watches them for [`SETTLE`] more and
    /// fails if they stop passing: a duplicate that arrives late is still a duplicate.
    pub async fn wait_for_settled_lines(&self, what: &str, check: impl Fn(&Lines) -> bool) {
        self.wait_for_lines(what, &check).await;
        let until = Instant::now() + SETTLE;
        while Instant::now() < until {
            tokio::time::sleep(POLL).await;
            let lines = self
                .log_lines()
                .await
                .unwrap_or_else(|err| panic!("cannot read the log: {err}"));
            assert!(
                check(&lines),
                "the log [role=\"log\"] showed {what}, then stopped; now it holds:\n{lines}"
            );
        }
    }

    /// Scrolls the log to its very top, as a reader looking for older messages does.
    pub async fn scroll_log_to_top(&self) -> Result<(), CmdError> {
        self.eval(
            r#"const log = document.querySelector('[role="log"]');
               if (log) log.scrollTop = 0;"#,
            vec![],
        )
        .await
        .map(drop)
    }
}

/// The text of the log's lines, oldest first, with the questions the tests ask of them.
#[derive(Debug, Clone, Default)]
pub struct Lines(pub Vec<String>);

impl Lines {
    /// The lines that contain `text`.
    pub fn saying<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .map(String::as_str)
            .filter(move |line| line.contains(text))
    }

    /// Whether some line contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.saying(text).next().is_some()
    }

    /// Whether exactly one line contains `text`, and it is still marked [`SENDING`].
    pub fn pending_once(&self, text: &str) -> bool {
        self.only_line_saying(text)
            .is_some_and(|line| line.contains(SENDING))
    }

    /// Whether exactly one line contains `text`, under `author`'s name, and it is delivered
    /// (not marked [`SENDING`]).
    pub fn once_by(&self, author: &str, text: &str) -> bool {
        self.only_line_saying(text)
            .is_some_and(|line| line.contains(author) && !line.contains(SENDING))
    }

    /// Whether each of `texts` is on exactly one delivered line by `author`, in that order.
    pub fn once_in_order_by(&self, author: &str, texts: &[&str]) -> bool {
        let mut after = None;
        texts.iter().all(|text| {
            if !self.once_by(author, text) {
                return false;
            }
            let at = self.0.iter().position(|line| line.contains(text));
            let in_order = at > after;
            after = at;
            in_order
        })
    }

    fn only_line_saying<'a>(&'a self, text: &'a str) -> Option<&'a str> {
        let mut lines = self.saying(text);
        let first = lines.next()?;
        lines.next().is_none().then_some(first)
    }
}

impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.0 {
            writeln!(f, "  | {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Lines, SENDING};

    fn lines(texts: &[&str]) -> Lines {
        Lines(texts.iter().map(|text| text.to_string()).collect())
    }

    #[test]
    fn once_in_order_by_wants_each_text_once_in_order_and_delivered() {
        let log = lines(&["", "Ann joined.", "AAnn10:01one", "AAnn10:01two"]);
        assert!(log.once_in_order_by("Ann", &["one", "two"]));
        assert!(
            !log.once_in_order_by("Ann", &["two", "one"]),
            "out of order"
        );
        assert!(!log.once_in_order_by("Bob", &["one"]), "another author");

        let twice = lines(&["AAnn10:01one", "AAnn10:02one"]);
        assert!(!twice.once_in_order_by("Ann", &["one"]));

        let pending = lines(&[&format!("AAnn{SENDING}one")]);
        assert!(!pending.once_in_order_by("Ann", &["one"]));
        assert!(pending.pending_once("one"));
    }
}
