use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{User, schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Room,
    Dm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

// No `PartialOrd`: what each role may do is ranked explicitly by the server
// (`domain::Role::rank`), never by this enum's declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Room {
    pub id: Uuid,
    pub kind: RoomKind,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub member_count: i64,
    /// The seq of the room's latest event (post, edit or delete); 0 for an empty room.
    pub last_seq: i64,
    /// Messages by others, not deleted, above the caller's read marker; null for non-members.
    pub unread_count: Option<i64>,
    /// The caller's role; null for non-members.
    pub my_role: Option<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    /// 1 to 100 characters once surrounding whitespace and invisible characters are trimmed;
    /// stored trimmed.
    pub name: String,
    /// At most 1000 characters once trimmed; absent or null is empty.
    #[serde(default)]
    pub description: Option<String>,
    pub visibility: Visibility,
}

/// Absent or null fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoomRequest {
    /// As for creating: 1 to 100 characters once trimmed.
    #[serde(default)]
    pub name: Option<String>,
    /// As for creating: at most 1000 characters once trimmed.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomScope {
    /// Rooms the caller is a member of.
    #[default]
    Joined,
    /// Public rooms, joined or not.
    Public,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRoomsQuery {
    /// `joined` (the default) or `public`.
    #[serde(default)]
    #[param(inline)]
    pub scope: RoomScope,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(schema_with = schema::cursor)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomPage {
    pub items: Vec<Room>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user: User,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    pub last_read_seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    pub user_id: Uuid,
}

/// Only `admin` or `member`: ownership passes only when the owner leaves.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    #[schema(schema_with = settable_role)]
    pub role: Role,
}

fn settable_role() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["admin", "member"]))
        .description(Some("`owner` is not settable: ownership passes only when the owner leaves."))
        .build()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenDmRequest {
    pub user_id: Uuid,
}
