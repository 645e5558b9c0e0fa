//! One round's chunks, read into events: content passes through as it comes, tool-call
//! deltas are assembled by index, the finish reason and the usage are kept for the end.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::error::sanitize;
use super::{FinishReason, LlmError, StreamEvent, Usage};
use crate::assistant::tools::ToolCall;

/// The most tool calls one round may ask for.
const MAX_TOOL_CALLS: usize = 64;
/// The most bytes of names and arguments all tool calls of a round may add up to.
const MAX_TOOL_CALL_BYTES: usize = 1 << 20;

// Every field is optional and unknown ones are ignored: servers differ in what they send
// (`null` for absent, `reasoning_content`, `logprobs`, `system_fingerprint`, ...).
#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<WireUsage>,
    error: Option<Value>,
    /// vLLM's top-level error: `{"object": "error", "message", "code"}`.
    object: Option<String>,
    message: Option<Value>,
    code: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    index: Option<u64>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    index: Option<usize>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    /// A string piece; a few servers send the whole arguments as a JSON object instead.
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Whether the stream goes on after a data line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    More,
    Done,
}

#[derive(Default)]
pub(super) struct Round {
    calls: BTreeMap<usize, PartialCall>,
    call_bytes: usize,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    api_key: Option<String>,
}

impl Round {
    pub(super) fn new(api_key: Option<String>) -> Self {
        Self { api_key, ..Self::default() }
    }

    /// Reads one event's data; the events it makes are pushed to `out`.
    pub(super) fn on_data(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<Flow, LlmError> {
        if data.trim() == "[DONE]" {
            self.finish(out)?;
            return Ok(Flow::Done);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            LlmError::Protocol(format!("a data line is not a chunk ({e}): {}", sanitize(data, self.api_key.as_deref())))
        })?;
        if let Some(error) = self.upstream_error(&chunk) {
            return Err(error);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(Usage {
                prompt_tokens: usage.prompt_tokens.unwrap_or(0),
                completion_tokens: usage.completion_tokens.unwrap_or(0),
            });
        }
        // Only the first choice: the request never asks for `n` > 1.
        for choice in chunk.choices.into_iter().flatten().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(delta) = choice.delta {
                if let Some(content) = delta.content.filter(|c| !c.is_empty()) {
                    out.push(StreamEvent::Delta(content));
                }
                for call in delta.tool_calls.into_iter().flatten() {
                    self.add_call_delta(call)?;
                }
            }
            // Some servers send `""` in chunks that do not finish.
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(FinishReason::from_wire(&reason));
            }
        }
        Ok(Flow::More)
    }

    /// At the end of the body without `[DONE]`: a round whose finish reason came is whole
    /// (a few servers never send `[DONE]`); any other was cut off.
    pub(super) fn on_eof(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.finish_reason.is_none() {
            return Err(LlmError::Protocol("the stream ended before the reply finished".into()));
        }
        self.finish(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let mut finish_reason = self.finish_reason.take().unwrap_or_else(|| FinishReason::Other("none".into()));
        let calls = std::mem::take(&mut self.calls);
        // A round cut by the token limit or a filter has half-written calls: none is run.
        // Otherwise calls are calls, whatever the reason says (Ollama says `stop`).
        if !calls.is_empty() && !matches!(finish_reason, FinishReason::Length | FinishReason::ContentFilter) {
            let calls = calls.into_iter().map(|(index, call)| assemble(index, call)).collect::<Result<_, _>>()?;
            out.push(StreamEvent::ToolCalls(calls));
            finish_reason = FinishReason::ToolCalls;
        }
        out.push(StreamEvent::Done { finish_reason, usage: self.usage });
        Ok(())
    }

    fn add_call_delta(&mut self, delta: ToolCallDelta) -> Result<(), LlmError> {
        let id = delta.id.filter(|id| !id.is_empty());
        // Without an index (a few servers), a new id starts a new call, anything else continues
        // the last one.
        let index = match delta.index {
            Some(index) => index,
            None => match (self.calls.last_key_value(), &id) {
                (Some((&last, call)), Some(id)) if call.id != *id => last + 1,
                (Some((&last, _)), _) => last,
                (None, _) => 0,
            },
        };
        if !self.calls.contains_key(&index) && self.calls.len() >= MAX_TOOL_CALLS {
            return Err(LlmError::Protocol(format!("more than {MAX_TOOL_CALLS} tool calls in one round")));
        }
        let (name, arguments) = match delta.function {
            Some(FunctionDelta { name, arguments }) => (name.unwrap_or_default(), arguments),
            None => (String::new(), None),
        };
        let arguments = match arguments {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(piece)) => piece,
            Some(whole) => whole.to_string(),
        };
        self.call_bytes += name.len() + arguments.len() + id.as_ref().map_or(0, String::len);
        if self.call_bytes > MAX_TOOL_CALL_BYTES {
            return Err(LlmError::Protocol(format!(
                "the tool calls of one round are over {MAX_TOOL_CALL_BYTES} bytes"
            )));
        }
        let call = self.calls.entry(index).or_default();
        // The id and the name come whole in the first delta; some servers repeat them in
        // every delta, which must not double them.
        if call.id.is_empty() {
            call.id = id.unwrap_or_default();
        }
        if call.name.is_empty() {
            call.name = name;
        }
        call.arguments.push_str(&arguments);
        Ok(())
    }

    fn upstream_error(&self, chunk: &Chunk) -> Option<LlmError> {
        let (message, code) = match (&chunk.error, chunk.object.as_deref()) {
            (Some(Value::Object(error)), _) => (error.get("message"), error.get("code")),
            (Some(message @ Value::String(_)), _) => (Some(message), chunk.code.as_ref()),
            (Some(Value::Null) | None, Some("error")) => (chunk.message.as_ref(), chunk.code.as_ref()),
            (Some(Value::Null) | None, _) => return None,
            (Some(other), _) => (Some(other), None),
        };
        let message = match message {
            Some(Value::String(message)) => message.clone(),
            Some(other) => other.to_string(),
            None => "an error without a message".to_owned(),
        };
        let message = sanitize(&message, self.api_key.as_deref());
        let status = code.and_then(|code| match code {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        Some(match status {
            Some(status @ 400..=599) => LlmError::Status { status: status as u16, body: message },
            _ => LlmError::Protocol(format!("the stream carried an error: {message}")),
        })
    }
}

/// A call as the tools layer sees it. Some servers give no id; one is made up, unique in
/// the round, since the result must name it.
fn assemble(index: usize, call: PartialCall) -> Result<ToolCall, LlmError> {
    if call.name.is_empty() {
        return Err(LlmError::Protocol(format!("tool call {index} has no name")));
    }
    let id = if call.id.is_empty() { format!("call_{index}") } else { call.id };
    Ok(ToolCall { id, name: call.name, arguments: call.arguments })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call_delta(index: usize, name: Option<&str>) -> String {
        let mut call = json!({"index": index, "id": format!("c{index}"), "function": {"arguments": "{}"}});
        if let Some(name) = name {
            call["function"]["name"] = json!(name);
        }
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}).to_string()
    }

    #[test]
    fn a_round_cannot_hold_more_than_the_limit_of_tool_calls() {
        let mut round = Round::default();
        let mut out = Vec::new();
        for index in 0..MAX_TOOL_CALLS {
            // Far-apart indices cost nothing: calls are keyed, not placed in a vector.
            round.on_data(&call_delta(index * 1_000_000, Some("a__b")), &mut out).unwrap();
        }
        let error = round.on_data(&call_delta(usize::MAX, Some("a__b")), &mut out).unwrap_err();
        assert!(matches!(&error, LlmError::Protocol(m) if m.contains("tool calls")), "{error:?}");
    }

    #[test]
    fn calls_cut_by_the_token_limit_are_not_run_and_a_call_without_name_is_an_error() {
        let mut round = Round::default();
        let mut out = Vec::new();
        round.on_data(&call_delta(0, Some("a__b")), &mut out).unwrap();
        let length = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}).to_string();
        round.on_data(&length, &mut out).unwrap();
        assert_eq!(round.on_data("[DONE]", &mut out).unwrap(), Flow::Done);
        assert_eq!(out, [StreamEvent::Done { finish_reason: FinishReason::Length, usage: None }]);

        let mut round = Round::default();
        round.on_data(&call_delta(0, None), &mut out).unwrap();
        let error = round.on_data("[DONE]", &mut out).unwrap_err();
        assert!(matches!(&error, LlmError::Protocol(m) if m.contains("no name")), "{error:?}");
    }

    #[test]
    fn data_that_is_not_a_chunk_is_a_protocol_error_that_hides_the_key() {
        let mut round = Round::new(Some("sk-hidden".into()));
        let error = round.on_data("{not json sk-hidden", &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&error, LlmError::Protocol(m) if m.contains("[redacted]") && !m.contains("sk-hidden")),
            "{error:?}"
        );
    }
}
