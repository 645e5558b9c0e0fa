//! The assistant: private conversations (`conversations.rs`, which work without an LLM) and
//! the replies that an LLM writes into them (`replies.rs`: starting, following, cancelling).
//! A reply runs in a task of the service's (`task.rs`), which writes its rows and lets
//! `crate::assistant::run` talk to the LLM and MCP; readers get its events as a
//! [`ReplyStream`] (`stream.rs`).

mod conversations;
mod replies;
mod stream;
mod task;

use std::sync::{Arc, Weak};

use tokio_util::sync::CancellationToken;

use super::{Accounts, Cluster, Publisher};
use crate::domain::ChatMessageId;
use crate::error::Result;
use crate::store::DynStore;

pub use replies::{AssistantSettings, Started};
pub use stream::ReplyStream;

#[derive(Clone)]
pub struct Assistant {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    /// Checks a signed caller's account beside a send's reads.
    accounts: Accounts,
    /// The Redis the instances share, when they do.
    cluster: Option<Arc<Cluster>>,
    /// `None` without an LLM: the replies' endpoints answer 503.
    engine: Option<replies::Engine>,
    /// Cancelled when the server stops: running replies end as interrupted.
    shutdown: CancellationToken,
}

impl Assistant {
    /// With `settings` (an LLM configured), listens for cancels asked by other instances.
    pub fn new(
        store: DynStore,
        accounts: Accounts,
        publisher: &Publisher,
        cluster: Option<Arc<Cluster>>,
        settings: Option<AssistantSettings>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let engine = settings.map(|settings| {
            replies::Engine::new(settings, store.clone(), publisher.clone(), cluster.as_deref(), shutdown.clone())
        });
        let listens = engine.is_some();
        let assistant = Self { inner: Arc::new(Inner { store, accounts, cluster, engine, shutdown }) };
        if listens {
            assistant.cancel_when_asked(publisher);
        }
        assistant
    }

    fn store(&self) -> &DynStore {
        &self.inner.store
    }

    fn engine(&self) -> Result<&replies::Engine> {
        self.inner.engine.as_ref().ok_or_else(replies::no_llm)
    }

    /// A handle that does not keep the assistant alive (for the heartbeat's task).
    pub(super) fn downgrade(&self) -> WeakAssistant {
        WeakAssistant(Arc::downgrade(&self.inner))
    }

    /// The assistant messages of the replies running on this instance.
    pub fn running_here(&self) -> Vec<ChatMessageId> {
        let running = self.inner.engine.as_ref().map(|e| e.replies().all_running()).unwrap_or_default();
        running.iter().map(|reply| reply.message).collect()
    }
}

pub(super) struct WeakAssistant(Weak<Inner>);

impl WeakAssistant {
    pub(super) fn upgrade(&self) -> Option<Assistant> {
        self.0.upgrade().map(|inner| Assistant { inner })
    }
}
