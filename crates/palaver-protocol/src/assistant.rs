//! The assistant's conversations: REST bodies, and the events of a streamed reply (the
//! same events go out as SSE `data:` and as WebSocket `assistant.*` frames).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub total_messages: i64,
    /// Prompt and completion tokens of every reply, as the upstream counted them.
    pub total_tokens_used: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationPage {
    /// Newest `updated_at` first.
    pub items: Vec<Conversation>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateConversationRequest {
    /// At most 500 characters; "New conversation" when absent or blank.
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenameConversationRequest {
    /// 1 to 500 characters once trimmed.
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    /// The reply is being written.
    Running,
    Complete,
    /// Stopped by its user; the part so far is kept.
    Cancelled,
    /// The server stopped mid-reply; the part so far is kept.
    Interrupted,
    /// The upstream failed; the part so far is kept.
    Error,
}

/// One tool call of a reply, with what it gave back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    /// `<server>__<tool>`.
    pub name: String,
    /// The arguments the model gave: a JSON value (a string when it was not valid JSON).
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    pub result: String,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: Uuid,
    pub role: ChatRole,
    pub status: ChatStatus,
    pub content: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub model_used: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub tool_calls: Vec<ToolCallRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessagePage {
    /// Oldest first.
    pub items: Vec<ChatMessage>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendChatRequest {
    /// 1 to 10000 characters once trimmed.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SendChatResponse {
    pub user_message: ChatMessage,
    pub assistant_message: ChatMessage,
}

/// Offset paging: `offset` from 0, `limit` 1 to 100 (default 20 for conversations, 50 for
/// messages).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OffsetQuery {
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// `GET /chat/conversations/{id}/stream?message=`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// 1 to 10000 characters once trimmed.
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// One event of a streamed reply: the JSON of an SSE `data:` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyEvent {
    Start {
        user_message_id: Uuid,
        assistant_message_id: Uuid,
    },
    Chunk {
        content: String,
    },
    ToolCall {
        name: String,
        #[schema(value_type = Object)]
        arguments: serde_json::Value,
    },
    ToolResult {
        name: String,
        content: String,
        is_error: bool,
    },
    Complete {
        message_id: Uuid,
        usage: Usage,
    },
    /// The reply ended without completing: `status` says how, for clients to match on;
    /// `error` says it in words, for people.
    Error {
        /// Absent from the events of servers that predate it: read as `error`.
        #[serde(default)]
        status: ReplyEndStatus,
        error: String,
    },
}

/// How a reply that did not complete ended (the stored message has the same status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyEndStatus {
    /// Stopped by its user; the part so far is kept.
    Cancelled,
    /// The server stopped mid-reply; the part so far is kept.
    Interrupted,
    /// The upstream failed, the reply outgrew its log, or it could not be stored.
    #[default]
    Error,
}
