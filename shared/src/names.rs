//! The name rules for signing in, checked by the server and, for quick feedback, the client.
//!
//! With the `names` feature (the server turns it on) the rules also refuse characters that
//! make one name pass for another (format characters, unassigned code points, invisible
//! names), and [`canonical_name`] gives the form names are compared by. Without it, only
//! the table-free rules apply, so the browser client carries no Unicode tables.

use std::fmt;

/// Longest allowed name, in Unicode scalar values, after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// Which name rule failed. The `Display` text is what users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    ControlCharacter,
    /// General category Cf: zero-width characters, bidi controls, the BOM.
    FormatCharacter,
    /// Unassigned, private-use or surrogate code points: nobody knows how they render.
    Unassigned,
    /// U+2028 and U+2029 (categories Zl and Zp).
    LineSeparator,
    /// Nothing visible is left once default-ignorable code points are removed.
    Invisible,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "name must not be empty"),
            NameError::TooLong => write!(f, "name must be at most {MAX_NAME_CHARS} characters"),
            NameError::ControlCharacter => write!(f, "name must not contain control characters"),
            NameError::FormatCharacter => write!(
                f,
                "name must not contain format characters (zero-width, bidi controls, BOM)"
            ),
            NameError::Unassigned => write!(
                f,
                "name must not contain unassigned or private-use characters"
            ),
            NameError::LineSeparator => {
                write!(f, "name must not contain line or paragraph separators")
            }
            NameError::Invisible => write!(f, "name must contain visible characters"),
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
    #[cfg(feature = "names")]
    unicode::check(name)?;
    Ok(name.to_owned())
}

#[cfg(feature = "names")]
pub use unicode::canonical_name;

#[cfg(feature = "names")]
mod unicode {
    use icu_casemap::CaseMapper;
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    use unicode_normalization::UnicodeNormalization;

    use super::NameError;

    /// The rules that need Unicode's tables.
    pub(super) fn check(name: &str) -> Result<(), NameError> {
        let categories = CodePointMapData::<GeneralCategory>::new();
        for c in name.chars() {
            match categories.get(c) {
                GeneralCategory::Format => return Err(NameError::FormatCharacter),
                GeneralCategory::Unassigned
                | GeneralCategory::PrivateUse
                | GeneralCategory::Surrogate => return Err(NameError::Unassigned),
                GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                    return Err(NameError::LineSeparator)
                }
                _ => {}
            }
        }
        if without_ignorables(name).trim().is_empty() {
            return Err(NameError::Invisible);
        }
        Ok(())
    }

    /// The form two names are compared by: names with the same canonical form look alike.
    ///
    /// Default-ignorable code points are dropped, then NFKC, full case folding and the
    /// Unicode TR39 confusable skeleton are applied, so "Ada", "ADA", "Ａｄａ" (fullwidth)
    /// and "Аda" (Cyrillic А) all become one key.
    ///
    /// ```
    /// use shared::canonical_name;
    /// assert_eq!(canonical_name("Ada"), canonical_name("ＡＤＡ"));
    /// assert_eq!(canonical_name("Ada"), canonical_name("\u{410}da"));
    /// assert_ne!(canonical_name("Ada"), canonical_name("Bea"));
    /// ```
    pub fn canonical_name(name: &str) -> String {
        let nfkc: String = without_ignorables(name.trim()).nfkc().collect();
        let folded = CaseMapper::new().fold_string(&nfkc).into_owned();
        unicode_security::skeleton(&folded).collect()
    }

    /// `name` without default-ignorable code points (U+3164, U+115F, U+FFA0, U+200B...).
    fn without_ignorables(name: &str) -> String {
        let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
        name.chars().filter(|c| !ignorable.contains(*c)).collect()
    }
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

    #[cfg(feature = "names")]
    mod unicode {
        use super::super::*;

        #[test]
        fn format_characters_are_rejected() {
            for name in [
                "Ada\u{200b}",
                "A\u{2060}da",
                "\u{202e}Ada",
                "\u{200e}Ada",
                "Ada\u{feff}",
                "A\u{200d}da",
            ] {
                assert_eq!(
                    validate_name(name),
                    Err(NameError::FormatCharacter),
                    "{name:?}"
                );
            }
        }

        #[test]
        fn unassigned_and_private_use_code_points_are_rejected() {
            for name in ["Ada\u{e000}", "Ada\u{378}", "Ada\u{10ffff}", "\u{f0000}x"] {
                assert_eq!(validate_name(name), Err(NameError::Unassigned), "{name:?}");
            }
        }

        #[test]
        fn line_and_paragraph_separators_are_rejected() {
            assert_eq!(validate_name("A\u{2028}da"), Err(NameError::LineSeparator));
            assert_eq!(validate_name("A\u{2029}da"), Err(NameError::LineSeparator));
        }

        #[test]
        fn names_invisible_without_ignorables_are_rejected() {
            for name in ["\u{3164}", "\u{115f}", "\u{ffa0}", "\u{3164} \u{3164}"] {
                assert_eq!(validate_name(name), Err(NameError::Invisible), "{name:?}");
            }
            // The BOM alone is a format character, refused for that reason.
            assert!(validate_name("\u{feff}").is_err());
        }

        #[test]
        fn ordinary_names_in_many_scripts_pass() {
            for name in ["Ada", "José", "Zoë Ann", "Анна", "李小龙", "محمد", "🙂 Sam"]
            {
                assert_eq!(validate_name(name).as_deref(), Ok(name));
            }
        }

        #[test]
        fn look_alikes_share_one_canonical_form() {
            let ada = canonical_name("Ada");
            for name in [
                "ada",
                "ADA",
                "\u{ff21}\u{ff44}\u{ff41}",
                "\u{410}da",
                "Ada\u{fe0f}",
                "Ada\u{3164}",
                "\u{1d400}da",
            ] {
                assert_eq!(canonical_name(name), ada, "{name:?}");
            }
            assert_ne!(canonical_name("Adam"), ada);
            assert_eq!(canonical_name("Straße"), canonical_name("STRASSE"));
        }
    }
}
