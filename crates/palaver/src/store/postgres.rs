//! PostgreSQL: one pool for reads and writes; sqlx prepares and caches every statement.

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{Error, PoolSettings, Store};

pub struct PgStore {
    write: PgPool,
    read: PgPool,
}

impl PgStore {
    pub async fn open(url: &str, settings: PoolSettings) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { write: pool.clone(), read: pool })
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn postgres_pool(&self) -> Option<PgPool> {
        Some(self.write.clone())
    }
}

super::users::impl_user_store!(PgStore, Postgres);
super::tokens::impl_token_store!(PgStore, Postgres);
super::rooms::impl_room_store!(PgStore, Postgres);
super::messages::impl_message_store!(PgStore, Postgres);
super::notifications::impl_notification_store!(PgStore, Postgres);
super::uploads::impl_upload_store!(PgStore, Postgres);
super::conversations::impl_conversation_store!(PgStore, Postgres);
super::search::impl_search_store!(PgStore, Postgres,
    render: super::search::tsquery,
    from: "FROM messages m",
    matches: ("m.search_vector @@ CAST(", " AS tsquery)"),
    pos: "m.pos",
    time: "m.created_at", time_of: ("", ""));
