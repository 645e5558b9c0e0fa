use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{MarkNotificationsRequest, NotificationPage, NotificationsQuery};

use super::extract::{CurrentUser, Json, Query};
use super::openapi::{JsonBody, QueryString, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::service::Notifications;

#[utoipa::path(get, path = "/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationsQuery),
    responses((status = 200, body = NotificationPage), Unauthorized, QueryString, Unavailable))]
pub async fn list(
    State(notifications): State<Notifications>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<NotificationsQuery>,
) -> Result<axum::Json<NotificationPage>, ApiError> {
    Ok(axum::Json(notifications.list(&caller, query).await?))
}

#[utoipa::path(post, path = "/notifications/read", tag = "notifications", security(("bearer" = [])),
    request_body = MarkNotificationsRequest,
    responses((status = 204, description = "marked read"), Unauthorized, JsonBody, Unavailable))]
pub async fn mark_read(
    State(notifications): State<Notifications>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<MarkNotificationsRequest>,
) -> Result<StatusCode, ApiError> {
    notifications.mark_read(&caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
