//! Values that can only hold what the contract allows: parse once at the edge, then trust.

mod chat;
mod emoji;
mod ids;
mod kinds;
mod message;
mod page;
mod room;
mod seq;
mod text;
mod user;

pub use chat::{ChatText, ConversationTitle, LastEventId};
pub use emoji::Emoji;
pub use ids::{ChatMessageId, ConversationId, MessageId, RoomId, UploadId, UserId};
pub use kinds::{ChatRole, ChatStatus, MessageKind, NotificationKind, Role, RoomKind, UserKind, Via, Visibility};
pub use message::{ClientMsgId, MessageContent, mentions};
pub use page::{Cursor, PageLimit};
pub use room::{RoomDescription, RoomName};
pub use seq::Seq;
pub use text::valid_text;
pub use user::{Email, Password, Username};

use palaver_protocol::FieldError;

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}
