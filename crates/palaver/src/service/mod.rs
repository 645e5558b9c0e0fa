//! The rules of the chat domain. Every REST handler and WebSocket frame goes through a
//! function here; nothing here knows about HTTP or sockets.

mod accounts;
mod assistant;
mod auth;
mod breaker;
mod catch_up;
mod conversations;
mod events;
mod live;
mod messages;
mod notifications;
mod readiness;
mod rooms;
mod sequencer;
mod uploads;
mod users;
mod views;

use std::sync::Arc;

use crate::auth::JwtKeys;
use crate::auth::password::Passwords;
use crate::domain::UserId;
use crate::ratelimit::SharedRateLimit;
use crate::realtime::redis::InstanceRegistry;
use crate::realtime::{Broker, Hub, PresenceRegistry};
use crate::store::DynStore;

pub use assistant::{AssistantSettings, Started};
pub use auth::{LoginBy, SignedCaller};
pub use live::ResumePoint;
pub use messages::{Draft, Posting};
pub use readiness::{Dependency, Readiness, Writers};
pub use rooms::Access;
pub use uploads::{Incoming, UploadAccess, UploadSettings, UploadView};

/// Who is asking: established once from the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: UserId,
    pub username: String,
}

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    jwt: JwtKeys,
    passwords: Passwords,
    refresh_ttl: time::Duration,
    broker: Arc<dyn Broker>,
    hub: Arc<Hub>,
    /// The Redis the instances share, when they do.
    cluster: Option<Cluster>,
    /// Stops the broker's tasks when the services are gone.
    _fan_out: tokio_util::sync::DropGuard,
    presence: PresenceRegistry,
    sequencer: sequencer::Sequencer,
    presence_grace: std::time::Duration,
    /// Every user's budget of message writes (posts, edits, deletes), REST and WebSocket alike.
    writes: SharedRateLimit<UserId>,
    uploads: uploads::Uploads,
    /// Set once at start when an LLM is configured.
    assistant: std::sync::OnceLock<assistant::Assistant>,
    /// Cancelled when the server stops: running replies end as interrupted.
    shutdown: tokio_util::sync::CancellationToken,
}

/// How events reach sessions: this instance's hub, and the broker that feeds every
/// instance's hub (with the Redis connection behind it, if any).
pub struct FanOut {
    pub hub: Arc<Hub>,
    pub broker: Arc<dyn Broker>,
    pub cluster: Option<Cluster>,
    /// Cancelled when the services are dropped.
    pub stop: tokio_util::sync::CancellationToken,
}

/// What instances share through Redis besides events.
pub struct Cluster {
    /// For connections of their own (following a reply that runs elsewhere).
    pub client: redis::Client,
    /// Commands (rate limits, replies' streams).
    pub redis: redis::aio::ConnectionManager,
    pub instances: Arc<InstanceRegistry>,
}

/// Tunables of the services, from `Config`.
pub struct Settings {
    pub refresh_ttl_secs: u64,
    /// The bounded pool of password hashers.
    pub passwords: Passwords,
    /// How long a user stays online after their last socket closed.
    pub presence_grace: std::time::Duration,
    /// Tasks that write room events (rooms are sharded over them); SQLite uses one.
    pub write_shards: usize,
    /// Message writes per second per user, on average ...
    pub writes_per_sec: f64,
    /// ... and in a burst.
    pub write_burst: f64,
    pub uploads: UploadSettings,
    /// `None` without an LLM: the assistant's replies answer 503.
    pub assistant: Option<AssistantSettings>,
}

impl Services {
    /// Starts the services' tasks and threads (message writers, image decoders).
    pub fn new(store: DynStore, jwt: JwtKeys, settings: Settings, fan_out: FanOut) -> std::io::Result<Self> {
        let FanOut { hub, broker, cluster, stop } = fan_out;
        let redis = cluster.as_ref().map(|c| &c.redis);
        let uploads = uploads::Uploads::new(settings.uploads, redis)?;
        let writes = SharedRateLimit::new("writes", settings.writes_per_sec, settings.write_burst, redis);
        let sequencer =
            sequencer::Sequencer::start(store.clone(), broker.clone(), uploads.signer().clone(), settings.write_shards);
        let services = Self {
            inner: Arc::new(Inner {
                store,
                jwt,
                passwords: settings.passwords,
                refresh_ttl: time::Duration::seconds(settings.refresh_ttl_secs as i64),
                broker,
                hub,
                cluster,
                _fan_out: stop.drop_guard(),
                presence: PresenceRegistry::default(),
                sequencer,
                presence_grace: settings.presence_grace,
                writes,
                uploads,
                assistant: std::sync::OnceLock::new(),
                shutdown: tokio_util::sync::CancellationToken::new(),
            }),
        };
        if let Some(settings) = settings.assistant {
            let assistant = assistant::Assistant::new(settings, &services, services.inner.shutdown.clone());
            let _ = services.inner.assistant.set(assistant);
            services.cancel_when_asked();
        }
        services.watch_disabled_accounts();
        services.catch_up_after_gaps();
        services.beat_while_running();
        services.sweep_uploads_periodically();
        Ok(services)
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// The Redis the instances share, if they do.
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        self.inner.cluster.as_ref().map(|c| &c.redis)
    }

    /// This instance's live subscribers.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Resolves once events published anywhere reach this instance's subscribers of `topic`.
    pub async fn listening(&self, topic: crate::realtime::Topic) {
        self.inner.broker.ready(topic).await;
    }

    fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }

    fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// Signs the URLs of attachments.
    fn signer(&self) -> &crate::uploads::signed::UrlSigner {
        self.inner.uploads.signer()
    }
}
