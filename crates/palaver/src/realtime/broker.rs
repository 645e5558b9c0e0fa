use std::sync::Arc;

use super::{Envelope, Hub};

/// Carries events to every instance's hub (this one included). The database is the source
/// of truth; a broker only moves notifications of what is already stored.
pub trait Broker: Send + Sync {
    fn publish(&self, envelope: Envelope);
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
}
