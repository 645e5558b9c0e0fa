use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub last_seen: Option<OffsetDateTime>,
}

pub struct NewUser {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait UserStore {
    /// Fails with `UniqueViolation` naming `users_username_unique` or `users_email_unique`.
    async fn insert_user(&self, user: NewUser) -> Result<UserRow, Error>;
    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRow>, Error>;
    /// Case-insensitive.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>, Error>;
    /// Case-insensitive.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, Error>;
    async fn list_users(&self) -> Result<Vec<UserRow>, Error>;
    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<bool, Error>;
    async fn set_last_seen(&self, id: Uuid, at: OffsetDateTime) -> Result<(), Error>;
}

macro_rules! impl_user_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::UserStore for $store {
            async fn insert_user(
                &self,
                user: $crate::store::NewUser,
            ) -> Result<$crate::store::UserRow, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(
                    "INSERT INTO users (id, username, email, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     RETURNING id, username, email, password_hash, created_at, last_seen",
                )
                .bind(user.id)
                .bind(user.username)
                .bind(user.email)
                .bind(user.password_hash)
                .bind(user.created_at)
                .fetch_one(&self.write)
                .await?)
            }

            async fn user_by_id(&self, id: uuid::Uuid) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(
                    "SELECT id, username, email, password_hash, created_at, last_seen
                     FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(
                    "SELECT id, username, email, password_hash, created_at, last_seen
                     FROM users WHERE lower(username) = lower($1)",
                )
                .bind(username)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(
                    "SELECT id, username, email, password_hash, created_at, last_seen
                     FROM users WHERE lower(email) = lower($1)",
                )
                .bind(email)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn list_users(&self) -> Result<Vec<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(
                    "SELECT id, username, email, password_hash, created_at, last_seen
                     FROM users ORDER BY id",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn set_password_hash(&self, id: uuid::Uuid, hash: &str) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_last_seen(
                &self,
                id: uuid::Uuid,
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>("UPDATE users SET last_seen = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_user_store;
