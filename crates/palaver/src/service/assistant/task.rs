//! A reply's task, from the send to its stored end. The service writes the send's two rows
//! while the runner (`assistant::run`) already sends the first request, then lets the runner
//! talk to the LLM and MCP, then stores how the reply ended. The runner writes no rows.

use std::sync::Arc;

use palaver_protocol::{ReplyEndStatus, ReplyEvent};
use tokio::sync::oneshot;

use crate::assistant::replies::{Replies, Reply};
use crate::assistant::run::{Ending, Outcome, Runner};
use crate::assistant::shared::SharedReplies;
use crate::clock;
use crate::domain::ChatStatus;
use crate::error::{Conflict, Error, Result};
use crate::service::InstanceRegistry;
use crate::store::{self, ChatMessageRow, DynStore, FinishedReply, Unique};

/// Starts replies' tasks and stores their rows.
pub(super) struct Tasks {
    pub runner: Runner,
    pub store: DynStore,
    pub replies: Arc<Replies>,
    /// With instances sharing Redis: where replies are recorded and mirrored.
    pub cluster: Option<ReplyCluster>,
}

/// Replies among instances: which one runs each (so the others end it if it dies), and
/// each one's log mirrored for the others to follow.
pub(super) struct ReplyCluster {
    pub instances: Arc<InstanceRegistry>,
    pub shared: Arc<SharedReplies>,
}

/// The rows a send stores before its reply is heard of.
pub(super) struct Opening {
    pub user: ChatMessageRow,
    pub reply: ChatMessageRow,
}

impl Tasks {
    /// Starts the task of `reply` (registered as running already) and answers once the
    /// send's rows are committed. The task, not the caller, writes them: a client that goes
    /// away meanwhile cannot leave a reply stored as running with nothing running it.
    pub(super) async fn start(
        self: &Arc<Self>,
        reply: Arc<Reply>,
        history: Vec<ChatMessageRow>,
        opening: Opening,
    ) -> Result<()> {
        let (stored, committed) = oneshot::channel();
        tokio::spawn(self.clone().run(reply.clone(), history, opening, stored));
        match committed.await {
            Ok(Ok(())) => Ok(()),
            // Another instance runs one (the index allows one running reply each).
            Ok(Err(store::Error::UniqueViolation(Unique::RunningReply))) => Err(Conflict::ReplyRunning.into()),
            Ok(Err(other)) => Err(other.into()),
            // The task died (a panic) before answering: free the conversation for the next send.
            Err(_) => {
                self.replies.finish(&reply);
                Err(Error::Internal(anyhow::anyhow!("the reply's task ended before storing")))
            }
        }
    }

    /// The reply's task. The first request goes out beside the write of the send's rows
    /// (the connection and the model's first token overlap the commit); nothing is logged
    /// until the rows are committed, and nothing at all if they are not.
    async fn run(
        self: Arc<Self>,
        reply: Arc<Reply>,
        history: Vec<ChatMessageRow>,
        rows: Opening,
        stored: oneshot::Sender<Result<(), store::Error>>,
    ) {
        let write = async {
            if let Some(cluster) = &self.cluster
                && let Err(e) = cluster.instances.reply_started(reply.message).await
            {
                tracing::warn!(error = %e, "could not record a running reply in Redis");
            }
            self.store.start_reply(&rows.user, &rows.reply).await
        };
        let (opened, written) = tokio::join!(self.runner.open(&reply, &history), write);
        if let Err(e) = written {
            self.replies.finish(&reply);
            self.forget(&reply).await;
            let _ = stored.send(Err(e));
            // Dropping the opened stream closes the upstream connection.
            return;
        }
        // The prompt holds what it needs of the history.
        drop(history);
        if let Some(cluster) = &self.cluster {
            cluster.shared.mirror(reply.clone());
        }
        let start =
            ReplyEvent::Start { user_message_id: rows.user.id.into(), assistant_message_id: rows.reply.id.into() };
        self.runner.emit(&reply, start);
        let _ = stored.send(Ok(()));
        let outcome = self.runner.run(&reply, opened).await;
        self.finish(&reply, outcome).await;
    }

    /// Stores how the reply ended, then ends its log with the same.
    async fn finish(&self, reply: &Arc<Reply>, outcome: Outcome) {
        let (status, last) = match outcome.ending {
            Ending::Complete => (
                ChatStatus::Complete,
                ReplyEvent::Complete { message_id: reply.message.into(), usage: outcome.usage.unwrap_or_default() },
            ),
            Ending::Cancelled => (ChatStatus::Cancelled, ended(ReplyEndStatus::Cancelled, "cancelled")),
            Ending::Interrupted => {
                (ChatStatus::Interrupted, ended(ReplyEndStatus::Interrupted, "interrupted: the server is stopping"))
            }
            Ending::Failed(why) => (ChatStatus::Error, ended(ReplyEndStatus::Error, why)),
        };
        let end = FinishedReply {
            status,
            content: reply.text_from(0),
            model_used: Some(self.runner.llm.model().to_owned()),
            prompt_tokens: outcome.usage.map(|u| u.prompt_tokens),
            completion_tokens: outcome.usage.map(|u| u.completion_tokens),
            tool_calls: serde_json::to_string(&outcome.tool_calls).unwrap_or_else(|_| "[]".into()),
            at: clock::now(),
        };
        let last = match self.store.finish_reply(reply.conversation, reply.message, &end).await {
            Ok(_) => last,
            Err(e) => {
                tracing::error!(error = %e, conversation = %reply.conversation, "storing an assistant reply failed");
                ended(ReplyEndStatus::Error, "the reply could not be stored")
            }
        };
        // Off the running ones before anyone learns it ended: a send right after is free.
        self.replies.finish(reply);
        (self.runner.publish)(reply.owner, reply.conversation, &last);
        reply.end(last);
        self.forget(reply).await;
    }

    /// The reply no longer runs here.
    async fn forget(&self, reply: &Reply) {
        if let Some(cluster) = &self.cluster
            && let Err(e) = cluster.instances.reply_ended(reply.message).await
        {
            tracing::warn!(error = %e, "could not record in Redis that a reply ended");
        }
    }
}

/// The last event of a reply that did not complete.
fn ended(status: ReplyEndStatus, error: impl Into<String>) -> ReplyEvent {
    ReplyEvent::Error { status, error: error.into() }
}
