//! Live sessions over WebSocket: one reader and one writer per socket, joined by the
//! socket's outbox. The HTTP side (authentication, the upgrade) is `http::ws`'s.

mod reader;
mod session;
mod subscriptions;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::WebSocketUpgrade;
use axum::response::Response;
use palaver_protocol::ws::close;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsConfig;
use crate::realtime::Hub;
use crate::service::{Assistant, Caller, Messages, Presence, Publisher, Rooms, Services};

/// What every session shares: the handles a socket uses, limits, and the server's shutdown.
pub struct WsRuntime {
    pub services: Arc<SessionServices>,
    pub config: WsConfig,
    pub shutdown: CancellationToken,
    pub sessions: TaskTracker,
}

/// The services a socket uses, shared by every session (one pointer per session to hold).
pub struct SessionServices {
    pub messages: Messages,
    pub rooms: Rooms,
    pub presence: Presence,
    pub assistant: Assistant,
    pub publisher: Publisher,
    pub hub: Arc<Hub>,
}

impl SessionServices {
    pub fn new(services: &Services) -> Self {
        Self {
            messages: services.messages.clone(),
            rooms: services.rooms.clone(),
            presence: services.presence.clone(),
            assistant: services.assistant.clone(),
            publisher: services.publisher.clone(),
            hub: services.hub.clone(),
        }
    }
}

/// Buffers sized for chat frames rather than the library's defaults (128 KiB to read,
/// unbounded write coalescing): memory per idle socket is what limits connection counts.
/// The read buffer is allocated up front and grows only for a larger frame.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 8 * 1024;

impl WsRuntime {
    pub fn new(services: &Services, config: WsConfig) -> Arc<Self> {
        let services = Arc::new(SessionServices::new(services));
        Arc::new(Self { services, config, shutdown: CancellationToken::new(), sessions: TaskTracker::new() })
    }

    /// Answers the upgrade of an authenticated caller and runs their session on the socket.
    /// The session is registered with the hub before the answer leaves.
    pub async fn accept(self: &Arc<Self>, ws: WebSocketUpgrade, caller: Caller, expires_at: i64) -> Response {
        let user = caller.id;
        let registration = session::Registration::new(self.services.clone(), caller, self.config.outbox_frames);
        // Between instances: the user's channel is subscribed before the client sees the 101.
        self.services.publisher.listening(crate::realtime::Topic::User(user)).await;
        let runtime = self.clone();
        let max = self.config.max_frame_bytes;
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

    /// Tells every session to close with 1001. Sessions check `shutdown` once, as they
    /// start (one registered after this is closed by that check); the running ones are
    /// tripped here rather than each watching the shared token on every wake.
    pub fn going_away(&self, hub: &Hub) {
        self.shutdown.cancel();
        hub.close_everyone(close::GOING_AWAY);
    }

    /// Closes every socket with 1001 and waits (bounded) for the sessions to finish.
    pub async fn close_all(&self, hub: &Hub, wait: Duration) {
        self.going_away(hub);
        self.sessions.close();
        if tokio::time::timeout(wait, self.sessions.wait()).await.is_err() {
            tracing::warn!(open = self.sessions.len(), "some WebSocket sessions did not close in time");
        }
    }
}
