//! Bots and their API tokens. A bot is an account of kind `bot` made by a user: no
//! password (it cannot log in), one token at a time (`plv_` and 256 random bits, shown
//! once, stored as SHA-256, no expiry). A token is accepted wherever an access token is;
//! rotating or deleting closes the sockets opened with the old one, on every instance.

use palaver_protocol::{BotToken, CreatedBot, User};
use sha2::{Digest, Sha256};

use super::Accounts;
use crate::auth::refresh;
use crate::clock;
use crate::domain::{UserId, Username};
use crate::error::{Conflict, Error, Result};
use crate::realtime::{Control, Envelope, Topic};
use crate::service::{Caller, views};
use crate::store::{self, NewBot, Unique};

/// What every API token starts with: access tokens (JWTs) never do, so one look at a
/// bearer token says which lookup it needs.
pub const TOKEN_PREFIX: &str = "plv_";

/// How long a socket opened with an API token may stay open: tokens do not expire, but a
/// session's expiry is a time; ten years is "never" for a socket.
const SOCKET_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

const BAD_TOKEN: &str = "invalid or revoked API token";

/// Whether a bearer token is an API token (else it is an access token).
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
}

/// What names a token without being it: the first 8 bytes of its SHA-256, kept by the
/// sockets it opened, so a revocation closes those and not the ones opened with the next.
pub fn token_tag(hash: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(hash) {
        *to = *from;
    }
    u64::from_be_bytes(first)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new token and its hash.
fn new_token() -> (String, Vec<u8>) {
    let token = format!("{TOKEN_PREFIX}{}", refresh::generate());
    let hash = hash(&token);
    (token, hash)
}

impl Accounts {
    /// The caller an API token stands for, and when its socket would expire: one lookup of
    /// a unique index. A deleted bot has no token, a disabled one is refused.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<(Caller, i64)> {
        let hash = hash(token);
        let account = self.store().account_by_token(&hash).await?.ok_or(Error::Unauthorized(BAD_TOKEN))?;
        if account.disabled_at.is_some() {
            return Err(Error::Unauthorized(BAD_TOKEN));
        }
        let caller = Caller { id: account.id, username: account.username, api_token: Some(token_tag(&hash)) };
        Ok((caller, clock::now().unix_timestamp() + SOCKET_LIFETIME_SECS))
    }

    pub async fn create_bot(&self, caller: &Caller, username: &str) -> Result<CreatedBot> {
        if caller.api_token.is_some() {
            return Err(Error::Forbidden("a bot cannot make bots"));
        }
        let username = Username::parse(username).map_err(|e| Error::Validation(vec![e]))?;
        let (token, token_hash) = new_token();
        let new = NewBot {
            id: UserId::generate(),
            username: username.into_inner(),
            owner_id: caller.id,
            token_hash: Some(token_hash),
            created_at: clock::now(),
        };
        let bot = match self.store().insert_bot(new).await {
            Ok(bot) => bot,
            Err(store::Error::UniqueViolation(Unique::Username)) => return Err(Conflict::UsernameTaken.into()),
            Err(e) => return Err(e.into()),
        };
        Ok(CreatedBot { bot: views::user(&bot, false, false), token })
    }

    pub async fn bots(&self, caller: &Caller) -> Result<Vec<User>> {
        let rows = self.store().bots_of(caller.id).await?;
        let mut bots = Vec::with_capacity(rows.len());
        for row in rows {
            bots.push(views::user(&row, false, self.inner.presence.is_online(row.id).await));
        }
        Ok(bots)
    }

    /// A new token for the caller's bot; the old one is refused from the next request on
    /// and its sockets are closed with 1008.
    pub async fn rotate_bot_token(&self, caller: &Caller, bot: UserId) -> Result<BotToken> {
        let (token, token_hash) = new_token();
        let old = self.store().replace_bot_token(bot, caller.id, &token_hash).await?.ok_or(Error::NotFound("bot"))?;
        self.close_token_sockets(bot, &old);
        Ok(BotToken { token })
    }

    /// Deletes the caller's bot: its token stops at once, its messages stay.
    pub async fn delete_bot(&self, caller: &Caller, bot: UserId) -> Result<()> {
        let old = self.store().delete_bot(bot, caller.id, clock::now()).await?.ok_or(Error::NotFound("bot"))?;
        self.close_token_sockets(bot, &old);
        Ok(())
    }

    /// Closes the sockets opened with the token hashed `old`: here at once, elsewhere when
    /// the broker delivers the control (the user topic reaches every instance holding a
    /// session of the bot). Sockets opened with a newer token carry another tag and stay.
    fn close_token_sockets(&self, bot: UserId, old: &[u8]) {
        let tag = token_tag(old);
        self.inner.hub.close_token(bot, tag, palaver_protocol::ws::close::POLICY);
        let envelope =
            Envelope { topic: Topic::User(bot), seq: None, control: Control::Revoked(tag), frame: "".into() };
        self.inner.publisher.broker().publish(envelope);
    }
}
