use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;
use crate::domain::UserId;

pub struct NewRefreshToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now used and `next` replaced it.
    Rotated { user_id: UserId },
    /// The token had been used or revoked before: its whole family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

#[async_trait::async_trait]
pub trait TokenStore {
    async fn insert_refresh_token(&self, token: NewRefreshToken) -> Result<(), Error>;
    /// Atomically consumes the token with `hash` and stores `next` in its family (the
    /// `family_id` and `user_id` of `next` are taken from the consumed token).
    async fn rotate_refresh_token(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
        next: NewRefreshToken,
    ) -> Result<Rotation, Error>;
    /// Revokes the family of the token with `hash` if it belongs to `user_id`.
    async fn revoke_refresh_family(&self, hash: &[u8], user_id: UserId, now: OffsetDateTime) -> Result<(), Error>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenState {
    pub user_id: UserId,
    pub family_id: Uuid,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

macro_rules! impl_token_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::TokenStore for $store {
            async fn insert_refresh_token(
                &self,
                token: $crate::store::NewRefreshToken,
            ) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(token.id)
                .bind(token.user_id)
                .bind(token.family_id)
                .bind(token.token_hash)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn rotate_refresh_token(
                &self,
                hash: &[u8],
                now: time::OffsetDateTime,
                next: $crate::store::NewRefreshToken,
            ) -> Result<$crate::store::Rotation, $crate::store::Error> {
                use $crate::store::Rotation;
                let mut tx = self.write.begin().await?;
                let Some(state) = sqlx::query_as::<$db, $crate::store::tokens::TokenState>(
                    "SELECT user_id, family_id, expires_at, used_at, revoked_at
                     FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(Rotation::Invalid);
                };
                if state.expires_at <= now && state.used_at.is_none() && state.revoked_at.is_none() {
                    return Ok(Rotation::Invalid);
                }
                // The `used_at IS NULL` guard makes two concurrent uses race to one winner;
                // the loser is treated as a reuse like any other second presentation.
                let consumed = if state.used_at.is_none() && state.revoked_at.is_none() {
                    sqlx::query::<$db>(
                        "UPDATE refresh_tokens SET used_at = $2
                         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    0
                };
                if consumed != 1 {
                    sqlx::query::<$db>(
                        "UPDATE refresh_tokens SET revoked_at = $2
                         WHERE family_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(state.family_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(Rotation::Reused);
                }
                sqlx::query::<$db>(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(next.id)
                .bind(state.user_id)
                .bind(state.family_id)
                .bind(next.token_hash)
                .bind(next.created_at)
                .bind(next.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Rotation::Rotated { user_id: state.user_id })
            }

            async fn revoke_refresh_family(
                &self,
                hash: &[u8],
                user_id: $crate::domain::UserId,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "UPDATE refresh_tokens SET revoked_at = $3
                     WHERE revoked_at IS NULL AND family_id IN
                       (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)",
                )
                .bind(hash)
                .bind(user_id)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_token_store;
