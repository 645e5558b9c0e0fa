//! The rules of the chat domain. Every REST handler and WebSocket frame goes through a
//! function here; nothing here knows about HTTP or sockets.

mod auth;
mod messages;
mod notifications;
mod rooms;
mod users;
mod views;

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::JwtKeys;
use crate::store::DynStore;

pub use auth::LoginBy;
pub use rooms::Access;

/// Who is asking: established once from the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: Uuid,
    pub username: String,
}

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    jwt: JwtKeys,
    refresh_ttl: time::Duration,
}

impl Services {
    pub fn new(store: DynStore, jwt: JwtKeys, refresh_ttl_secs: u64) -> Self {
        Self { inner: Arc::new(Inner { store, jwt, refresh_ttl: time::Duration::seconds(refresh_ttl_secs as i64) }) }
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }
}
