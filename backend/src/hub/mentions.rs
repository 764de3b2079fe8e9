//! `@Name` in a chat line: which members it mentions.
//!
//! Names may hold spaces, so after each `@` the longest candidate that names a member
//! wins (`@Ada Lovelace` over `@Ada`). A candidate ends at the end of the text or before
//! a character that is not alphanumeric, never crosses a newline, and is at most
//! [`shared::MAX_NAME_CHARS`] long; at most [`MAX_MENTIONS`] `@`s are looked at, so a
//! line full of them costs a bounded number of look-ups.

/// `@`s looked at per chat line, at most.
pub const MAX_MENTIONS: usize = 20;

/// The ids `lookup` finds for the `@` candidates of `text`, each once, in order, without
/// `sender`. `lookup` gets a candidate as written and answers the member it names.
pub fn mentioned(text: &str, sender: u64, mut lookup: impl FnMut(&str) -> Option<u64>) -> Vec<u64> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@').take(MAX_MENTIONS) {
        let rest = &text[at + 1..];
        // Byte offsets where a candidate may end, longest first.
        let mut ends = Vec::new();
        let mut chars = rest.char_indices().take(shared::MAX_NAME_CHARS).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\n' {
                break;
            }
            let end = i + c.len_utf8();
            let boundary = match rest[end..].chars().next() {
                None => true,
                Some(next) => !next.is_alphanumeric(),
            };
            if boundary && !c.is_whitespace() {
                ends.push(end);
            }
            if chars.peek().is_none() {
                break;
            }
        }
        for end in ends.into_iter().rev() {
            if let Some(id) = lookup(&rest[..end]) {
                if id != sender && !found.contains(&id) {
                    found.push(id);
                }
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(candidate: &str) -> Option<u64> {
        match shared::canonical_name(candidate).as_str() {
            c if c == shared::canonical_name("Ada") => Some(1),
            c if c == shared::canonical_name("Ada Lovelace") => Some(2),
            c if c == shared::canonical_name("Bo") => Some(3),
            _ => None,
        }
    }

    #[test]
    fn the_longest_member_name_after_the_at_wins() {
        assert_eq!(mentioned("hi @Ada Lovelace!", 9, members), [2]);
        assert_eq!(mentioned("hi @Ada, and @bo", 9, members), [1, 3]);
        assert_eq!(mentioned("@Ada\nLovelace", 9, members), [1]);
    }

    #[test]
    fn a_name_must_end_at_a_word_boundary_and_the_sender_is_left_out() {
        assert!(mentioned("@Adam", 9, members).is_empty());
        assert!(mentioned("mail@Bo.example", 9, members).len() == 1);
        assert!(mentioned("@Bo", 3, members).is_empty());
        assert_eq!(mentioned("@Bo @Bo @bo", 9, members), [3]);
    }

    #[test]
    fn look_ups_are_bounded_per_line() {
        let text = "@x ".repeat(1000);
        let mut calls = 0;
        mentioned(&text, 9, |_| {
            calls += 1;
            None
        });
        assert!(calls <= MAX_MENTIONS * shared::MAX_NAME_CHARS, "{calls}");
    }
}
