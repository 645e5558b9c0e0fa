//! Real-time fan-out: topics, local subscribers and the broker between instances.
//! Knows sockets' outboxes and topics; nothing of SQL or of the chat rules.

mod broker;
mod envelope;
mod hub;
mod interest;
mod outbox;
mod queue;
pub mod redis;

pub use broker::{Broker, InProcessBroker};
pub use envelope::{Control, Envelope, Multicast, Topic, encode};
pub use hub::{Hub, SessionId, Subscriber};
pub use interest::Interest;
pub use outbox::{KillSwitch, Outbox, Outgoing, SubscribeRequest};
pub use queue::Consumer;
