//! Building and running the server: tests and `palaver serve` start it the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::assistant::llm::{LlmClient, LlmSettings};
use crate::assistant::mcp::McpHub;
use crate::auth::password::Passwords;
use crate::auth::{JwtKeys, secret};
use crate::config::{BlobStorage, Config};
use crate::http::{self, AppState};
use crate::realtime::redis::RedisBroker;
use crate::realtime::{self, Hub, InProcessBroker, Interest};
use crate::server::{self, ConnectionLimits};
use crate::service::{
    self, Accounts, AccountsSettings, Assistant, Heartbeat, InstanceRegistry, Messages, Notifications, Presence,
    Publisher, Readiness, Rooms, Search, Services, UploadSettings, Uploads, WriteSettings,
};
use crate::store;
use crate::uploads::blobs::{BlobStore, LocalBlobs, PgBlobs};
use crate::uploads::signed::UrlSigner;
use crate::ws::WsRuntime;
use crate::{fd_limit, private_fs};

pub struct Application {
    services: Services,
    listener: TcpListener,
    router: Router,
    ws: Arc<WsRuntime>,
    connections: ConnectionLimits,
}

/// Opens the store (creating the data dir, private to this user, and running migrations)
/// and the services on it.
pub async fn services(config: &Config) -> anyhow::Result<Services> {
    private_fs::prepare_dir(&config.data_dir)
        .with_context(|| format!("preparing data dir {}", config.data_dir.display()))?;
    let url = config.effective_database_url();
    let pool = store::PoolSettings {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_millis(config.database.acquire_timeout_ms),
    };
    let store = store::open(&url, pool)
        .await
        .with_context(|| format!("opening the {} database", url.split(':').next().unwrap_or("")))?;
    let secret = secret::load_or_create(config.jwt_secret.as_deref(), &config.data_dir)?;
    let service::FanOut { hub, broker, cluster, stop } = fan_out(config)?;
    let cluster = cluster.map(Arc::new);
    let redis = cluster.as_deref().map(|c| &c.redis);
    // Each area's handle, built after those it uses.
    let publisher = Publisher::new(broker, stop);
    let presence = Presence::new(
        store.clone(),
        publisher.clone(),
        cluster.as_ref().map(|c| c.instances.clone()),
        Duration::from_millis(config.ws.presence_grace_ms),
    );
    let accounts = Accounts::new(
        store.clone(),
        AccountsSettings {
            jwt: JwtKeys::new(&secret, config.auth.access_ttl_secs),
            passwords: Passwords::per_core(Duration::from_millis(config.auth.hash_wait_ms))
                .context("starting the password hashers")?,
            refresh_ttl: time::Duration::seconds(config.auth.refresh_ttl_secs as i64),
        },
        presence.clone(),
        hub.clone(),
        publisher.clone(),
    );
    let uploads = Uploads::new(store.clone(), upload_settings(config, &store, &secret)?, redis)
        .context("starting the image decoders")?;
    let rooms = Rooms::new(store.clone(), publisher.clone(), accounts.clone(), presence.clone());
    // SQLite has one writer; PostgreSQL commits several rooms' batches side by side.
    let write_shards =
        if store.backend() == "sqlite" { 1 } else { (config.database.max_connections / 2).max(1) as usize };
    let messages = Messages::new(
        store.clone(),
        rooms.clone(),
        uploads.clone(),
        publisher.clone(),
        hub.clone(),
        WriteSettings { shards: write_shards, limits: &config.limits },
        redis,
    );
    let assistant =
        Assistant::new(store.clone(), accounts.clone(), &publisher, cluster.clone(), assistant_settings(config)?);
    if let Some(cluster) = &cluster {
        Heartbeat::start(cluster.instances.clone(), store.clone(), &presence, &assistant);
    }
    Ok(Services {
        notifications: Notifications::new(store.clone()),
        search: Search::new(store.clone(), &uploads),
        readiness: Readiness::new(store.clone(), publisher.clone(), messages.clone()),
        accounts,
        rooms,
        messages,
        presence,
        uploads,
        assistant,
        publisher,
        hub,
        store,
        cluster,
    })
}

fn upload_settings(config: &Config, store: &store::DynStore, secret: &[u8]) -> anyhow::Result<UploadSettings> {
    Ok(UploadSettings {
        blobs: blob_store(config, store)?,
        signer: UrlSigner::new(secret, config.uploads.url_ttl_secs),
        config: config.uploads.clone(),
    })
}

/// In-process delivery, or Redis between instances when `redis_url` is set (the broker's
/// tasks connect in the background: an instance starts even while Redis is down).
fn fan_out(config: &Config) -> anyhow::Result<service::FanOut> {
    let stop = CancellationToken::new();
    let Some(url) = &config.redis_url else {
        let hub = Arc::new(Hub::default());
        return Ok(service::FanOut { broker: Arc::new(InProcessBroker::new(hub.clone())), hub, cluster: None, stop });
    };
    let client = redis::Client::open(url.as_str()).context("redis_url is not a Redis URL")?;
    let redis = realtime::redis::commands(&client)?;
    let instance = Uuid::now_v7();
    let interest = Arc::new(Interest::default());
    let hub = Arc::new(Hub::with_interest(interest.clone()));
    let broker = RedisBroker::start(instance, client.clone(), redis.clone(), hub.clone(), interest, stop.clone());
    let instances = Arc::new(InstanceRegistry::new(redis.clone(), instance));
    let cluster = service::Cluster { client, redis, instances };
    Ok(service::FanOut { broker: Arc::new(broker), hub, cluster: Some(cluster), stop })
}

/// The assistant, when an LLM is configured (`Config::validate` has checked the model is).
fn assistant_settings(config: &Config) -> anyhow::Result<Option<service::AssistantSettings>> {
    let (Some(base_url), Some(model)) = (&config.llm.base_url, &config.llm.model) else { return Ok(None) };
    let llm = LlmClient::new(LlmSettings {
        base_url: base_url.clone(),
        api_key: config.llm.api_key.clone(),
        model: model.clone(),
        connect_timeout: Duration::from_secs(config.llm.connect_timeout_secs),
        stall_timeout: Duration::from_secs(config.llm.stall_timeout_secs),
    })
    .context("setting up the LLM client")?;
    Ok(Some(service::AssistantSettings {
        llm,
        mcp: McpHub::new(config.mcp.servers.clone()),
        system_prompt: config.llm.system_prompt.clone(),
        max_prompt_tokens: config.llm.max_prompt_tokens,
        max_tool_rounds: config.llm.max_tool_rounds,
        max_running_per_user: config.llm.max_running_per_user,
        sends_per_minute: config.llm.sends_per_minute,
    }))
}

/// Where uploads live: PostgreSQL when the database is (unless told otherwise), so every
/// instance reaches every file; else under the data dir.
fn blob_store(config: &Config, store: &store::DynStore) -> anyhow::Result<Arc<dyn BlobStore>> {
    let pool = store.postgres_pool();
    Ok(match (config.uploads.storage, pool) {
        (BlobStorage::Auto | BlobStorage::Database, Some(pool)) => Arc::new(PgBlobs::new(pool)),
        // `Config::validate` refuses `database` without PostgreSQL.
        (BlobStorage::Database, None) => anyhow::bail!("uploads.storage = database needs a PostgreSQL database"),
        (BlobStorage::Auto | BlobStorage::Local, _) => {
            let root = config.data_dir.join("uploads");
            Arc::new(LocalBlobs::open(root.clone()).with_context(|| format!("preparing {}", root.display()))?)
        }
    })
}

impl Application {
    /// Opens the database (running migrations), binds the listener and builds the router.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let services = services(&config).await?;
        // No reply outlives the server that ran it: what a crash left running ends here
        // (only when serving: `palaver user ...` beside a running server must not).
        let interrupted = services.assistant.end_orphaned_replies().await.context("ending interrupted replies")?;
        if interrupted > 0 {
            tracing::info!(interrupted, "marked assistant replies left running by the last run as interrupted");
        }
        let listener = TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
        let ws = WsRuntime::new(&services, config.ws.clone());
        let state = AppState { services: services.clone(), metrics: http::metrics_handle(), ws: ws.clone() };
        let router = http::router(state, &config.limits, config.uploads.max_bytes);
        let connections = ConnectionLimits {
            header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
            max_connections: fit_descriptors(config.limits.max_connections, config.database.max_connections),
        };
        Ok(Self { services, listener, router, ws, connections })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The services the server runs on (tests reach into them for what has no endpoint).
    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests
    /// and closes every WebSocket with 1001.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let ws = self.ws.clone();
        let services = self.services.clone();
        let signal = async move {
            shutdown.await;
            // Upgraded sockets are not HTTP requests that graceful shutdown waits for.
            ws.going_away(&services.hub);
            // Running replies end now, as interrupted: their SSE streams are requests that
            // graceful shutdown would otherwise wait out to the replies' ends.
            services.assistant.stop_replies();
        };
        server::serve(self.listener, self.router, self.connections, signal).await;
        // ... and are stored with the part so far before the process exits.
        self.services.assistant.interrupt_replies(Duration::from_secs(5)).await;
        self.ws.close_all(&self.services.hub, Duration::from_secs(5)).await;
        self.services.presence.leave_cluster().await;
        Ok(())
    }
}

/// Descriptors kept for everything but client connections: the database pool (SQLite
/// connections hold the database and its WAL open), the listener, logs, migrations.
fn reserved_descriptors(database_connections: u32) -> u64 {
    64 + 3 * u64::from(database_connections)
}

/// `wanted` connections, or fewer if the descriptor limit cannot hold them, so the server
/// stops accepting before `accept` fails for want of descriptors.
fn fit_descriptors(wanted: usize, database_connections: u32) -> usize {
    let Some(limit) = fd_limit::current() else { return wanted };
    // Never below a handful, even under an absurdly low limit: then accept errors back off.
    let room = limit.saturating_sub(reserved_descriptors(database_connections)).max(16);
    let fitted = usize::try_from(room).unwrap_or(usize::MAX).min(wanted);
    if fitted < wanted {
        tracing::warn!(
            wanted,
            fitted,
            open_file_limit = limit,
            "limits.max_connections lowered to fit the open file limit"
        );
    }
    fitted
}
