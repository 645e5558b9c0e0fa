//! Replies from the assistant: starting one (the send, over REST, SSE or the WebSocket),
//! following it, cancelling it. The reply runs in a task of its own (`task.rs`, which
//! stores its rows around `assistant::run`); its readers get a [`ReplyStream`]. Without an
//! LLM configured these answer 503 and the conversations' CRUD still works.

use std::sync::Arc;
use std::time::Duration;

use palaver_protocol as wire;
use palaver_protocol::ws::ServerEvent;
use tokio_util::sync::CancellationToken;

use super::Assistant;
use super::conversations::chat_message;
use super::stream::ReplyStream;
use super::task::{Opening, ReplyCluster, Tasks};
use crate::assistant::llm::LlmClient;
use crate::assistant::mcp::McpHub;
use crate::assistant::replies::{Refusal, Replies, Reply};
use crate::assistant::run::Runner;
use crate::assistant::shared::SharedReplies;
use crate::clock;
use crate::domain::{ChatMessageId, ChatRole, ChatStatus, ChatText, ConversationId, UserId};
use crate::error::{Conflict, Error, Result};
use crate::ratelimit::SharedRateLimit;
use crate::realtime::Topic;
use crate::service::{Caller, Cluster, Publisher, SignedCaller};
use crate::store::{ChatMessageRow, DynStore};

/// Turns of history read to build a prompt (the token budget then decides how many go).
const HISTORY_TURNS: i64 = 200;

/// The assistant's settings, from `Config`.
pub struct AssistantSettings {
    pub llm: LlmClient,
    pub mcp: McpHub,
    pub system_prompt: String,
    pub max_prompt_tokens: u64,
    pub max_tool_rounds: u32,
    pub max_running_per_user: u32,
    pub sends_per_minute: f64,
}

/// The LLM side of the assistant, present when an LLM is configured.
pub(super) struct Engine {
    tasks: Arc<Tasks>,
    /// With instances sharing Redis: replies running elsewhere.
    shared: Option<Arc<SharedReplies>>,
    replies: Arc<Replies>,
    max_running_per_user: usize,
    sends: SharedRateLimit<UserId>,
}

impl Engine {
    pub(super) fn new(
        settings: AssistantSettings,
        store: DynStore,
        publisher: Publisher,
        cluster: Option<&Cluster>,
        shutdown: CancellationToken,
    ) -> Self {
        let replies = Arc::new(Replies::new(&shutdown));
        let publish = Arc::new(move |owner: UserId, conversation: ConversationId, event: &wire::ReplyEvent| {
            publisher.publish_built(Topic::User(owner), || ServerEvent::assistant(conversation.into(), event.clone()));
        });
        let redis = cluster.map(|c| &c.redis);
        let cluster = cluster.map(|c| ReplyCluster {
            instances: c.instances.clone(),
            shared: Arc::new(SharedReplies::new(c.client.clone(), c.redis.clone())),
        });
        let shared = cluster.as_ref().map(|c| c.shared.clone());
        let runner = Runner {
            llm: settings.llm,
            mcp: settings.mcp,
            publish,
            shutdown,
            system_prompt: settings.system_prompt,
            max_prompt_tokens: settings.max_prompt_tokens,
            max_tool_rounds: settings.max_tool_rounds,
        };
        Self {
            tasks: Arc::new(Tasks { runner, store, replies: replies.clone(), cluster }),
            shared,
            replies,
            max_running_per_user: settings.max_running_per_user as usize,
            sends: SharedRateLimit::new(
                "assistant",
                settings.sends_per_minute / 60.0,
                settings.sends_per_minute,
                redis,
            ),
        }
    }

    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    pub fn mcp(&self) -> &McpHub {
        &self.tasks.runner.mcp
    }
}

pub(super) fn no_llm() -> Error {
    Error::Unavailable {
        what: "the assistant (no LLM is configured: set PALAVER_LLM_BASE_URL and PALAVER_LLM_MODEL)",
        retry_after: Duration::from_secs(60),
    }
}

/// A reply that was started, with the two messages it stored.
pub struct Started {
    /// The reply's events from its first.
    pub events: ReplyStream,
    pub user_message: wire::ChatMessage,
    pub assistant_message: wire::ChatMessage,
}

impl Assistant {
    /// Stores the user's message and a running reply, and starts the reply.
    pub async fn start_reply(&self, caller: &Caller, id: ConversationId, message: &str) -> Result<Started> {
        self.open_reply(caller, async { Ok(()) }, id, message).await
    }

    /// [`start_reply`](Self::start_reply) for a caller whose account is checked beside the
    /// send's reads: a round trip less before the upstream is asked. Nothing is written
    /// unless the check passes.
    pub async fn start_reply_signed(
        &self,
        signed: &SignedCaller,
        id: ConversationId,
        message: &str,
    ) -> Result<Started> {
        self.open_reply(&signed.caller, self.inner.accounts.check_account(signed), id, message).await
    }

    async fn open_reply(
        &self,
        caller: &Caller,
        account: impl Future<Output = Result<()>>,
        id: ConversationId,
        message: &str,
    ) -> Result<Started> {
        // The history is read beside the ownership check (both reads; it is dropped unread
        // when the conversation is not the caller's): one round trip less before the
        // upstream is asked.
        // Between instances, the per-user cap counts the user's replies everywhere (read
        // beside the others: no round trip added).
        let running_elsewhere = async {
            match &self.inner.cluster {
                Some(_) => self.store().running_replies_of(caller.id).await.map(Some),
                None => Ok(None),
            }
        };
        let (account, owned, earlier, running) = tokio::join!(
            account,
            self.own_conversation(caller, id),
            self.store().recent_chat_messages(id, HISTORY_TURNS),
            running_elsewhere
        );
        account?;
        owned?;
        let assistant = self.engine()?;
        if running?.is_some_and(|n| n >= assistant.max_running_per_user as i64) {
            return Err(Error::RateLimited { retry_after: Duration::from_secs(5) });
        }
        let text = ChatText::parse(message).map_err(|e| Error::Validation(vec![e]))?;
        assistant.sends.try_take(caller.id).await.map_err(|retry_after| Error::RateLimited { retry_after })?;
        let now = clock::now();
        let user = ChatMessageRow {
            id: ChatMessageId::generate(),
            conversation_id: id,
            role: ChatRole::User,
            status: ChatStatus::Complete,
            content: text.into_inner(),
            created_at: now,
            model_used: None,
            prompt_tokens: None,
            completion_tokens: None,
            tool_calls: "[]".into(),
        };
        let running = ChatMessageRow {
            id: ChatMessageId::generate(),
            role: ChatRole::Assistant,
            status: ChatStatus::Running,
            content: String::new(),
            // After the user's message (and its id after the user's: v7 ids are monotonic).
            created_at: now + time::Duration::microseconds(1),
            model_used: Some(assistant.tasks.runner.llm.model().to_owned()),
            ..user.clone()
        };
        // The history is the turns before this send, newest first, with the new message in
        // front.
        let mut history = vec![user.clone()];
        history.extend(earlier?);
        let reply = match assistant.replies.begin(id, caller.id, running.id, assistant.max_running_per_user) {
            Ok(reply) => reply,
            Err(Refusal::Busy) => return Err(Conflict::ReplyRunning.into()),
            Err(Refusal::TooMany) => return Err(Error::RateLimited { retry_after: Duration::from_secs(5) }),
        };
        // The rows are written beside the upstream's first request (see `task.rs`).
        let opening = Opening { user: user.clone(), reply: running.clone() };
        assistant.tasks.start(reply.clone(), history, opening).await?;
        Ok(Started {
            events: ReplyStream::new(reply, 0),
            user_message: chat_message(user),
            assistant_message: chat_message(running),
        })
    }

    /// Sends and waits for the whole reply (however the client fares meanwhile: the reply
    /// runs in its own task and is stored anyway).
    pub async fn send_chat(
        &self,
        caller: &SignedCaller,
        id: ConversationId,
        message: &str,
    ) -> Result<wire::SendChatResponse> {
        let started = self.start_reply_signed(caller, id, message).await?;
        started.events.ended().await;
        let stored =
            self.store().chat_message(id, started.events.message()).await?.ok_or(Error::NotFound("message"))?;
        Ok(wire::SendChatResponse { user_message: started.user_message, assistant_message: chat_message(stored) })
    }

    /// The reply writing `message` of the caller's conversation, from after the event
    /// `after` (0: from its start). A reply finished long ago (or before a restart) is its
    /// stored message: its text as one `chunk`, then `complete` (or `error`).
    pub async fn follow_reply(
        &self,
        caller: &Caller,
        id: ConversationId,
        message: ChatMessageId,
        after: usize,
    ) -> Result<ReplyStream> {
        Ok(ReplyStream::new(self.reply_log(caller, id, message).await?, after))
    }

    async fn reply_log(&self, caller: &Caller, id: ConversationId, message: ChatMessageId) -> Result<Arc<Reply>> {
        self.own_conversation(caller, id).await?;
        let assistant = self.engine()?;
        if let Some(reply) = assistant.replies.find(id, message) {
            return Ok(reply);
        }
        let stored = self.store().chat_message(id, message).await?;
        let stored = stored.filter(|m| m.role == ChatRole::Assistant).ok_or(Error::NotFound("message"))?;
        if let (ChatStatus::Running, Some(shared)) = (stored.status, &assistant.shared) {
            return Ok(shared.follow(id, caller.id, message, self.store().clone()));
        }
        Ok(Arc::new(Reply::stored(id, caller.id, stored)))
    }

    /// Stops the conversation's running reply; the part so far is kept, as `cancelled`.
    pub async fn cancel_reply(&self, caller: &Caller, id: ConversationId) -> Result<()> {
        self.own_conversation(caller, id).await?;
        let assistant = self.engine()?;
        if assistant.replies.cancel(id) {
            return Ok(());
        }
        if let Some(shared) = &assistant.shared {
            let newest = self.store().recent_chat_messages(id, 2).await?;
            if newest.iter().any(|m| m.status == ChatStatus::Running) {
                shared.cancel_elsewhere(id).await.map_err(|e| {
                    tracing::warn!(error = %e, "cannot ask for a cancel through Redis");
                    Error::Unavailable {
                        what: "the instance running the reply (Redis cannot be reached)",
                        retry_after: Duration::from_secs(1),
                    }
                })?;
                return Ok(());
            }
        }
        Err(Conflict::Other("no reply is running in this conversation").into())
    }

    /// Cancels the replies other instances were asked to cancel, when they run here.
    pub(super) fn cancel_when_asked(&self, publisher: &Publisher) {
        let Some(mut asked) = publisher.broker().cancels() else { return };
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(conversation) = asked.recv().await {
                let Some(inner) = inner.upgrade() else { return };
                if let Some(engine) = &inner.engine {
                    engine.replies.cancel(ConversationId::from_uuid(conversation));
                }
            }
        });
    }

    /// At start: ends as interrupted the replies that no running instance runs (on one
    /// instance: all of them). Returns how many.
    pub async fn end_orphaned_replies(&self) -> Result<u64> {
        let Some(cluster) = &self.inner.cluster else {
            return Ok(self.store().interrupt_running_replies().await?);
        };
        let live = match cluster.instances.live_replies().await {
            Ok(live) => live,
            Err(e) => {
                // The instances that see Redis end a dead one's replies when they reap it.
                tracing::warn!(error = %e, "Redis unavailable: replies left running by a crash are ended later");
                return Ok(0);
            }
        };
        let running = self.store().running_replies().await?;
        let orphans: Vec<ChatMessageId> =
            running.into_iter().map(|(_, id)| id).filter(|id| !live.contains(id)).collect();
        Ok(self.store().interrupt_replies(&orphans).await?)
    }

    /// At shutdown: tells every running reply to end, as interrupted.
    pub fn stop_replies(&self) {
        self.inner.shutdown.cancel();
    }

    /// At shutdown: ends every running reply as interrupted and waits (a bounded time) for
    /// them to be stored.
    pub async fn interrupt_replies(&self, within: Duration) {
        let Some(assistant) = &self.inner.engine else { return };
        self.stop_replies();
        let running = assistant.replies.all_running();
        let _ = tokio::time::timeout(within, async {
            for reply in running {
                reply.wait_ended().await;
            }
        })
        .await;
        assistant.mcp().shutdown().await;
    }
}
