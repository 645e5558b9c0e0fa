//! PostgreSQL: one pool for reads and writes; sqlx prepares and caches every statement.

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};
use uuid::Uuid;

use super::messages::{ItemRow, MessageRow, NewMessage, NotifyPlan, Posted, message_sql, one_statement, outcomes};
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

impl PgStore {
    /// `post_batch` in one statement when the batch allows it (`messages::one_statement`);
    /// `None`: the general path must store it (nothing was written).
    async fn post_batch_at_once(
        &self,
        items: &[(NewMessage, NotifyPlan)],
    ) -> Result<Option<Vec<Option<Posted>>>, Error> {
        let Some(room) = one_statement::eligible(items) else {
            return Ok(None);
        };
        let messages = || items.iter().map(|(msg, _)| msg);
        let stored = sqlx::query_as::<_, ItemRow>(one_statement::SQL)
            .bind(room)
            .bind(messages().map(|m| Uuid::from(m.id)).collect::<Vec<_>>())
            .bind(messages().map(|m| Uuid::from(m.author_id)).collect::<Vec<_>>())
            .bind(messages().map(|m| m.kind).collect::<Vec<_>>())
            .bind(messages().map(|m| m.content.as_str()).collect::<Vec<_>>())
            .bind(messages().map(|m| m.attachment.map(|a| Uuid::from(a.upload_id))).collect::<Vec<_>>())
            .bind(messages().map(|m| m.client_msg_id.as_deref()).collect::<Vec<_>>())
            .bind(messages().map(|m| m.created_at).collect::<Vec<_>>())
            .fetch_all(&self.write)
            .await
            .map_err(Error::from);
        let rows = match stored {
            Ok(rows) => rows,
            Err(e) if e.is_row_error() => return Ok(None),
            Err(e) => return Err(e),
        };
        let retried: Vec<Uuid> = rows.iter().filter_map(|row| row.earlier.map(Uuid::from)).collect();
        let earlier = if retried.is_empty() {
            vec![]
        } else {
            sqlx::query_as::<_, MessageRow>(concat!(message_sql!(), " WHERE m.id = ANY($1)"))
                .bind(retried)
                .fetch_all(&self.read)
                .await?
        };
        // The new messages are committed: a mismatch here must not send the batch down the
        // general path, which would store the unkeyed ones twice.
        let slots =
            (rows.len() == items.len()).then(|| one_statement::slots(&rows, earlier)).flatten().ok_or_else(|| {
                Error::Database(sqlx::Error::Protocol("the batch statement's rows do not match its items".into()))
            })?;
        let notified = items.iter().map(|_| Vec::new()).collect();
        Ok(Some(outcomes(items, slots, notified)))
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
