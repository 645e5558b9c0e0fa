//! One reply, start to end, in a task of its own: the prompt from the conversation's history
//! within a token budget, the upstream's stream, tool calls through MCP, a bounded number
//! of rounds, and the stored result however it ends (complete, cancelled, failed, or the
//! server stopping). Every event goes to the reply's log and to the owner's sockets.

use std::sync::Arc;

use futures_util::StreamExt;
use palaver_protocol::{ReplyEvent, ToolCallRecord, Usage};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::llm::{ChatRequest, ChatStream, LlmClient, LlmError, PromptMessage, StreamEvent};
use super::mcp::McpHub;
use super::replies::{Replies, Reply};
use super::shared::SharedReplies;
use super::tools::{ToolCall, ToolSpec};
use crate::clock;
use crate::domain::{ChatRole, ChatStatus, ConversationId, UserId};
use crate::service::InstanceRegistry;
use crate::store::{ChatMessageRow, DynStore, Error as StoreError, FinishedReply};

/// Tells the owner's sockets about an event of one of their conversations.
pub type Publish = Arc<dyn Fn(UserId, ConversationId, &ReplyEvent) + Send + Sync>;

pub struct Runner {
    pub llm: LlmClient,
    pub mcp: McpHub,
    pub store: DynStore,
    pub replies: Arc<Replies>,
    pub publish: Publish,
    /// Cancelled when the server stops: running replies end as `interrupted` (their own
    /// tokens are its children).
    pub shutdown: CancellationToken,
    pub system_prompt: String,
    pub max_prompt_tokens: u64,
    pub max_tool_rounds: u32,
    /// With instances sharing Redis: where replies are recorded and mirrored.
    pub cluster: Option<ReplyCluster>,
}

/// Replies among instances: which one runs each (so the others end it if it dies), and
/// each one's log mirrored for the others to follow.
pub struct ReplyCluster {
    pub instances: Arc<InstanceRegistry>,
    pub shared: Arc<SharedReplies>,
}

/// The rows a send stores before its reply is heard of, and who waits for them.
pub struct Opening {
    pub user: ChatMessageRow,
    pub reply: ChatMessageRow,
    pub stored: oneshot::Sender<Result<(), StoreError>>,
}

/// How a reply ended.
enum Ending {
    Complete,
    Cancelled,
    Interrupted,
    Failed(String),
}

/// What a reply has produced so far, besides its text (which is in its log).
#[derive(Default)]
struct Progress {
    usage: Option<Usage>,
    tool_calls: Vec<ToolCallRecord>,
}

impl Runner {
    /// Logs and publishes an event; `false` if the log is full.
    fn emit(&self, reply: &Reply, event: ReplyEvent) -> bool {
        (self.publish)(reply.owner, reply.conversation, &event);
        reply.push(event)
    }

    /// Stores the send's two rows, runs the reply to its end, stores it, then ends its log.
    /// The first request goes out beside the write; nothing is emitted until the rows are
    /// committed, and nothing at all if they are not (the send fails with the store's error).
    pub async fn run(self: Arc<Self>, reply: Arc<Reply>, history: Vec<ChatMessageRow>, rows: Opening) {
        let messages = prompt(&self.system_prompt, &history, self.max_prompt_tokens);
        let opening = async {
            let tools = self.mcp.tools().await;
            let request = ChatRequest { messages: messages.clone(), tools: self.offered(&tools, 0) };
            (self.llm.stream(request).await, tools)
        };
        let opening = async {
            // The reply's token is cancelled by the server's shutdown too.
            tokio::select! {
                opened = opening => Some(opened),
                () = reply.cancel.cancelled() => None,
            }
        };
        let store = async {
            if let Some(cluster) = &self.cluster
                && let Err(e) = cluster.instances.reply_started(reply.message).await
            {
                tracing::warn!(error = %e, "could not record a running reply in Redis");
            }
            self.store.start_reply(&rows.user, &rows.reply).await
        };
        let (opened, stored) = tokio::join!(opening, store);
        if let Err(e) = stored {
            self.replies.finish(&reply);
            self.forget(&reply).await;
            let _ = rows.stored.send(Err(e));
            // Dropping the opened stream closes the upstream connection.
            return;
        }
        if let Some(cluster) = &self.cluster {
            cluster.shared.mirror(reply.clone());
        }
        let start =
            ReplyEvent::Start { user_message_id: rows.user.id.into(), assistant_message_id: rows.reply.id.into() };
        self.emit(&reply, start);
        let _ = rows.stored.send(Ok(()));
        let mut progress = Progress::default();
        let ending = match opened {
            None => self.stopped(),
            Some((first, tools)) => tokio::select! {
                ending = self.rounds(&reply, messages, &tools, first, &mut progress) => ending,
                () = reply.cancel.cancelled() => self.stopped(),
            },
        };
        let (status, last) = match &ending {
            Ending::Complete => (
                ChatStatus::Complete,
                ReplyEvent::Complete { message_id: reply.message.into(), usage: progress.usage.unwrap_or_default() },
            ),
            Ending::Cancelled => (ChatStatus::Cancelled, ReplyEvent::Error { error: "cancelled".into() }),
            Ending::Interrupted => {
                (ChatStatus::Interrupted, ReplyEvent::Error { error: "interrupted: the server is stopping".into() })
            }
            Ending::Failed(why) => (ChatStatus::Error, ReplyEvent::Error { error: why.clone() }),
        };
        let end = FinishedReply {
            status,
            content: reply.text_from(0),
            model_used: Some(self.llm.model().to_owned()),
            prompt_tokens: progress.usage.map(|u| u.prompt_tokens),
            completion_tokens: progress.usage.map(|u| u.completion_tokens),
            tool_calls: serde_json::to_string(&progress.tool_calls).unwrap_or_else(|_| "[]".into()),
            at: clock::now(),
        };
        let last = match self.store.finish_reply(reply.conversation, reply.message, &end).await {
            Ok(_) => last,
            Err(e) => {
                tracing::error!(error = %e, conversation = %reply.conversation, "storing an assistant reply failed");
                ReplyEvent::Error { error: "the reply could not be stored".into() }
            }
        };
        // Off the running ones before anyone learns it ended: a send right after is free.
        self.replies.finish(&reply);
        (self.publish)(reply.owner, reply.conversation, &last);
        reply.end(last);
        self.forget(&reply).await;
    }

    /// How a reply whose token was cancelled ends: by its user, or by the server stopping.
    fn stopped(&self) -> Ending {
        if self.shutdown.is_cancelled() { Ending::Interrupted } else { Ending::Cancelled }
    }

    /// The reply no longer runs here.
    async fn forget(&self, reply: &Reply) {
        if let Some(cluster) = &self.cluster
            && let Err(e) = cluster.instances.reply_ended(reply.message).await
        {
            tracing::warn!(error = %e, "could not record in Redis that a reply ended");
        }
    }

    /// The tools offered in `round`: none in the last, so the model has to answer.
    fn offered(&self, tools: &[ToolSpec], round: u32) -> Vec<ToolSpec> {
        if round < self.max_tool_rounds { tools.to_vec() } else { vec![] }
    }

    /// The rounds of a reply, from the first request's stream (already opened).
    async fn rounds(
        &self,
        reply: &Reply,
        mut messages: Vec<PromptMessage>,
        tools: &[ToolSpec],
        first: Result<ChatStream, LlmError>,
        progress: &mut Progress,
    ) -> Ending {
        let mut opened = Some(first);
        for round in 0..=self.max_tool_rounds {
            let opened = match opened.take() {
                Some(first) => first,
                None => {
                    let request = ChatRequest { messages: messages.clone(), tools: self.offered(tools, round) };
                    self.llm.stream(request).await
                }
            };
            let mut stream = match opened {
                Ok(stream) => stream,
                Err(e) => return Ending::Failed(format!("the assistant's model failed: {e}")),
            };
            let round_text = reply.text_len();
            let mut calls: Vec<ToolCall> = vec![];
            while let Some(event) = stream.next().await {
                match event {
                    Ok(StreamEvent::Delta(delta)) => {
                        if !self.emit(reply, ReplyEvent::Chunk { content: delta }) {
                            return Ending::Failed("the reply is too long".into());
                        }
                    }
                    Ok(StreamEvent::ToolCalls(asked)) => calls.extend(asked),
                    Ok(StreamEvent::Done { usage, .. }) => {
                        if let Some(usage) = usage {
                            let total = progress.usage.get_or_insert_with(Usage::default);
                            total.prompt_tokens += usage.prompt_tokens;
                            total.completion_tokens += usage.completion_tokens;
                        }
                    }
                    Err(e) => return Ending::Failed(format!("the assistant's model failed: {e}")),
                }
            }
            if calls.is_empty() {
                return Ending::Complete;
            }
            let content = reply.text_from(round_text);
            messages.push(PromptMessage::Assistant { content, tool_calls: calls.clone() });
            for call in calls {
                let arguments = serde_json::from_str(&call.arguments)
                    .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
                self.emit(reply, ReplyEvent::ToolCall { name: call.name.clone(), arguments: arguments.clone() });
                let outcome = self.mcp.call(&call.name, &call.arguments).await;
                self.emit(
                    reply,
                    ReplyEvent::ToolResult {
                        name: call.name.clone(),
                        content: outcome.content.clone(),
                        is_error: outcome.is_error,
                    },
                );
                progress.tool_calls.push(ToolCallRecord {
                    name: call.name.clone(),
                    arguments,
                    result: outcome.content.clone(),
                    is_error: outcome.is_error,
                });
                messages.push(PromptMessage::Tool { tool_call_id: call.id, content: outcome.content });
            }
        }
        Ending::Complete
    }
}

/// A rough token count (4 characters a token, plus a few for the message's framing): enough
/// to keep a prompt within a budget without a tokenizer for every model.
fn estimated_tokens(text: &str) -> u64 {
    text.chars().count() as u64 / 4 + 4
}

/// The system prompt, then as many of the latest turns as fit in `budget` (newest kept,
/// oldest dropped first), oldest first. `history` is newest first and starts with the
/// user's new message, which is always sent. Replies still running (this one) are left out.
fn prompt(system: &str, history: &[ChatMessageRow], budget: u64) -> Vec<PromptMessage> {
    let mut used = estimated_tokens(system);
    let mut turns = Vec::new();
    for row in history {
        if row.status == ChatStatus::Running || row.content.is_empty() {
            continue;
        }
        let cost = estimated_tokens(&row.content);
        // The newest turn (the user's new message) goes whatever it costs.
        if !turns.is_empty() && used + cost > budget {
            break;
        }
        used += cost;
        turns.push(match row.role {
            ChatRole::User => PromptMessage::User(row.content.clone()),
            ChatRole::Assistant | ChatRole::Tool => {
                PromptMessage::Assistant { content: row.content.clone(), tool_calls: vec![] }
            }
        });
    }
    turns.reverse();
    let mut messages = vec![PromptMessage::System(system.to_owned())];
    messages.extend(turns);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatMessageId, ConversationId};

    fn row(role: ChatRole, status: ChatStatus, content: &str) -> ChatMessageRow {
        ChatMessageRow {
            id: ChatMessageId::generate(),
            conversation_id: ConversationId::generate(),
            role,
            status,
            content: content.into(),
            created_at: clock::now(),
            model_used: None,
            prompt_tokens: None,
            completion_tokens: None,
            tool_calls: "[]".into(),
        }
    }

    #[test]
    fn the_prompt_keeps_the_newest_turns_within_the_budget() {
        let newest_first = vec![
            row(ChatRole::Assistant, ChatStatus::Running, ""),
            row(ChatRole::User, ChatStatus::Complete, "third question"),
            row(ChatRole::Assistant, ChatStatus::Complete, &"long answer ".repeat(100)),
            row(ChatRole::User, ChatStatus::Complete, "first question"),
        ];
        let all = prompt("be brief", &newest_first, 10_000);
        assert_eq!(all.len(), 4, "system, then the three stored turns");
        assert!(matches!(&all[1], PromptMessage::User(q) if q == "first question"));
        assert!(matches!(&all[3], PromptMessage::User(q) if q == "third question"));
        // 300 tokens of answer do not fit in 100: it and everything older are dropped.
        let tight = prompt("be brief", &newest_first, 100);
        assert_eq!(tight.len(), 2);
        assert!(matches!(&tight[1], PromptMessage::User(q) if q == "third question"));
        // The new message goes even over the budget.
        let over = prompt("be brief", &newest_first[..2], 1);
        assert!(matches!(&over[1], PromptMessage::User(q) if q == "third question"));
    }
}
