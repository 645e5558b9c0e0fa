//! Bots and their API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{BotList, BotToken, CreateBotRequest, CreatedBot};

use super::extract::{CurrentUser, Json, Path};
use super::openapi::{Conflict, Forbidden, JsonBody, NotFound, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::domain::UserId;
use crate::service::Accounts;

#[utoipa::path(post, path = "/bots", tag = "bots", security(("bearer" = [])), request_body = CreateBotRequest,
    responses((status = 201, body = CreatedBot), Unauthorized, Forbidden, Conflict, JsonBody, Unavailable))]
pub async fn create(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<CreateBotRequest>,
) -> Result<(StatusCode, axum::Json<CreatedBot>), ApiError> {
    Ok((StatusCode::CREATED, axum::Json(accounts.create_bot(&caller, &req.username).await?)))
}

#[utoipa::path(get, path = "/bots", tag = "bots", security(("bearer" = [])),
    responses((status = 200, body = BotList), Unauthorized, Unavailable))]
pub async fn list(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
) -> Result<axum::Json<BotList>, ApiError> {
    Ok(axum::Json(BotList { items: accounts.bots(&caller).await? }))
}

#[utoipa::path(delete, path = "/bots/{id}", tag = "bots", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted; its token stops at once, its messages stay"),
        Unauthorized, NotFound, Unavailable))]
pub async fn delete(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    accounts.delete_bot(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/bots/{id}/token", tag = "bots", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BotToken), Unauthorized, NotFound, Unavailable))]
pub async fn rotate(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<UserId>,
) -> Result<axum::Json<BotToken>, ApiError> {
    Ok(axum::Json(accounts.rotate_bot_token(&caller, id).await?))
}
