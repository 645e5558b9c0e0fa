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
use tokio::sync::mpsc;

use crate::realtime::{KillSwitch, Outbox, Outgoing, SessionId, Subscriber};
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

/// A session registered with the hub before the upgrade is answered, so no event published
/// after the client sees the handshake can miss it. Dropped unused (the upgrade failed), it
/// unregisters itself.
pub struct Registration {
    services: Services,
    caller: Caller,
    session: SessionId,
    outbox: Outbox,
    queue: Option<(mpsc::Receiver<Outgoing>, KillSwitch)>,
}

impl Registration {
    pub fn new(services: Services, caller: Caller, outbox_frames: usize) -> Self {
        let (outbox, rx, kill) = Outbox::new(outbox_frames);
        let session = services.hub().new_session_id();
        services.hub().attach(Subscriber { session, user: caller.id, outbox: outbox.clone() });
        Self { services, caller, session, outbox, queue: Some((rx, kill)) }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.queue.is_some() {
            self.services.hub().detach(self.caller.id, self.session, []);
        }
    }
}

pub async fn run(socket: WebSocket, mut registration: Registration, expires_at: i64, runtime: Arc<WsRuntime>) {
    let Some((rx, kill)) = registration.queue.take() else { return };
    let Registration { ref services, ref caller, session, ref outbox, .. } = registration;
    let (sink, stream) = socket.split();
    services.connected(caller.id).await;
    metrics::gauge!("palaver_ws_sessions").increment(1.0);
    let activity = Arc::new(Activity::new());

    let writer = Writer::new(sink, services.clone(), caller.clone(), session, outbox.clone(), &runtime.config);
    let writer = tokio::spawn(writer.run(rx, kill.clone(), runtime.shutdown.clone(), activity.clone()));
    let reader = Reader::new(services.clone(), caller.clone(), outbox.clone(), &runtime.config, activity);
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
