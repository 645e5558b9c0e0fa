use axum::extract::State;
use axum::http::StatusCode;
use palaver_protocol::{LoginRequest, RefreshRequest, RegisterRequest, TokenPair};

use super::extract::{CurrentUser, Json};
use super::openapi::{Conflict, JsonBody, RateLimited, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::service::Accounts;

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = TokenPair), JsonBody, Conflict, RateLimited, Unavailable))]
pub async fn register(
    State(accounts): State<Accounts>,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<TokenPair>), ApiError> {
    Ok((StatusCode::CREATED, axum::Json(accounts.register(req).await?)))
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), JsonBody, Unauthorized, RateLimited, Unavailable))]
pub async fn login(
    State(accounts): State<Accounts>,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    Ok(axum::Json(accounts.login(req).await?))
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), JsonBody, Unauthorized, RateLimited, Unavailable))]
pub async fn refresh(
    State(accounts): State<Accounts>,
    Json(req): Json<RefreshRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    Ok(axum::Json(accounts.refresh(&req.refresh_token).await?))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])), responses((status = 204, description = "logged out"), Unauthorized, JsonBody, Unavailable))]
pub async fn logout(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    accounts.logout(&caller, &req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
