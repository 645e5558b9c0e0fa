use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{Envelope, Hub, Multicast, Topic};

/// Carries events to every instance's hub (this one included). The database is the source
/// of truth; a broker only moves notifications of what is already stored.
pub trait Broker: Send + Sync {
    /// Delivers to this instance's subscribers at once and, through the broker, to the
    /// others'. Never waits: what cannot be passed on is dropped and counted, and recovered
    /// from the store (see `gaps`).
    fn publish(&self, envelope: Envelope);

    /// [`publish`](Self::publish) for frames that go to many users' sessions: delivered here
    /// at once, and passed to the other instances as one message. (By default, one publish
    /// per user and frame.)
    fn multicast(&self, multicast: Multicast) {
        for user in multicast.users {
            for frame in &multicast.frames {
                self.publish(Envelope { topic: Topic::User(user), ..Envelope::clone(frame) });
            }
        }
    }

    /// Whether an event on `topic` can reach anyone: `false` lets a publisher skip encoding
    /// it (an assistant reply streams thousands of chunks to an owner with no socket open).
    fn listened(&self, topic: Topic) -> bool {
        let _ = topic;
        true
    }

    /// Resolves once events published on any instance after it reach this one's subscribers
    /// of `topic` (call it after the hub has the subscriber). At once when the broker is
    /// down: then the catch-up after it returns covers what is missed.
    fn ready(&self, topic: Topic) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let _ = topic;
        Box::pin(std::future::ready(()))
    }

    /// Whether events from other instances are reaching this one.
    fn connected(&self) -> bool {
        true
    }

    /// Changes each time this instance may have missed events published elsewhere (it
    /// reconnected to the broker, or another instance could not publish something): the
    /// rooms subscribed here are then compared with the store. `None`: nothing is ever missed.
    fn gaps(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    /// The conversations whose reply another instance was asked to cancel (handed out
    /// once). `None`: there are no other instances.
    fn cancels(&self) -> Option<mpsc::Receiver<Uuid>> {
        None
    }
}

/// One instance: publishing is delivering to the local hub.
pub struct InProcessBroker {
    hub: Arc<Hub>,
}

impl InProcessBroker {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Broker for InProcessBroker {
    fn publish(&self, envelope: Envelope) {
        self.hub.dispatch(&Arc::new(envelope));
    }

    fn multicast(&self, multicast: Multicast) {
        self.hub.dispatch_multicast(&multicast);
    }

    fn listened(&self, topic: Topic) -> bool {
        self.hub.has(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::realtime::{Outbox, Subscriber};

    #[test]
    fn a_topic_is_listened_to_while_a_session_is_attached() {
        let hub = Arc::new(Hub::default());
        let broker = InProcessBroker::new(hub.clone());
        let (user, other) = (UserId::generate(), UserId::generate());
        assert!(!broker.listened(Topic::User(user)), "nobody is attached yet");

        let (outbox, _consumer, _kill) = Outbox::new(8);
        let session = hub.new_session_id();
        hub.attach(Subscriber { session, user, outbox });
        assert!(broker.listened(Topic::User(user)));
        assert!(!broker.listened(Topic::User(other)), "another user's topic has no session");

        hub.detach(user, session);
        assert!(!broker.listened(Topic::User(user)), "the last session is gone");
    }
}
