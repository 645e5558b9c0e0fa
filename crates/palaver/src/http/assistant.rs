//! The assistant's conversations over REST, and replies streamed as server-sent events:
//! `id:` on every event (the position in the reply's log, for `Last-Event-ID`), a
//! `: keep-alive` comment every 15 s while idle, no caching or proxy buffering.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use palaver_protocol::{
    ChatMessagePage, Conversation, ConversationPage, CreateConversationRequest, OffsetQuery, RenameConversationRequest,
    ReplyEvent, SendChatRequest, SendChatResponse, StreamQuery,
};

use super::extract::{CurrentUser, Json, Path, Query, Signed};
use super::openapi::{
    Conflict, JsonBody, NotFound, QueryString, RateLimited, Unauthorized, Unavailable, ValidationFailed,
};
use super::problem::ApiError;
use crate::domain::{ChatMessageId, ConversationId, LastEventId};
use crate::error::Error;
use crate::service::{Assistant, ReplyStream};

#[utoipa::path(get, path = "/chat/conversations", tag = "assistant", security(("bearer" = [])), params(OffsetQuery),
    responses((status = 200, body = ConversationPage), Unauthorized, QueryString, Unavailable))]
pub async fn list(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<OffsetQuery>,
) -> Result<axum::Json<ConversationPage>, ApiError> {
    Ok(axum::Json(assistant.conversations(&caller, query).await?))
}

#[utoipa::path(post, path = "/chat/conversations", tag = "assistant", security(("bearer" = [])),
    request_body = CreateConversationRequest,
    responses((status = 201, body = Conversation), Unauthorized, JsonBody, Unavailable))]
pub async fn create(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<CreateConversationRequest>,
) -> Result<(StatusCode, axum::Json<Conversation>), ApiError> {
    Ok((StatusCode::CREATED, axum::Json(assistant.create_conversation(&caller, req).await?)))
}

#[utoipa::path(get, path = "/chat/conversations/{id}/messages", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path), OffsetQuery),
    responses((status = 200, body = ChatMessagePage), Unauthorized, NotFound, QueryString, Unavailable))]
pub async fn messages(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<ConversationId>,
    Query(query): Query<OffsetQuery>,
) -> Result<axum::Json<ChatMessagePage>, ApiError> {
    Ok(axum::Json(assistant.conversation_messages(&caller, id, query).await?))
}

/// Sends a message and answers once the whole reply is stored.
#[utoipa::path(post, path = "/chat/conversations/{id}/messages", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SendChatRequest,
    responses((status = 201, body = SendChatResponse), Unauthorized, NotFound, Conflict, JsonBody, RateLimited, Unavailable))]
pub async fn send(
    State(assistant): State<Assistant>,
    Signed(caller): Signed,
    Path(id): Path<ConversationId>,
    Json(req): Json<SendChatRequest>,
) -> Result<(StatusCode, axum::Json<SendChatResponse>), ApiError> {
    Ok((StatusCode::CREATED, axum::Json(assistant.send_chat(&caller, id, &req.message).await?)))
}

#[utoipa::path(patch, path = "/chat/conversations/{id}/title", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RenameConversationRequest,
    responses((status = 200, body = Conversation), Unauthorized, NotFound, JsonBody, Unavailable))]
pub async fn rename(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<ConversationId>,
    Json(req): Json<RenameConversationRequest>,
) -> Result<axum::Json<Conversation>, ApiError> {
    Ok(axum::Json(assistant.rename_conversation(&caller, id, &req.title).await?))
}

/// Soft delete: afterwards the conversation is 404 everywhere.
#[utoipa::path(delete, path = "/chat/conversations/{id}", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"), Unauthorized, NotFound, Unavailable))]
pub async fn delete(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<ConversationId>,
) -> Result<StatusCode, ApiError> {
    assistant.delete_conversation(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops the running reply; the part so far is kept, as `cancelled`.
#[utoipa::path(post, path = "/chat/conversations/{id}/cancel", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "the reply is stopping"), Unauthorized, NotFound, Conflict, Unavailable))]
pub async fn cancel(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<ConversationId>,
) -> Result<StatusCode, ApiError> {
    assistant.cancel_reply(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends `message` and streams the reply as server-sent events.
#[utoipa::path(get, path = "/chat/conversations/{id}/stream", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path), StreamQuery),
    responses((status = 200, description = "the reply's events", content_type = "text/event-stream"),
        Unauthorized, NotFound, Conflict, QueryString, RateLimited, Unavailable))]
pub async fn stream_get(
    State(assistant): State<Assistant>,
    Signed(caller): Signed,
    Path(id): Path<ConversationId>,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let started = assistant.start_reply_signed(&caller, id, &query.message).await?;
    Ok(sse(started.events))
}

/// Sends `message` and streams the reply as server-sent events.
#[utoipa::path(post, path = "/chat/conversations/{id}/stream", tag = "assistant", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SendChatRequest,
    responses((status = 200, description = "the reply's events", content_type = "text/event-stream"),
        Unauthorized, NotFound, Conflict, JsonBody, RateLimited, Unavailable))]
pub async fn stream_post(
    State(assistant): State<Assistant>,
    Signed(caller): Signed,
    Path(id): Path<ConversationId>,
    Json(req): Json<SendChatRequest>,
) -> Result<Response, ApiError> {
    let started = assistant.start_reply_signed(&caller, id, &req.message).await?;
    Ok(sse(started.events))
}

/// Follows a reply from after the `Last-Event-ID` given (from its start without one).
#[utoipa::path(get, path = "/chat/conversations/{id}/messages/{message_id}/stream", tag = "assistant",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("message_id" = Uuid, Path),
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "The last event id received (422 if it is not a whole number).")),
    responses((status = 200, description = "the reply's events", content_type = "text/event-stream"),
        Unauthorized, NotFound, ValidationFailed, Unavailable))]
pub async fn resume(
    State(assistant): State<Assistant>,
    CurrentUser(caller): CurrentUser,
    Path((id, message_id)): Path<(ConversationId, ChatMessageId)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let header = headers.get("last-event-id").map(|v| v.to_str().map_err(drop));
    let LastEventId(after) = LastEventId::parse(header).map_err(|e| Error::Validation(vec![e]))?;
    Ok(sse(assistant.follow_reply(&caller, id, message_id, after).await?))
}

fn sse(reply: ReplyStream) -> Response {
    let events = reply.events().map(|(id, event)| Ok::<_, Infallible>(sse_event(id, &event)));
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive"))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn sse_event(id: usize, event: &ReplyEvent) -> Event {
    let data = serde_json::to_string(event)
        .unwrap_or_else(|_| "{\"type\":\"error\",\"status\":\"error\",\"error\":\"unencodable\"}".into());
    Event::default().id(id.to_string()).data(data)
}
