//! One socket: a reader task (client frames → services) and a writer task (outbox →
//! socket), joined by the bounded outbox. Either side ending ends both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;

use super::SessionServices;
use super::WsRuntime;
use super::reader::Reader;
use super::writer::Writer;
use crate::domain::UserId;
use crate::realtime::{Consumer, KillSwitch, Outbox, Outgoing, SessionId, Subscriber};
use crate::service::Caller;

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
    caller: Caller,
    attached: Attached,
    outbox: Outbox,
    rx: Consumer<Outgoing>,
}

impl Registration {
    pub fn new(services: Arc<SessionServices>, caller: Caller, outbox_frames: usize) -> Self {
        let (outbox, rx, kill) = Outbox::new(outbox_frames);
        let session = services.hub.new_session_id();
        services.hub.attach(Subscriber { session, user: caller.id, outbox: outbox.clone() });
        if let Some(tag) = caller.api_token {
            services.hub.tag_session(session, tag);
        }
        let attached = Attached { services, user: caller.id, session, kill, online: false };
        Self { caller, attached, outbox, rx }
    }
}

/// What a session holds in shared state: its place in the hub (from registration) and its
/// socket in presence (once running). Dropping it gives both back however the session
/// ends, a panic in the reader included, and trips the kill switch so the writer ends too.
struct Attached {
    services: Arc<SessionServices>,
    user: UserId,
    session: SessionId,
    kill: KillSwitch,
    /// Counted in presence (and in the sessions gauge).
    online: bool,
}

impl Attached {
    async fn go_online(&mut self) {
        // Marked first: presence counts the socket before `connected` first awaits.
        self.online = true;
        metrics::gauge!("palaver_ws_sessions").increment(1.0);
        self.services.presence.connected(self.user).await;
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.kill.trip(1000);
        self.services.hub.detach(self.user, self.session);
        if self.online {
            self.services.presence.disconnected(self.user);
            metrics::gauge!("palaver_ws_sessions").decrement(1.0);
        }
    }
}

/// The session's task. Not an `async fn`: the socket and the registration are taken apart
/// before the task's future is built, which then holds only the parts (an `async fn`
/// keeps room for its arguments for as long as it runs, and every idle socket pays for it).
pub fn run(
    socket: WebSocket,
    registration: Registration,
    expires_at: i64,
    runtime: Arc<WsRuntime>,
) -> impl Future<Output = ()> + Send {
    let Registration { caller, mut attached, outbox, rx } = registration;
    let (sink, stream) = socket.split();
    async move {
        let services = attached.services.clone();
        let kill = attached.kill.clone();
        // Boxed: presence's announcement is deep and runs once; the idle task should not
        // keep room for it.
        Box::pin(attached.go_online()).await;
        // Registered after `going_away` tripped everyone: this one is closed too.
        if runtime.shutdown.is_cancelled() {
            kill.trip(palaver_protocol::ws::close::GOING_AWAY);
        }
        let activity = Arc::new(Activity::new());

        let mut writer = Writer::new(
            sink,
            services.clone(),
            caller.clone(),
            attached.session,
            outbox.clone(),
            kill.clone(),
            &runtime.config,
        );
        let writer = tokio::spawn({
            let activity = activity.clone();
            async move { writer.run(rx, activity).await }
        });
        let mut reader = Reader::new(services, caller.clone(), outbox, &runtime.config, activity);
        reader.run(stream, kill.clone(), expires_at).await;

        // The reader is done (client gone, or the kill switch tripped): stop the writer too,
        // and let it say goodbye before the session is given back.
        kill.trip(1000);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "WebSocket writer task failed");
        }
        tracing::debug!(user = %caller.id, code = kill.code(), "WebSocket session ended");
        drop(attached);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn scratch_services(data_dir: &std::path::Path) -> Arc<SessionServices> {
        let mut config = crate::config::Config {
            data_dir: data_dir.to_path_buf(),
            jwt_secret: Some("a test secret that is long enough for hs256".into()),
            ..Default::default()
        };
        config.ws.presence_grace_ms = 1;
        let services = crate::app::services(&config).await.expect("services on a scratch SQLite database");
        Arc::new(SessionServices::new(&services))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_session_leaves_the_hub_and_presence() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let services = scratch_services(dir.path()).await;
        let caller = Caller { id: UserId::generate(), username: "alice".into(), api_token: None };
        let registration = Registration::new(services.clone(), caller.clone(), 8);
        assert_eq!(services.hub.sessions_of(caller.id), 1);

        let kill = registration.attached.kill.clone();
        let running = services.clone();
        let task = tokio::spawn(async move {
            let Registration { mut attached, .. } = registration;
            attached.go_online().await;
            assert!(running.presence.is_online(attached.user).await);
            panic!("a bug in the reader");
        });
        assert!(task.await.expect_err("the task panicked").is_panic());

        assert_eq!(services.hub.sessions_of(caller.id), 0, "the hub forgot the session");
        assert!(kill.is_tripped(), "the writer is told to stop");
        // Offline once the (1 ms) grace period has passed; a generous deadline for "never".
        let deadline = Instant::now() + Duration::from_secs(10);
        while services.presence.is_online(caller.id).await {
            assert!(Instant::now() < deadline, "the panicked session's user stays online");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
