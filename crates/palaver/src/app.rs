//! Building and running the server: tests and `palaver serve` start it the same way.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{JwtKeys, secret};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::service::Services;
use crate::store;

pub struct Application {
    listener: TcpListener,
    router: Router,
}

/// Opens the store (creating the data dir and running migrations) and the services on it.
pub async fn services(config: &Config) -> anyhow::Result<Services> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let url = config.effective_database_url();
    let store = store::open(&url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the {} database", url.split(':').next().unwrap_or("")))?;
    let secret = secret::load_or_create(config.jwt_secret.as_deref(), &config.data_dir)?;
    let jwt = JwtKeys::new(&secret, config.auth.access_ttl_secs);
    Ok(Services::new(store, jwt, config.auth.refresh_ttl_secs))
}

impl Application {
    /// Opens the database (running migrations), binds the listener and builds the router.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let services = services(&config).await?;
        let listener = TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
        let state = AppState { services, metrics: http::metrics_handle() };
        let router = http::router(state, config.limits.json_body_bytes);
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}
