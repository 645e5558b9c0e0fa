//! Request heads over the limit get 431 as problem+json. hyper refuses heads past its own,
//! higher, limits with a bare 431 (`server.rs` sets them), so ours is the answer clients see.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;

/// Header fields a request may carry; hyper's own cap is set above it.
pub const MAX_HEADER_FIELDS: usize = 100;

/// The bytes a head may take, counting each field as its name and value plus 4 bytes
/// (`": "` and CRLF), as they travel.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimit {
    pub max_bytes: usize,
}

pub async fn limit_head(State(limit): State<HeadLimit>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers.len() > MAX_HEADER_FIELDS || bytes > limit.max_bytes {
        let detail =
            format!("request headers are too large: at most {MAX_HEADER_FIELDS} fields and {} bytes", limit.max_bytes);
        return ApiError::http(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large", detail)
            .into_response();
    }
    next.run(request).await
}
