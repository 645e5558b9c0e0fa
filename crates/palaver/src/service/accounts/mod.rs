//! Accounts: registration and login, access and refresh tokens (`auth.rs`), profiles and
//! passwords (`profile.rs`), disabling an account from another process (`disable.rs`), bots
//! and their API tokens (`bots.rs`).

mod auth;
mod bots;
mod disable;
mod profile;

use std::sync::Arc;

use super::{Presence, Publisher};
use crate::auth::JwtKeys;
use crate::auth::password::Passwords;
use crate::realtime::Hub;
use crate::store::DynStore;

pub use auth::{LoginBy, SignedCaller};

/// The accounts' settings, from `Config`.
pub struct AccountsSettings {
    pub jwt: JwtKeys,
    /// The bounded pool of password hashers.
    pub passwords: Passwords,
    pub refresh_ttl: time::Duration,
}

#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    jwt: JwtKeys,
    passwords: Passwords,
    refresh_ttl: time::Duration,
    /// Whether a user is online, for the user views.
    presence: Presence,
    /// Closes a disabled user's sockets.
    hub: Arc<Hub>,
    /// Tells the other instances to close the sockets of a revoked API token.
    publisher: Publisher,
}

impl Accounts {
    /// Starts the watcher that closes the sockets of accounts disabled elsewhere.
    pub fn new(
        store: DynStore,
        settings: AccountsSettings,
        presence: Presence,
        hub: Arc<Hub>,
        publisher: Publisher,
    ) -> Self {
        let AccountsSettings { jwt, passwords, refresh_ttl } = settings;
        let accounts = Self { inner: Arc::new(Inner { store, jwt, passwords, refresh_ttl, presence, hub, publisher }) };
        accounts.watch_disabled_accounts();
        accounts
    }

    fn store(&self) -> &DynStore {
        &self.inner.store
    }
}
