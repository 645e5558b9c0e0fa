use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{UserRef, schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Mention,
    Dm,
    Invite,
    /// A reply in a thread the user follows.
    Reply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub room_id: Uuid,
    pub message_id: Option<Uuid>,
    /// The thread the message is in (its root), if it is a reply.
    #[serde(default)]
    pub thread_root_id: Option<Uuid>,
    pub actor: UserRef,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    #[serde(default)]
    pub unread_only: bool,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(schema_with = schema::cursor)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<Notification>,
    pub next_cursor: Option<String>,
}

/// `{"ids": [...]}` marks those; `{"all": true}` marks every notification of the caller.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MarkNotificationsRequest {
    #[serde(default)]
    pub ids: Vec<Uuid>,
    #[serde(default)]
    pub all: bool,
}

impl utoipa::PartialSchema for MarkNotificationsRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let ids = || {
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))),
            )
        };
        let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
        let fields = schema::object("`ids` (1 to 500 of them), or `all: true`.")
            .property("ids", ids().max_items(Some(500)).description(Some("At most 500.")))
            .property("all", boolean().description(Some("Every notification of the caller.")));
        let by_ids = ObjectBuilder::new().required("ids").property("ids", ids().min_items(Some(1)));
        let all = ObjectBuilder::new().required("all").property("all", boolean().enum_values(Some([true])));
        schema::at_least_one_of(fields, [by_ids, all])
    }
}

impl ToSchema for MarkNotificationsRequest {}
