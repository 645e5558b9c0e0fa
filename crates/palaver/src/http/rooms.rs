use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{
    AddMemberRequest, CreateRoomRequest, ListRoomsQuery, Member, MemberList, OpenDmRequest, Room, RoomPage,
    SetRoleRequest, UpdateRoomRequest,
};

use super::extract::{CurrentUser, Json, Path, Query};
use super::openapi::{Conflict, Forbidden, JsonBody, NotFound, QueryString, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::domain::{RoomId, UserId};
use crate::service::Rooms;

type Reply<T> = Result<axum::Json<T>, ApiError>;

#[utoipa::path(post, path = "/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoomRequest,
    responses((status = 201, body = Room), Unauthorized, JsonBody, Unavailable))]
pub async fn create(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<CreateRoomRequest>,
) -> Result<(StatusCode, axum::Json<Room>), ApiError> {
    Ok((StatusCode::CREATED, axum::Json(rooms.create_room(&caller, req).await?)))
}

#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("bearer" = [])), params(ListRoomsQuery),
    responses((status = 200, body = RoomPage), Unauthorized, QueryString, Unavailable))]
pub async fn list(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<ListRoomsQuery>,
) -> Reply<RoomPage> {
    Ok(axum::Json(rooms.list_rooms(&caller, query).await?))
}

#[utoipa::path(get, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Room), Unauthorized, NotFound, Unavailable))]
pub async fn get(State(rooms): State<Rooms>, CurrentUser(caller): CurrentUser, Path(id): Path<RoomId>) -> Reply<Room> {
    Ok(axum::Json(rooms.get_room(&caller, id).await?))
}

#[utoipa::path(patch, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = UpdateRoomRequest,
    responses((status = 200, body = Room), Unauthorized, Forbidden, NotFound, JsonBody, Unavailable))]
pub async fn update(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
    Json(req): Json<UpdateRoomRequest>,
) -> Reply<Room> {
    Ok(axum::Json(rooms.update_room(&caller, id, req).await?))
}

#[utoipa::path(delete, path = "/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"), Unauthorized, Forbidden, NotFound, Unavailable))]
pub async fn delete(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
) -> Result<StatusCode, ApiError> {
    rooms.delete_room(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rooms/{id}/join", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Room, description = "joined, or already a member"), Unauthorized, Forbidden,
        NotFound, Unavailable))]
pub async fn join(State(rooms): State<Rooms>, CurrentUser(caller): CurrentUser, Path(id): Path<RoomId>) -> Reply<Room> {
    Ok(axum::Json(rooms.join_room(&caller, id).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/leave", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "left"), Unauthorized, Forbidden, NotFound, Unavailable))]
pub async fn leave(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
) -> Result<StatusCode, ApiError> {
    rooms.leave_room(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/rooms/{id}/members", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = MemberList), Unauthorized, NotFound, Unavailable))]
pub async fn members(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
) -> Reply<MemberList> {
    Ok(axum::Json(rooms.members(&caller, id).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/members", tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = AddMemberRequest,
    responses((status = 201, body = Member, description = "added"), (status = 200, body = Member, description = "already a member"),
        Unauthorized, Forbidden, NotFound, JsonBody, Unavailable))]
pub async fn add_member(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
    Json(req): Json<AddMemberRequest>,
) -> Result<(StatusCode, axum::Json<Member>), ApiError> {
    let (member, added) = rooms.add_member(&caller, id, UserId::from_uuid(req.user_id)).await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(member)))
}

#[utoipa::path(patch, path = "/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = SetRoleRequest,
    responses((status = 200, body = Member), Unauthorized, Forbidden, NotFound, Conflict, JsonBody, Unavailable))]
pub async fn set_role(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path((id, user_id)): Path<(RoomId, UserId)>,
    Json(req): Json<SetRoleRequest>,
) -> Reply<Member> {
    Ok(axum::Json(rooms.set_member_role(&caller, id, user_id, req.role.into()).await?))
}

#[utoipa::path(delete, path = "/rooms/{id}/members/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "removed (or left, when it is the caller)"), Unauthorized, Forbidden,
        NotFound, Unavailable))]
pub async fn remove_member(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Path((id, user_id)): Path<(RoomId, UserId)>,
) -> Result<StatusCode, ApiError> {
    rooms.remove_member(&caller, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/dms", tag = "rooms", security(("bearer" = [])), request_body = OpenDmRequest,
    responses((status = 200, body = Room, description = "the pair's direct message, opened on first use"), Unauthorized,
        NotFound, JsonBody, Unavailable))]
pub async fn open_dm(
    State(rooms): State<Rooms>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<OpenDmRequest>,
) -> Reply<Room> {
    Ok(axum::Json(rooms.open_dm(&caller, UserId::from_uuid(req.user_id)).await?))
}
