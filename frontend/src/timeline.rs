//! How the log is laid out for reading: a day line wherever the local date changes, and
//! messages that continue the one before (same author, a few minutes later, same day) drawn
//! without a second avatar and name. Pure, so it is tested on the host.

/// Messages by one author closer together than this form one group.
pub const GROUP_MILLIS: u64 = 5 * 60 * 1000;

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// What the layout needs to know about one line of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The author of a chat message; `None` for any other line, which never groups.
    pub author: Option<u64>,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The reader's local day the line falls on (see [`local_day`]).
    pub day: i64,
}

/// One row of the log as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// A new day starts here.
    Day(i64),
    /// Line number `index` of the input; `continued` when it follows its author's previous
    /// message closely enough to leave out the avatar and name.
    Line { index: usize, continued: bool },
}

/// How a day line reads, relative to the reader's today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayLabel {
    Today,
    Yesterday,
    /// Any other day: drawn as a date in the reader's locale.
    Date,
}

impl DayLabel {
    pub fn of(day: i64, today: i64) -> Self {
        match today - day {
            0 => DayLabel::Today,
            1 => DayLabel::Yesterday,
            _ => DayLabel::Date,
        }
    }
}

/// The local day number of `ts` for a reader whose clock is `offset_minutes` behind UTC
/// (JavaScript's `getTimezoneOffset`: -120 in Paris in summer).
pub fn local_day(ts: u64, offset_minutes: f64) -> i64 {
    let local = ts as i64 - (offset_minutes * 60_000.0) as i64;
    local.div_euclid(DAY_MILLIS)
}

/// The rows for `lines`, oldest first: a [`Row::Day`] before the first line and wherever the
/// day changes, then each line.
pub fn layout(lines: impl IntoIterator<Item = Stamp>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut previous: Option<Stamp> = None;
    for (index, stamp) in lines.into_iter().enumerate() {
        let new_day = previous.is_none_or(|before| before.day != stamp.day);
        if new_day {
            rows.push(Row::Day(stamp.day));
        }
        let continued = !new_day
            && previous.is_some_and(|before| {
                stamp.author.is_some()
                    && before.author == stamp.author
                    && stamp.ts >= before.ts
                    && stamp.ts - before.ts < GROUP_MILLIS
            });
        rows.push(Row::Line { index, continued });
        previous = Some(stamp);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;
    /// 2026-12-03 09:00 UTC.
    const NINE: u64 = 1_796_288_400_000;

    fn chat(author: u64, ts: u64) -> Stamp {
        Stamp {
            author: Some(author),
            ts,
            day: local_day(ts, 0.0),
        }
    }

    fn continued(rows: &[Row]) -> Vec<bool> {
        rows.iter()
            .filter_map(|row| match row {
                Row::Line { continued, .. } => Some(*continued),
                Row::Day(_) => None,
            })
            .collect()
    }

    #[test]
    fn consecutive_messages_by_one_author_within_five_minutes_show_the_name_once() {
        let rows = layout([
            chat(1, NINE),
            chat(1, NINE + MINUTE),
            chat(1, NINE + 5 * MINUTE),
            chat(1, NINE + 11 * MINUTE),
        ]);
        assert_eq!(continued(&rows), [false, true, true, false]);
    }

    #[test]
    fn another_author_or_a_non_chat_line_starts_a_new_group() {
        let other = Stamp {
            author: None,
            ..chat(1, NINE + 2 * MINUTE)
        };
        let rows = layout([
            chat(1, NINE),
            chat(2, NINE + MINUTE),
            chat(1, NINE + MINUTE),
            other,
            chat(1, NINE + 3 * MINUTE),
        ]);
        assert_eq!(continued(&rows), [false, false, false, false, false]);
    }

    #[test]
    fn a_day_line_comes_first_and_wherever_the_date_changes() {
        let three_days_later = NINE + 3 * 24 * 60 * MINUTE;
        let rows = layout([
            chat(1, NINE),
            chat(1, NINE + MINUTE),
            chat(1, three_days_later),
        ]);
        let today = local_day(NINE, 0.0);
        assert_eq!(
            rows,
            [
                Row::Day(today),
                Row::Line {
                    index: 0,
                    continued: false
                },
                Row::Line {
                    index: 1,
                    continued: true
                },
                Row::Day(today + 3),
                Row::Line {
                    index: 2,
                    continued: false
                },
            ]
        );
    }

    #[test]
    fn a_group_never_crosses_midnight() {
        let before_midnight = NINE + 14 * 60 * MINUTE + 59 * MINUTE;
        let rows = layout([
            chat(1, before_midnight),
            chat(1, before_midnight + 2 * MINUTE),
        ]);
        assert_eq!(continued(&rows), [false, false]);
        assert_eq!(
            rows.iter().filter(|row| matches!(row, Row::Day(_))).count(),
            2
        );
    }

    #[test]
    fn local_day_follows_the_readers_time_zone() {
        // 23:30 UTC is already the next day in Paris (UTC+1, offset -60) but not in New York.
        let late = NINE + 14 * 60 * MINUTE + 30 * MINUTE;
        let utc = local_day(late, 0.0);
        assert_eq!(local_day(late, -60.0), utc + 1);
        assert_eq!(local_day(late, 300.0), utc);
    }

    #[test]
    fn day_labels_read_today_yesterday_or_a_date() {
        assert_eq!(DayLabel::of(100, 100), DayLabel::Today);
        assert_eq!(DayLabel::of(99, 100), DayLabel::Yesterday);
        assert_eq!(DayLabel::of(97, 100), DayLabel::Date);
        assert_eq!(DayLabel::of(101, 100), DayLabel::Date);
    }
}
