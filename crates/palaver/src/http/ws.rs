//! `GET /api/v1/ws`: authentication before the upgrade, then the session is `ws`'s.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::problem::ApiError;
use super::{AppState, bearer_token};
use crate::error::Error;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = query.ok().and_then(|q| q.0.token).or_else(|| bearer_token(&headers).map(str::to_owned));
    let Some(token) = token else {
        return ApiError::from(Error::Unauthorized("missing token")).into_response();
    };
    let (caller, expires_at) = match state.services.accounts.authenticate_until(&token).await {
        Ok(ok) => ok,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::http(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text()).into_response();
        }
    };
    state.ws.accept(ws, caller, expires_at).await
}
