//! One room's message log: ordered by id, each id once, bounded, with older pages fetched
//! on top and a gap rule for histories that left messages out.

use shared::ServerMessage;

use super::{Older, MAX_LOG_LINES, OLDER_PAGE};

/// The lines of one room as far as this client knows them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoomLog {
    /// Ordered by id, each id at most once.
    pub lines: Vec<ServerMessage>,
    pub older: Older,
    /// Lines the reader fetched by scrolling up, kept beyond [`MAX_LOG_LINES`].
    fetched_older: usize,
}

impl RoomLog {
    /// The first line, which older pages are fetched before.
    pub fn oldest_id(&self) -> Option<u64> {
        self.lines.first().map(|line| line.id)
    }

    /// The newest line: what a read marker moves to.
    pub fn newest_id(&self) -> Option<u64> {
        self.lines.last().map(|line| line.id)
    }

    /// Merges replayed lines. `complete` says that an untruncated history holds everything
    /// the room has (a room's first history), so nothing older exists.
    pub fn merge_history(&mut self, messages: Vec<ServerMessage>, truncated: bool, complete: bool) {
        if truncated {
            if let Some(first) = messages.first().map(|message| message.id) {
                self.cut_before(first);
            }
        } else if complete && self.older == Older::Unknown {
            self.older = Older::Exhausted;
        }
        for message in messages {
            self.add(message, false);
        }
        self.trim();
    }

    /// Messages were left out before `first`: drop the lines before the gap rather than show
    /// a conversation with a hole in it.
    pub fn cut_before(&mut self, first: u64) {
        self.lines.retain(|line| line.id >= first);
        self.fetched_older = 0;
        self.older = Older::Available;
    }

    /// Adds a line; `false` when that id is already there (or would open a gap).
    pub fn add(&mut self, message: ServerMessage, live: bool) -> bool {
        let id = message.id;
        // A live line older than the log (the stored original of a resent message) would
        // leave a hole between it and the rest; scrolling up will show it in its place.
        let unloaded = matches!(
            self.older,
            Older::Available | Older::Loading | Older::Failed
        );
        if live && unloaded && self.oldest_id().is_some_and(|first| id < first) {
            return false;
        }
        let at = match self.lines.binary_search_by_key(&id, |line| line.id) {
            Ok(_) => return false,
            Err(at) => at,
        };
        self.lines.insert(at, message);
        if live {
            self.trim();
        }
        true
    }

    /// A page was asked for. An empty log whose past is unknown may ask too (a room that
    /// got no history on connect).
    pub fn older_loading(&mut self) {
        let may = match self.older {
            Older::Available | Older::Failed => true,
            Older::Unknown => self.lines.is_empty(),
            Older::Loading | Older::Exhausted => false,
        };
        if may {
            self.older = Older::Loading;
        }
    }

    pub fn older_failed(&mut self) {
        if self.older == Older::Loading {
            self.older = Older::Failed;
        }
    }

    /// Puts a page of older messages on top, unless the log changed under the request.
    pub fn prepend(&mut self, before: u64, messages: Vec<ServerMessage>) {
        if self.older != Older::Loading {
            return;
        }
        if self.oldest_id().is_some_and(|first| first != before) {
            // The log was replaced meanwhile; the page may not join up with it.
            self.older = Older::Available;
            return;
        }
        self.older = if messages.len() < OLDER_PAGE {
            Older::Exhausted
        } else {
            Older::Available
        };
        for message in messages {
            if message.id < before && self.add(message, false) {
                self.fetched_older += 1;
            }
        }
    }

    /// Drops the oldest lines beyond the limit; they can be fetched again by scrolling up.
    fn trim(&mut self) {
        let limit = MAX_LOG_LINES + self.fetched_older;
        if self.lines.len() > limit {
            let excess = self.lines.len() - limit;
            self.lines.drain(..excess);
            if self.older == Older::Exhausted {
                self.older = Older::Available;
            }
        }
    }
}
