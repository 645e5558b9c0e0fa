use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{HistoryQuery, MessagePage, ReadRequest, ThreadPage, ThreadsQuery};

use super::extract::{CurrentUser, Json, Path, Query};
use super::openapi::{Forbidden, JsonBody, NotFound, QueryString, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::domain::{MessageId, RoomId};
use crate::service::Messages;

/// One thread's replies, paged by seq like room history; 404 unless the root is a
/// top-level message of the room.
#[utoipa::path(get, path = "/rooms/{id}/threads/{root_id}/messages", tag = "threads", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("root_id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = MessagePage), Unauthorized, Forbidden, NotFound, QueryString, Unavailable))]
pub async fn history(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, root_id)): Path<(RoomId, MessageId)>,
    Query(query): Query<HistoryQuery>,
) -> Result<axum::Json<MessagePage>, ApiError> {
    Ok(axum::Json(messages.thread_history(&caller, id, root_id, query).await?))
}

/// The threads the caller follows (started, replied in, mentioned in), newest activity first.
#[utoipa::path(get, path = "/threads", tag = "threads", security(("bearer" = [])),
    params(ThreadsQuery),
    responses((status = 200, body = ThreadPage), Unauthorized, QueryString, Unavailable))]
pub async fn followed(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<ThreadsQuery>,
) -> Result<axum::Json<ThreadPage>, ApiError> {
    Ok(axum::Json(messages.followed_threads(&caller, query).await?))
}

#[utoipa::path(post, path = "/rooms/{id}/threads/{root_id}/read", tag = "threads", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("root_id" = Uuid, Path)), request_body = ReadRequest,
    responses((status = 204, description = "the thread read marker moved or stayed"), Unauthorized, Forbidden,
        NotFound, JsonBody, Unavailable))]
pub async fn read(
    State(messages): State<Messages>,
    CurrentUser(caller): CurrentUser,
    Path((id, root_id)): Path<(RoomId, MessageId)>,
    Json(req): Json<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    messages.mark_thread_read(&caller, id, root_id, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}
