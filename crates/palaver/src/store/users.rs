use time::OffsetDateTime;

use super::Error;
use crate::domain::{UserId, UserKind};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub last_seen: Option<OffsetDateTime>,
    /// Set by `palaver user disable`: no login, no refresh, no request.
    pub disabled_at: Option<OffsetDateTime>,
    /// Access tokens issued in or before this second are refused (kept after an enable).
    pub tokens_revoked_at: Option<OffsetDateTime>,
    pub kind: UserKind,
    /// A bot's maker.
    pub owner_id: Option<UserId>,
}

/// A bot to create: no password, and an API token's hash (none for a webhook's bot, which
/// posts only through its hook).
pub struct NewBot {
    pub id: UserId,
    pub username: String,
    pub owner_id: UserId,
    pub token_hash: Option<Vec<u8>>,
    pub created_at: OffsetDateTime,
}

/// The account an API token stands for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenAccount {
    pub id: UserId,
    pub username: String,
    pub disabled_at: Option<OffsetDateTime>,
}

/// What every authenticated request checks about its token's user: one primary-key lookup.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountState {
    pub disabled_at: Option<OffsetDateTime>,
    pub tokens_revoked_at: Option<OffsetDateTime>,
}

pub struct NewUser {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait UserStore {
    /// Fails with `UniqueViolation` of `Unique::Username` or `Unique::Email`.
    async fn insert_user(&self, user: NewUser) -> Result<UserRow, Error>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, Error>;
    /// Case-insensitive.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>, Error>;
    /// Case-insensitive.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, Error>;
    async fn list_users(&self) -> Result<Vec<UserRow>, Error>;
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<bool, Error>;
    async fn set_last_seen(&self, id: UserId, at: OffsetDateTime) -> Result<(), Error>;
    /// Each of `users` that exists, with when they were last seen (a few hundred at a time).
    async fn last_seen_of(&self, users: &[UserId]) -> Result<Vec<(UserId, Option<OffsetDateTime>)>, Error>;
    /// `None` if no such user.
    async fn account_state(&self, id: UserId) -> Result<Option<AccountState>, Error>;
    /// Marks the account disabled and revokes its tokens as of `now`, its refresh tokens
    /// included, in one transaction. `false` if no such user.
    async fn disable_user(&self, id: UserId, now: OffsetDateTime) -> Result<bool, Error>;
    /// Lifts the disable (revoked tokens stay revoked). `false` if no such user.
    async fn enable_user(&self, id: UserId) -> Result<bool, Error>;
    /// Users disabled at or after `since` (compared to the whole second on SQLite, whose
    /// text timestamps only sort correctly up to the second).
    async fn disabled_since(&self, since: OffsetDateTime) -> Result<Vec<UserId>, Error>;
    /// Fails with `UniqueViolation(Unique::Username)` if the name is taken.
    async fn insert_bot(&self, bot: NewBot) -> Result<UserRow, Error>;
    /// The account whose API token hashes to `hash`: one lookup of a unique index.
    async fn account_by_token(&self, hash: &[u8]) -> Result<Option<TokenAccount>, Error>;
    /// The live bots `owner` made (those with a token: not deleted, not a webhook's).
    async fn bots_of(&self, owner: UserId) -> Result<Vec<UserRow>, Error>;
    /// Replaces the token of `owner`'s live bot `id`; returns the old token's hash, `None`
    /// if there is no such bot of theirs.
    async fn replace_bot_token(&self, id: UserId, owner: UserId, hash: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// Deletes `owner`'s live bot `id`: its token is dropped and the account disabled (the
    /// row stays for its messages). Returns the old token's hash, `None` if no such bot.
    async fn delete_bot(&self, id: UserId, owner: UserId, now: OffsetDateTime) -> Result<Option<Vec<u8>>, Error>;
}

/// The columns of a `UserRow`, in its order.
macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, created_at, last_seen, disabled_at, tokens_revoked_at, kind, owner_id"
    };
}
pub(crate) use user_columns;

macro_rules! impl_user_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::UserStore for $store {
            async fn insert_user(
                &self,
                user: $crate::store::NewUser,
            ) -> Result<$crate::store::UserRow, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "INSERT INTO users (id, username, email, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     RETURNING ",
                    $crate::store::users::user_columns!()
                ))
                .bind(user.id)
                .bind(user.username)
                .bind(user.email)
                .bind(user.password_hash)
                .bind(user.created_at)
                .fetch_one(&self.write)
                .await?)
            }

            async fn user_by_id(
                &self,
                id: $crate::domain::UserId,
            ) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE lower(username) = lower($1)"
                ))
                .bind(username)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE lower(email) = lower($1)"
                ))
                .bind(email)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn list_users(&self) -> Result<Vec<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users ORDER BY id"
                ))
                .fetch_all(&self.read)
                .await?)
            }

            async fn set_password_hash(
                &self,
                id: $crate::domain::UserId,
                hash: &str,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_last_seen(
                &self,
                id: $crate::domain::UserId,
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>("UPDATE users SET last_seen = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn last_seen_of(
                &self,
                users: &[$crate::domain::UserId],
            ) -> Result<Vec<($crate::domain::UserId, Option<time::OffsetDateTime>)>, $crate::store::Error> {
                if users.is_empty() {
                    return Ok(vec![]);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new("SELECT id, last_seen FROM users WHERE id IN (");
                let mut list = query.separated(", ");
                for id in users {
                    list.push_bind(*id);
                }
                query.push(")");
                Ok(query.build_query_as().fetch_all(&self.read).await?)
            }

            async fn account_state(
                &self,
                id: $crate::domain::UserId,
            ) -> Result<Option<$crate::store::AccountState>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::AccountState>(
                    "SELECT disabled_at, tokens_revoked_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn disable_user(
                &self,
                id: $crate::domain::UserId,
                now: time::OffsetDateTime,
            ) -> Result<bool, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let done =
                    sqlx::query::<$db>("UPDATE users SET disabled_at = $2, tokens_revoked_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query::<$db>(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn enable_user(&self, id: $crate::domain::UserId) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>("UPDATE users SET disabled_at = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn disabled_since(
                &self,
                since: time::OffsetDateTime,
            ) -> Result<Vec<$crate::domain::UserId>, $crate::store::Error> {
                // A whole-second bound: SQLite compares RFC 3339 text, in which a fraction
                // (".5Z", ".25Z", none) does not sort, but the seconds before it do.
                let since = since.replace_nanosecond(0).unwrap_or(since);
                Ok(sqlx::query_scalar::<$db, $crate::domain::UserId>("SELECT id FROM users WHERE disabled_at >= $1")
                    .bind(since)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn insert_bot(
                &self,
                bot: $crate::store::NewBot,
            ) -> Result<$crate::store::UserRow, $crate::store::Error> {
                // A bot has no password (an empty hash never verifies) and no mailbox: the
                // reserved `.invalid` domain (RFC 2606) keeps the column unique and unusable.
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "INSERT INTO users (id, username, email, password_hash, created_at, kind, owner_id, token_hash)
                     VALUES ($1, $2, $3, '', $4, 'bot', $5, $6)
                     RETURNING ",
                    $crate::store::users::user_columns!()
                ))
                .bind(bot.id)
                .bind(bot.username)
                .bind(format!("{}@bots.invalid", bot.id.uuid().simple()))
                .bind(bot.created_at)
                .bind(bot.owner_id)
                .bind(bot.token_hash)
                .fetch_one(&self.write)
                .await?)
            }

            async fn account_by_token(
                &self,
                hash: &[u8],
            ) -> Result<Option<$crate::store::TokenAccount>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::TokenAccount>(
                    "SELECT id, username, disabled_at FROM users WHERE token_hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn bots_of(
                &self,
                owner: $crate::domain::UserId,
            ) -> Result<Vec<$crate::store::UserRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UserRow>(concat!(
                    "SELECT ",
                    $crate::store::users::user_columns!(),
                    " FROM users WHERE owner_id = $1 AND token_hash IS NOT NULL ORDER BY id"
                ))
                .bind(owner)
                .fetch_all(&self.read)
                .await?)
            }

            async fn replace_bot_token(
                &self,
                id: $crate::domain::UserId,
                owner: $crate::domain::UserId,
                hash: &[u8],
            ) -> Result<Option<Vec<u8>>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let old = sqlx::query_scalar::<$db, Vec<u8>>(
                    "SELECT token_hash FROM users WHERE id = $1 AND owner_id = $2 AND token_hash IS NOT NULL",
                )
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
                if old.is_some() {
                    sqlx::query::<$db>("UPDATE users SET token_hash = $2 WHERE id = $1")
                        .bind(id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                Ok(old)
            }

            async fn delete_bot(
                &self,
                id: $crate::domain::UserId,
                owner: $crate::domain::UserId,
                now: time::OffsetDateTime,
            ) -> Result<Option<Vec<u8>>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let old = sqlx::query_scalar::<$db, Vec<u8>>(
                    "SELECT token_hash FROM users WHERE id = $1 AND owner_id = $2 AND token_hash IS NOT NULL",
                )
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
                if old.is_some() {
                    sqlx::query::<$db>(
                        "UPDATE users SET token_hash = NULL, disabled_at = $2, tokens_revoked_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
                Ok(old)
            }
        }
    };
}
pub(crate) use impl_user_store;
