//! Per-address rate limit for the credential endpoints (register, login, refresh), so
//! passwords cannot be guessed at line rate. 429 with `Retry-After` when exceeded.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use crate::error::Error;
use crate::ratelimit::SharedRateLimit;

pub async fn throttle(State(limit): State<Arc<SharedRateLimit<IpAddr>>>, request: Request, next: Next) -> Response {
    // The peer address; behind a proxy every client shares the proxy's address and bucket.
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = peer
        && let Err(wait) = limit.try_take(ip).await
    {
        return ApiError::from(Error::RateLimited { retry_after: wait }).into_response();
    }
    next.run(request).await
}
