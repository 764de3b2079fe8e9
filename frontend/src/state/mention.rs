//! `@` autocomplete in the composer: which word is being completed and with whom.

use shared::User;

/// Most names offered at once.
pub const MAX_SUGGESTIONS: usize = 6;

/// The `@word` that ends at `caret` (a char index): where its `@` is and what follows it.
/// Only an `@` at the start or after a space starts a mention, so e-mail addresses do not.
pub fn mention_at(text: &str, caret: usize) -> Option<(usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let caret = caret.min(chars.len());
    let at = chars[..caret].iter().rposition(|&c| c == '@')?;
    if at > 0 && !chars[at - 1].is_whitespace() {
        return None;
    }
    let query: String = chars[at + 1..caret].iter().collect();
    // Names may hold spaces, but not line breaks, and are at most 32 characters.
    if query.contains('\n') || query.chars().count() > shared::MAX_NAME_CHARS {
        return None;
    }
    Some((at, query))
}

/// Members whose name starts with `query` (ignoring case), the reader left out, by name.
pub fn suggestions<'a>(members: &'a [User], query: &str, me: u64) -> Vec<&'a User> {
    let query = query.to_lowercase();
    let mut found: Vec<&User> = members
        .iter()
        .filter(|user| user.id != me && user.name.to_lowercase().starts_with(&query))
        .collect();
    found.sort_by_key(|user| user.name.to_lowercase());
    found.truncate(MAX_SUGGESTIONS);
    found
}

/// The text with the `@word` at `at..caret` replaced by `@Name `, and the new caret.
pub fn complete(text: &str, at: usize, caret: usize, name: &str) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let caret = caret.min(chars.len());
    let before: String = chars[..at].iter().collect();
    let after: String = chars[caret..].iter().collect();
    let inserted = format!("@{name} ");
    let caret = at + inserted.chars().count();
    (format!("{before}{inserted}{after}"), caret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_starts_at_an_at_sign_after_a_space_or_at_the_start() {
        assert_eq!(mention_at("@Ad", 3), Some((0, "Ad".into())));
        assert_eq!(mention_at("hi @Ada Lo", 10), Some((3, "Ada Lo".into())));
        assert_eq!(mention_at("mail ada@example", 16), None);
        assert_eq!(mention_at("no at sign", 10), None);
        assert_eq!(mention_at("@a\nb", 4), None);
    }

    #[test]
    fn suggestions_match_the_start_of_names_and_leave_me_out() {
        let members = [
            User::new(1, "Ada"),
            User::new(2, "adam"),
            User::new(3, "Bob"),
        ];
        let names = |query| {
            suggestions(&members, query, 1)
                .iter()
                .map(|user| user.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("ad"), ["adam"]);
        assert_eq!(names(""), ["adam", "Bob"]);
        assert!(names("z").is_empty());
    }

    #[test]
    fn completing_replaces_the_word_and_puts_the_caret_after_it() {
        assert_eq!(
            complete("hi @Ad there", 3, 6, "Ada"),
            ("hi @Ada  there".into(), 8)
        );
        assert_eq!(complete("@b", 0, 2, "Bob"), ("@Bob ".into(), 5));
    }
}
