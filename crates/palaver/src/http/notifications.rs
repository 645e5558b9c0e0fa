use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{MarkNotificationsRequest, NotificationPage, NotificationsQuery};

use super::AppState;
use super::extract::{CurrentUser, Json, Query};
use super::openapi::{JsonBody, QueryString, Unauthorized, Unavailable};
use super::problem::ApiError;

#[utoipa::path(get, path = "/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationsQuery),
    responses((status = 200, body = NotificationPage), Unauthorized, QueryString, Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<NotificationsQuery>,
) -> Result<axum::Json<NotificationPage>, ApiError> {
    Ok(axum::Json(state.services.notifications(&caller, query).await?))
}

#[utoipa::path(post, path = "/notifications/read", tag = "notifications", security(("bearer" = [])),
    request_body = MarkNotificationsRequest,
    responses((status = 204, description = "marked read"), Unauthorized, JsonBody, Unavailable))]
pub async fn mark_read(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<MarkNotificationsRequest>,
) -> Result<StatusCode, ApiError> {
    state.services.mark_notifications_read(&caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
