//! One file per page of the app.

mod room;
mod signin;

pub use room::{RoomPage, Target};
pub use signin::SignInPage;
