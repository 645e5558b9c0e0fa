//! `GET /api/v1/ws`: authentication before the upgrade, then one session per socket.

mod reader;
mod session;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsConfig;
use crate::error::Error;
use crate::http::problem::ApiError;
use crate::http::{AppState, bearer_token};

/// What every session shares: limits, and the server's shutdown.
pub struct WsRuntime {
    pub config: WsConfig,
    pub shutdown: CancellationToken,
    pub sessions: TaskTracker,
}

impl WsRuntime {
    pub fn new(config: WsConfig) -> Arc<Self> {
        Arc::new(Self { config, shutdown: CancellationToken::new(), sessions: TaskTracker::new() })
    }

    /// Closes every socket with 1001 and waits (bounded) for the sessions to finish.
    pub async fn close_all(&self, wait: Duration) {
        self.shutdown.cancel();
        self.sessions.close();
        if tokio::time::timeout(wait, self.sessions.wait()).await.is_err() {
            tracing::warn!(open = self.sessions.len(), "some WebSocket sessions did not close in time");
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Buffers sized for chat frames rather than the library's defaults (128 KiB to read,
/// unbounded write coalescing): memory per idle socket is what limits connection counts.
/// The read buffer is allocated up front and grows only for a larger frame.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 8 * 1024;

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
    let (caller, expires_at) = match state.services.authenticate_until(&token).await {
        Ok(ok) => ok,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::http(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text()).into_response();
        }
    };
    let runtime = state.ws.clone();
    let registration = session::Registration::new(state.services.clone(), caller, runtime.config.outbox_frames);
    let max = runtime.config.max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + max.max(WRITE_BUFFER) * 4)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            let tracker = runtime.sessions.clone();
            tracker.track_future(session::run(socket, registration, expires_at, runtime))
        })
}
