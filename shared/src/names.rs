//! The name rules for signing in, checked by the server and, for quick feedback, the client.

use std::fmt;

/// Longest allowed name, in Unicode scalar values, after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// Which name rule failed. The `Display` text is what users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    ControlCharacter,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "name must not be empty"),
            NameError::TooLong => write!(f, "name must be at most {MAX_NAME_CHARS} characters"),
            NameError::ControlCharacter => write!(f, "name must not contain control characters"),
        }
    }
}

impl std::error::Error for NameError {}

/// Trims `raw` and checks it against the name rules, returning the name to use.
///
/// ```
/// assert_eq!(shared::validate_name("  Ada ").unwrap(), "Ada");
/// assert!(shared::validate_name(" \t ").is_err());
/// ```
pub fn validate_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    // `char::is_control` is exactly Unicode's general category Cc.
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_of_surrounding_white_space() {
        assert_eq!(validate_name("\u{3000} Bob \n").unwrap(), "Bob");
    }

    #[test]
    fn thirty_two_characters_pass_and_thirty_three_fail() {
        let ok = "é".repeat(32);
        assert_eq!(validate_name(&ok).unwrap(), ok);
        assert_eq!(validate_name(&"é".repeat(33)), Err(NameError::TooLong));
    }

    #[test]
    fn control_character_anywhere_is_rejected() {
        assert_eq!(validate_name("a\u{7}b"), Err(NameError::ControlCharacter));
        assert_eq!(validate_name("a\u{85}b"), Err(NameError::ControlCharacter));
    }

    #[test]
    fn blank_name_is_rejected() {
        assert_eq!(validate_name("   "), Err(NameError::Empty));
    }
}
