//! The building blocks of the pages, one component and its props per file. They render what
//! they are given and report what the user did through `Callback`s; none of them does I/O.

mod avatar;
mod composer;
mod day_separator;
mod message_item;
mod message_list;
mod name;
mod notice;
mod person;
mod replace;
mod room_dialogs;
mod room_header;
mod rooms_nav;
mod status;
mod typing_status;
mod user_list;

pub use avatar::Avatar;
pub use composer::Composer;
pub use day_separator::DaySeparator;
pub use message_item::MessageItem;
pub use message_list::MessageList;
pub use name::Name;
pub use notice::Notice;
pub use person::Person;
pub use replace::Replace;
pub use room_dialogs::{BrowseRoomsDialog, NewRoomDialog};
pub use room_header::RoomHeader;
pub use rooms_nav::{RoomEntry, RoomsNav};
pub use status::Status;
pub use typing_status::TypingStatus;
pub use user_list::UserList;
