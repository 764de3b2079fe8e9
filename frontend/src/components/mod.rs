//! The building blocks of the pages, one component and its props per file. They render what
//! they are given and report what the user did through `Callback`s; none of them does I/O.

mod avatar;
mod composer;
mod day_separator;
mod message_item;
mod message_list;
mod name;
mod notice;
mod replace;
mod status;
mod user_list;

pub use avatar::Avatar;
pub use composer::Composer;
pub use day_separator::DaySeparator;
pub use message_item::MessageItem;
pub use message_list::MessageList;
pub use name::Name;
pub use notice::Notice;
pub use replace::Replace;
pub use status::Status;
pub use user_list::UserList;
