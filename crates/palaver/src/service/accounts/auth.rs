use palaver_protocol::{LoginRequest, RegisterRequest, TokenPair};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Accounts;
use super::bots::is_api_token;
use crate::auth::refresh;
use crate::clock;
use crate::domain::{Email, Password, UserId, UserKind, Username, valid_text};
use crate::error::{Conflict, Error, Result};
use crate::service::{Caller, views};
use crate::store::{self, NewRefreshToken, NewUser, Rotation, Unique, UserRow};

/// How a login names its account.
#[derive(Debug)]
pub enum LoginBy {
    Email(String),
    Username(String),
}

const BAD_CREDENTIALS: &str = "invalid username, email or password";
const BAD_REFRESH: &str = "invalid or expired refresh token";
const BAD_ACCESS: &str = "invalid or expired access token";
const DISABLED: &str = "this account is disabled";

/// A caller vouched for by an access token's signature, whose account is not yet checked:
/// a handler on a hot path checks it beside its own first reads (see `start_reply_signed`).
pub struct SignedCaller {
    pub caller: Caller,
    issued_at: i64,
    expires_at: i64,
    /// An API token's account is looked up to learn who it is: checked already.
    checked: bool,
}

impl Accounts {
    pub async fn register(&self, req: RegisterRequest) -> Result<TokenPair> {
        let user = self.create_user(&req.username, &req.email, &req.password).await?;
        self.issue_tokens(&user, None).await
    }

    /// Creates an account (registration and the admin command share this).
    pub async fn create_user(&self, username: &str, email: &str, password: &str) -> Result<UserRow> {
        let (username, email, password) =
            match (Username::parse(username), Email::parse(email), Password::parse(password)) {
                (Ok(u), Ok(e), Ok(p)) => (u, e, p),
                (u, e, p) => return Err(Error::fields([u.err(), e.err(), p.err()])),
            };
        let password_hash = self.inner.passwords.hash(password.expose().to_owned()).await?;
        let new = NewUser {
            id: UserId::generate(),
            username: username.into_inner(),
            email: email.into_inner(),
            password_hash,
            created_at: clock::now(),
        };
        match self.store().insert_user(new).await {
            Ok(user) => Ok(user),
            Err(store::Error::UniqueViolation(Unique::Email)) => Err(Conflict::EmailTaken.into()),
            Err(store::Error::UniqueViolation(Unique::Username)) => Err(Conflict::UsernameTaken.into()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn login(&self, req: LoginRequest) -> Result<TokenPair> {
        let by = match (req.email, req.username) {
            (Some(email), None) => LoginBy::Email(email),
            (None, Some(username)) => LoginBy::Username(username),
            _ => return Err(Error::invalid("email", "give exactly one of email or username")),
        };
        let user = match &by {
            LoginBy::Email(email) => self.store().user_by_email(valid_text("email", email)?.trim()).await?,
            LoginBy::Username(name) => self.store().user_by_username(valid_text("username", name)?.trim()).await?,
        };
        // A bot has no password: checked against the dummy hash like an unknown user (its
        // empty stored hash is no PHC string), so it is refused the same way, in the same time.
        let stored = user.as_ref().filter(|u| u.kind == UserKind::User).map(|u| u.password_hash.clone());
        let ok = self.inner.passwords.verify(req.password, stored).await?;
        match user {
            // Said only to someone who knows the password.
            Some(user) if ok && user.disabled_at.is_some() => Err(Error::Unauthorized(DISABLED)),
            Some(user) if ok => self.issue_tokens(&user, None).await,
            _ => Err(Error::Unauthorized(BAD_CREDENTIALS)),
        }
    }

    pub async fn refresh(&self, token: &str) -> Result<TokenPair> {
        valid_text("refresh_token", token)?;
        let now = clock::now();
        let (secret, next) = self.new_refresh_token(UserId::from_uuid(Uuid::nil()), Uuid::nil());
        match self.store().rotate_refresh_token(&refresh::hash(token), now, next).await? {
            Rotation::Rotated { user_id } => {
                let user = self.store().user_by_id(user_id).await?.ok_or(Error::Unauthorized(BAD_REFRESH))?;
                // Disabling revokes the refresh tokens too; this covers one rotated meanwhile.
                if user.disabled_at.is_some() {
                    return Err(Error::Unauthorized(DISABLED));
                }
                self.tokens_for(&user, secret).await
            }
            Rotation::Reused => {
                tracing::warn!("refresh token reuse detected; its family is revoked");
                Err(Error::Unauthorized(BAD_REFRESH))
            }
            Rotation::Invalid => Err(Error::Unauthorized(BAD_REFRESH)),
        }
    }

    /// Revokes the refresh token's family if it is the caller's; unknown tokens are a no-op
    /// so logging out twice is harmless.
    pub async fn logout(&self, caller: &Caller, token: &str) -> Result<()> {
        valid_text("refresh_token", token)?;
        self.store().revoke_refresh_family(&refresh::hash(token), caller.id, clock::now()).await?;
        Ok(())
    }

    /// The caller an access token stands for, or 401.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        self.authenticate_until(token).await.map(|(caller, _)| caller)
    }

    /// The caller and the unix time their token expires (a socket is closed then). A valid
    /// signature is not enough: the user must exist and not be disabled, and the token must
    /// be younger than the account's last revocation. One primary-key lookup, uncached, so a
    /// disable holds on every instance from the next request on.
    pub async fn authenticate_until(&self, token: &str) -> Result<(Caller, i64)> {
        if is_api_token(token) {
            return self.authenticate_api_token(token).await;
        }
        let signed = self.verify_access(token)?;
        self.check_account(&signed).await?;
        Ok((signed.caller, signed.expires_at))
    }

    /// The first half of [`authenticate`](Self::authenticate): the token's signature and
    /// expiry, no database. The caller is not to be trusted until
    /// [`check_account`](Self::check_account) passes.
    pub fn verify_access(&self, token: &str) -> Result<SignedCaller> {
        let claims = self.inner.jwt.verify(token).ok_or(Error::Unauthorized(BAD_ACCESS))?;
        Ok(SignedCaller {
            caller: Caller { id: claims.sub, username: claims.name, api_token: None },
            issued_at: claims.iat,
            expires_at: claims.exp,
            checked: false,
        })
    }

    /// [`verify_access`](Self::verify_access) for any bearer token: an API token names its
    /// account only through the lookup, so it comes back checked already.
    pub async fn verify_bearer(&self, token: &str) -> Result<SignedCaller> {
        if is_api_token(token) {
            let (caller, expires_at) = self.authenticate_api_token(token).await?;
            return Ok(SignedCaller { caller, issued_at: 0, expires_at, checked: true });
        }
        self.verify_access(token)
    }

    /// The second half: the account exists, is enabled, and has not revoked the token.
    pub async fn check_account(&self, signed: &SignedCaller) -> Result<()> {
        if signed.checked {
            return Ok(());
        }
        let account = self
            .store()
            .account_state(signed.caller.id)
            .await?
            .ok_or(Error::Unauthorized("this account does not exist"))?;
        if account.disabled_at.is_some() {
            return Err(Error::Unauthorized(DISABLED));
        }
        if account.tokens_revoked_at.is_some_and(|at| signed.issued_at <= at.unix_timestamp()) {
            return Err(Error::Unauthorized("this access token was revoked"));
        }
        Ok(())
    }

    /// A fresh pair starting a new refresh family (or continuing `family`).
    async fn issue_tokens(&self, user: &UserRow, family: Option<Uuid>) -> Result<TokenPair> {
        let (secret, token) = self.new_refresh_token(user.id, family.unwrap_or_else(Uuid::now_v7));
        self.store().insert_refresh_token(token).await?;
        self.tokens_for(user, secret).await
    }

    fn new_refresh_token(&self, user_id: UserId, family_id: Uuid) -> (String, NewRefreshToken) {
        let secret = refresh::generate();
        let now = clock::now();
        let token = NewRefreshToken {
            id: Uuid::now_v7(),
            user_id,
            family_id,
            token_hash: refresh::hash(&secret),
            created_at: now,
            expires_at: now + self.inner.refresh_ttl,
        };
        (secret, token)
    }

    async fn tokens_for(&self, user: &UserRow, refresh_token: String) -> Result<TokenPair> {
        let online = self.inner.presence.is_online(user.id).await;
        let access_token = self.inner.jwt.issue(user.id, &user.username, issue_time(user))?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: self.inner.jwt.ttl_secs,
            user: views::user(user, true, online),
        })
    }
}

/// Now, or the second after the account's last revocation if that is not over yet: `iat` is
/// whole seconds, and a token issued within the revoked second would be refused.
fn issue_time(user: &UserRow) -> OffsetDateTime {
    let now = clock::now();
    match user.tokens_revoked_at.map(|at| at.unix_timestamp() + 1) {
        Some(after) if now.unix_timestamp() < after => OffsetDateTime::from_unix_timestamp(after).unwrap_or(now),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(tokens_revoked_at: Option<OffsetDateTime>) -> UserRow {
        UserRow {
            id: UserId::generate(),
            username: "bob".into(),
            email: "bob@example.com".into(),
            password_hash: String::new(),
            created_at: clock::now(),
            last_seen: None,
            disabled_at: None,
            tokens_revoked_at,
            kind: UserKind::User,
            owner_id: None,
        }
    }

    #[test]
    fn tokens_issued_within_the_revoked_second_carry_the_next_one() {
        let now = clock::now();
        let issued = issue_time(&user(Some(now)));
        assert_eq!(issued.unix_timestamp(), now.unix_timestamp() + 1, "never refused by the revocation");
        let long_ago = now - time::Duration::seconds(10);
        assert!(issue_time(&user(Some(long_ago))).unix_timestamp() <= clock::now().unix_timestamp(), "now");
        assert!(issue_time(&user(None)).unix_timestamp() <= clock::now().unix_timestamp(), "now");
    }
}
