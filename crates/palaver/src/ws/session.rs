//! One socket: a reader task (client frames → services) and a writer task (outbox →
//! socket), joined by the bounded outbox. Either side ending ends both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;

use super::WsRuntime;
use super::reader::Reader;
use super::writer::Writer;
use crate::realtime::{Outbox, Subscriber};
use crate::service::{Caller, Services};

/// When the client was last heard from (any frame, pongs included).
pub struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    pub fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

pub async fn run(socket: WebSocket, services: Services, caller: Caller, expires_at: i64, runtime: Arc<WsRuntime>) {
    let (sink, stream) = socket.split();
    let (outbox, rx, kill) = Outbox::new(runtime.config.outbox_frames);
    let session = services.hub().new_session_id();
    services.hub().attach(Subscriber { session, user: caller.id, outbox: outbox.clone() });
    services.connected(caller.id).await;
    metrics::gauge!("palaver_ws_sessions").increment(1.0);
    let activity = Arc::new(Activity::new());

    let writer = Writer::new(sink, services.clone(), caller.clone(), session, outbox.clone(), &runtime.config);
    let writer = tokio::spawn(writer.run(rx, kill.clone(), runtime.shutdown.clone(), activity.clone()));
    let reader = Reader::new(services.clone(), caller.clone(), outbox, &runtime.config, activity);
    reader.run(stream, kill.clone(), expires_at).await;

    // The reader is done (client gone, or the kill switch tripped): stop the writer too.
    kill.trip(1000);
    let rooms = match writer.await {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::error!(error = %e, "WebSocket writer task failed");
            vec![]
        }
    };
    services.hub().detach(caller.id, session, rooms);
    services.disconnected(caller.id);
    metrics::gauge!("palaver_ws_sessions").decrement(1.0);
    tracing::debug!(user = %caller.id, code = kill.code(), "WebSocket session ended");
}
