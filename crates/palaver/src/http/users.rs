use axum::extract::State;
use palaver_protocol::User;

use super::extract::{CurrentUser, Path};
use super::openapi::{NotFound, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::domain::UserId;
use crate::service::Accounts;

#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), Unauthorized, Unavailable))]
pub async fn me(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(accounts.me(&caller).await?))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = User), Unauthorized, NotFound, Unavailable))]
pub async fn get(
    State(accounts): State<Accounts>,
    CurrentUser(_caller): CurrentUser,
    Path(id): Path<UserId>,
) -> Result<axum::Json<User>, ApiError> {
    Ok(axum::Json(accounts.user(id).await?))
}
