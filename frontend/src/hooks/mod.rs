//! Hooks and the context providers behind them: the session and the chat connection.

mod use_chat;
mod use_session;

pub use use_chat::{route_of, use_chat, ChatHandle, ChatProvider};
pub use use_session::{
    use_session, use_sign_in, Credentials, Intent, Session, SessionHandle, SessionProvider,
};
