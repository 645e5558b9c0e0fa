use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{EditMessageRequest, HistoryQuery, Message, MessagePage, PostMessageRequest, ReadRequest};

use super::extract::{CurrentUser, Json, Path, Query};
use super::openapi::{
    Conflict, Forbidden, JsonBody, NotFound, QueryString, RateLimited, Unauthorized, Unavailable, ValidationFailed,
};
use super::problem::ApiError;
use crate::domain::{MessageId, RoomId};
use crate::service::Messages;

#[utoipa::path(get, path = "/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = MessagePage), Unauthorized, Forbidden, NotFound, QueryString, Unavailable))]
pub async fn history(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
    Query(query): Query<HistoryQuery>,
) -> Result<axum::Json<MessagePage>, ApiError> {
    Ok(axum::Json(messages.history(&caller, id, query).await?))
}

/// 201 with the stored message; a retry with the same `client_msg_id` gets the same one.
#[utoipa::path(post, path = "/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PostMessageRequest,
    responses((status = 201, body = Message), Unauthorized, Forbidden, NotFound, JsonBody, RateLimited, Unavailable))]
pub async fn post(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
    Json(req): Json<PostMessageRequest>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    let (message, _created) = messages.post(&caller, id, req).await?;
    Ok((StatusCode::CREATED, axum::Json(message)))
}

#[utoipa::path(patch, path = "/rooms/{id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)), request_body = EditMessageRequest,
    responses((status = 200, body = Message), Unauthorized, Forbidden, NotFound, Conflict, JsonBody, RateLimited,
        Unavailable))]
pub async fn edit(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, message_id)): Path<(RoomId, MessageId)>,
    Json(req): Json<EditMessageRequest>,
) -> Result<axum::Json<Message>, ApiError> {
    Ok(axum::Json(messages.edit_message(&caller, id, message_id, &req.content).await?))
}

#[utoipa::path(delete, path = "/rooms/{id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 204, description = "deleted, or already deleted"), Unauthorized, Forbidden, NotFound,
        RateLimited, Unavailable))]
pub async fn delete(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, message_id)): Path<(RoomId, MessageId)>,
) -> Result<StatusCode, ApiError> {
    messages.delete_message(&caller, id, message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rooms/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReadRequest,
    responses((status = 204, description = "the read marker moved or stayed"), Unauthorized, Forbidden, NotFound,
        JsonBody, Unavailable))]
pub async fn read(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<RoomId>,
    Json(req): Json<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    messages.mark_read(&caller, id, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds the caller's reaction; 200 with the message whether or not it was there already.
#[utoipa::path(put, path = "/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path),
        ("emoji" = String, Path, description = "One emoji (at most 32 bytes of UTF-8) or a `:shortcode:`, URL-encoded.")),
    responses((status = 200, body = Message), Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed,
        RateLimited, Unavailable))]
pub async fn react(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, message_id, emoji)): Path<(RoomId, MessageId, String)>,
) -> Result<axum::Json<Message>, ApiError> {
    Ok(axum::Json(messages.react(&caller, id, message_id, &emoji, true).await?))
}

/// Takes back the caller's own reaction; 200 with the message whether or not it was there.
#[utoipa::path(delete, path = "/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "messages",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("message_id" = Uuid, Path),
        ("emoji" = String, Path, description = "One emoji (at most 32 bytes of UTF-8) or a `:shortcode:`, URL-encoded.")),
    responses((status = 200, body = Message), Unauthorized, Forbidden, NotFound, Conflict, ValidationFailed,
        RateLimited, Unavailable))]
pub async fn unreact(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, message_id, emoji)): Path<(RoomId, MessageId, String)>,
) -> Result<axum::Json<Message>, ApiError> {
    Ok(axum::Json(messages.react(&caller, id, message_id, &emoji, false).await?))
}
