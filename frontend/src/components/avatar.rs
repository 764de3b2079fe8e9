//! A user's avatar: the name's initial on one of ten colours picked by `image`.

use shared::User;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AvatarProps {
    pub user: User,
    /// A smaller circle, for dense lists.
    #[prop_or_default]
    pub small: bool,
}

/// Drawn with CSS only, so the app needs no image files and works offline.
#[component]
pub fn Avatar(props: &AvatarProps) -> Html {
    let colour = format!("avatar-{}", props.user.image % 10);
    let size = props.small.then_some("avatar-small");
    html! {
        // Decorative: the name is always written next to it.
        <span class={classes!("avatar", colour, size)} aria-hidden="true">
            { initial(&props.user.name) }
        </span>
    }
}

/// The first character of the name, upper-cased where that means something.
pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|first| first.to_uppercase().collect())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::initial;

    #[test]
    fn initial_is_the_first_character_upper_cased() {
        assert_eq!(initial("ada"), "A");
        assert_eq!(initial("élise"), "É");
        assert_eq!(initial("李雷"), "李");
        assert_eq!(initial(""), "?");
    }
}
