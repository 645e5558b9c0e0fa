//! The rules of the chat domain, one handle per area. Every REST handler and WebSocket frame
//! goes through a handle here; nothing here knows about HTTP or sockets.
//!
//! | area | handle | what it owns |
//! |---|---|---|
//! | `accounts/` | [`Accounts`] | registration, login, tokens, profiles, disabling |
//! | `rooms/` | [`Rooms`] | rooms, membership, who may see what ([`Rooms::access`]) |
//! | `messages/` | [`Messages`] | history, the send path ([`Sender`]), edits, deletes, reads, typing, replay, the sequencer |
//! | `notifications.rs` | [`Notifications`] | the notification list |
//! | `search.rs` | [`Search`] | finding messages (the query language and terms are in `crate::search`) |
//! | `presence/` | [`Presence`] | online/offline, on this instance and across instances (the instances' registry and heartbeat in Redis), announcements |
//! | `uploads.rs` | [`Uploads`] | receiving, checking and serving files |
//! | `assistant/` | [`Assistant`] | conversations and the assistant's replies |
//! | `readiness.rs` | [`Readiness`] | what `/readyz` reports |
//!
//! Each handle is cheap to clone and holds only what its area uses; `app.rs` builds them in
//! dependency order. `publish.rs` is how they all tell live sessions what happened.

mod accounts;
mod assistant;
mod background;
mod messages;
mod notifications;
mod presence;
mod publish;
mod readiness;
mod rooms;
mod search;
mod uploads;
mod views;
pub mod webhooks;

use std::sync::Arc;

use crate::domain::UserId;
use crate::realtime::{Broker, Hub};
use crate::store::DynStore;

pub use accounts::{Accounts, AccountsSettings, LoginBy, SignedCaller};
pub use assistant::{Assistant, AssistantSettings, ReplyStream, Started};
pub use messages::{Draft, Messages, Posting, ResumePoint, Sender, WriteSettings};
pub use notifications::Notifications;
pub use presence::{Heartbeat, InstanceRegistry, Presence};
pub use publish::Publisher;
pub use readiness::{Dependencies, Dependency, Readiness, Writers};
pub use rooms::{Access, Rooms};
pub use search::Search;
pub use uploads::{Incoming, UploadAccess, UploadSettings, UploadView, Uploads};

/// Who is asking: established once from the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: UserId,
    pub username: String,
    /// Set when a bot calls with its API token: the token's tag (`accounts::bots`), which
    /// its sockets keep so that revoking the token closes them. `None` for people.
    pub api_token: Option<u64>,
}

impl Caller {
    /// Whether this is a bot calling with its API token.
    pub fn is_bot(&self) -> bool {
        self.api_token.is_some()
    }
}

/// Every area's handle. `app.rs` builds it; the HTTP layer hands each handler the handles it
/// names, and a WebSocket session takes the ones it uses.
#[derive(Clone)]
pub struct Services {
    pub accounts: Accounts,
    pub rooms: Rooms,
    pub messages: Messages,
    pub notifications: Notifications,
    pub search: Search,
    pub presence: Presence,
    pub uploads: Uploads,
    pub assistant: Assistant,
    pub readiness: Readiness,
    pub publisher: Publisher,
    /// This instance's live subscribers.
    pub hub: Arc<Hub>,
    pub store: DynStore,
    /// The Redis the instances share, when they do.
    pub cluster: Option<Arc<Cluster>>,
}

/// How events reach sessions: this instance's hub, and the broker that feeds every
/// instance's hub (with the Redis connection behind it, if any).
pub struct FanOut {
    pub hub: Arc<Hub>,
    pub broker: Arc<dyn Broker>,
    pub cluster: Option<Cluster>,
    /// Cancelled when the services are dropped.
    pub stop: tokio_util::sync::CancellationToken,
}

/// What instances share through Redis besides events.
pub struct Cluster {
    /// For connections of their own (following a reply that runs elsewhere).
    pub client: redis::Client,
    /// Commands (rate limits, replies' streams).
    pub redis: redis::aio::ConnectionManager,
    pub instances: Arc<InstanceRegistry>,
}

impl Services {
    /// The Redis the instances share, if they do.
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        self.cluster.as_deref().map(|c| &c.redis)
    }
}
