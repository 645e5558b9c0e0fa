//! The OpenAI-compatible streaming client: one `POST {base_url}/chat/completions` per round
//! with `stream: true`, read as server-sent events into [`StreamEvent`]s.
//!
//! Written against what real servers send, not only OpenAI: Ollama and llama.cpp send no
//! usage, vLLM may put an `error` object in a data line, Ollama says `stop` where it means
//! `tool_calls`. Every buffer is bounded (a line, an event, the tool calls of a round, an
//! error body), and dropping a [`ChatStream`] closes the upstream connection.

mod chunk;
mod client;
mod error;
mod request;
mod sse;
mod stream;

pub use client::{LlmClient, LlmSettings};
pub use error::LlmError;
pub use request::{ChatRequest, PromptMessage};
pub use stream::ChatStream;

/// What one round of the reply stream yields, in order: any number of `Delta`s, at most one
/// `ToolCalls`, then exactly one `Done`, then the stream ends.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Content text, as it arrives (never empty).
    Delta(String),
    /// The calls the model asked for, fully assembled; sent once, just before `Done`.
    ToolCalls(Vec<crate::assistant::tools::ToolCall>),
    Done {
        finish_reason: FinishReason,
        usage: Option<Usage>,
    },
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// Cut at the token limit.
    Length,
    /// The round ended with tool calls, whatever word the upstream used for it.
    ToolCalls,
    ContentFilter,
    /// Another word from the upstream, or `"none"` when it ended with `[DONE]` but never said.
    Other(String),
}

impl FinishReason {
    fn from_wire(reason: &str) -> Self {
        match reason {
            "stop" => Self::Stop,
            "length" => Self::Length,
            "tool_calls" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(other) => other,
        }
    }
}

/// Tokens the upstream counted for the round, when it says (OpenAI does with
/// `stream_options.include_usage`; Ollama and llama.cpp may not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

#[cfg(test)]
mod tests;
