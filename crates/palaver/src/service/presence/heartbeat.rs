//! Between instances: the heartbeat. Every `HEARTBEAT` this instance beats into Redis so its
//! users stay online and its assistant replies stay its own, registers both again when Redis
//! may not know them (reaped while cut off, Redis lost its data, or a command recording them
//! failed), and reaps the instances that stopped beating: their users go offline, their
//! replies are stored as interrupted.

use std::sync::Arc;
use std::time::Duration;

use super::Presence;
use super::instances::{HEARTBEAT, InstanceRegistry};
use crate::service::Assistant;
use crate::store::DynStore;

pub struct Heartbeat;

impl Heartbeat {
    /// Beats for as long as the services live.
    pub fn start(instances: Arc<InstanceRegistry>, store: DynStore, presence: &Presence, assistant: &Assistant) {
        let mut ticks = presence.ticks(Duration::ZERO, HEARTBEAT);
        // Held weakly, like presence: the beat stops with the services.
        let assistant = assistant.downgrade();
        tokio::spawn(async move {
            let mut failing = false;
            while let Some(presence) = ticks.next().await {
                let Some(assistant) = assistant.upgrade() else { return };
                match beat(&instances, &store, &presence, &assistant).await {
                    Ok(()) if failing => {
                        tracing::info!("presence shared through Redis again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "presence is this instance's only: Redis unavailable");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        });
    }
}

async fn beat(
    instances: &InstanceRegistry,
    store: &DynStore,
    presence: &Presence,
    assistant: &Assistant,
) -> redis::RedisResult<()> {
    if !instances.beat().await? {
        // New to Redis (first beat, reaped while cut off, Redis lost its data) or unsure of
        // it: what runs here is recorded again, so no instance takes it for a dead one's.
        // Marked done only once all of it is: a failure midway has the next beat start over.
        presence.register_again(instances).await?;
        for message in assistant.running_here() {
            instances.reply_started(message).await?;
        }
        instances.registered().await?;
    }
    let reaped = instances.reap().await?;
    for user in reaped.offline {
        presence.went_offline(user).await;
    }
    if !reaped.replies.is_empty() {
        match store.interrupt_replies(&reaped.replies).await {
            Ok(n) => tracing::info!(interrupted = n, "stored the replies of a stopped instance as interrupted"),
            Err(e) => tracing::error!(error = %e, "could not store a stopped instance's replies as interrupted"),
        }
    }
    Ok(())
}
