//! What the reader is told when the server refuses something: one English sentence per
//! error code, in one place. The server's own `message` is for logs and scripts; it is shown
//! only where it carries a detail the code cannot (which name rule was broken), and for codes
//! newer than this client.

use shared::{ErrorCode, MAX_TEXT_CHARS, PASSWORD_CHARS};

/// The sentence for a refusal with `code`, given the server's `message`.
pub fn sentence(code: &ErrorCode, message: &str) -> String {
    let (shortest, longest) = (PASSWORD_CHARS.start(), PASSWORD_CHARS.end());
    match code {
        ErrorCode::BadRequest => format!("The server refused this: {message}."),
        ErrorCode::TooLong => {
            format!("That message is too long: at most {MAX_TEXT_CHARS} characters.")
        }
        ErrorCode::ControlCharacter => {
            "That message holds an invisible control character; remove it and send again.".into()
        }
        ErrorCode::BadCid => "That message could not be sent as it was; send it again.".into(),
        ErrorCode::RateLimited => {
            "You are sending messages too fast; the rest follow in a moment.".into()
        }
        ErrorCode::NotSaved => "That message could not be saved; send it again.".into(),
        ErrorCode::NoSuchRoom => "That room does not exist, or you are not in it.".into(),
        ErrorCode::BadName => format!("That name cannot be used: {message}."),
        ErrorCode::NameTaken => "Sorry, that name belongs to an account or to someone online \
                                 now. Pick another, or add the account's password."
            .into(),
        ErrorCode::NoAccount => {
            "No account has this name yet. Register it with this password, or leave the \
             password empty to join as a guest."
                .into()
        }
        ErrorCode::WrongPassword => "Wrong password for this name.".into(),
        ErrorCode::BadPassword => {
            format!("A password must be {shortest} to {longest} characters long.")
        }
        ErrorCode::SignedOut => "You are signed out. Sign in again to continue.".into(),
        ErrorCode::Forbidden => "You are not allowed to do that.".into(),
        ErrorCode::BadOrigin => "This page is not allowed to talk to the server.".into(),
        ErrorCode::NotFound => "The server has nothing at that address.".into(),
        ErrorCode::TooLarge => "That was too much text for one request.".into(),
        ErrorCode::NotJson => "The server could not read the request.".into(),
        ErrorCode::Busy => "The server is busy right now. Try again in a moment.".into(),
        ErrorCode::NotReady => "The server is not ready. Try again in a moment.".into(),
        ErrorCode::Internal => "Something went wrong on the server. Try again.".into(),
        ErrorCode::Other(_) if message.is_empty() => "The server refused this.".into(),
        ErrorCode::Other(_) => message.to_owned(),
    }
}

/// "Try again in …", for a wait of `seconds` (or an unknown one).
pub fn retry_hint(seconds: Option<u64>) -> String {
    match seconds {
        Some(1) => "Try again in 1 second.".into(),
        Some(seconds) if seconds < 120 => format!("Try again in {seconds} seconds."),
        Some(seconds) => format!("Try again in {} minutes.", seconds.div_ceil(60)),
        None => "Wait a minute, then try again.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_a_sentence_of_its_own() {
        let sentences: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|code| sentence(code, "detail"))
            .collect();
        for (code, text) in ErrorCode::ALL.iter().zip(&sentences) {
            assert!(text.ends_with('.'), "{code}: {text:?} is not a sentence");
            assert!(
                text.starts_with(|c: char| c.is_uppercase()),
                "{code}: {text:?} does not start with a capital"
            );
        }
        let mut unique = sentences.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), sentences.len(), "two codes read the same");
    }

    #[test]
    fn a_password_sign_in_to_a_name_without_an_account_suggests_registering() {
        let text = sentence(&ErrorCode::NoAccount, "no such account");
        assert!(text.contains("No account"), "{text}");
        assert!(text.contains("Register"), "{text}");
    }

    #[test]
    fn name_rules_keep_the_servers_detail() {
        let text = sentence(&ErrorCode::BadName, "name must not be empty");
        assert_eq!(text, "That name cannot be used: name must not be empty.");
    }

    #[test]
    fn codes_newer_than_this_client_show_the_servers_message() {
        let later = ErrorCode::Other("banned".into());
        assert_eq!(sentence(&later, "You are banned."), "You are banned.");
        assert_eq!(sentence(&later, ""), "The server refused this.");
    }

    #[test]
    fn retry_hint_says_when_to_try_again() {
        assert_eq!(retry_hint(Some(42)), "Try again in 42 seconds.");
        assert_eq!(retry_hint(Some(1)), "Try again in 1 second.");
        assert_eq!(retry_hint(Some(600)), "Try again in 10 minutes.");
        assert_eq!(retry_hint(None), "Wait a minute, then try again.");
    }
}
