use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::UserRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub mime: String,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    pub url: String,
    pub thumbnail_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    /// The room seq this message was posted with.
    pub seq: i64,
    /// The seq of its latest edit or delete (equal to `seq` if never changed).
    pub updated_seq: i64,
    pub author: UserRef,
    pub kind: MessageKind,
    /// Empty when deleted.
    pub content: String,
    pub attachment: Option<Attachment>,
    pub client_msg_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PostMessageRequest {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub upload_id: Option<Uuid>,
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    pub content: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Newest `limit` messages with a seq below this one.
    pub before: Option<i64>,
    /// Oldest `limit` messages with a seq above this one.
    pub after: Option<i64>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Always in ascending seq.
    pub items: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadRequest {
    pub seq: i64,
}
