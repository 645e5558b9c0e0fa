//! The request body of a round: the prompt and the tools in OpenAI's chat-completions shape.

use serde::Serialize;

use crate::assistant::tools::{ToolCall, ToolSpec};

/// One round's input: the whole prompt so far and the tools on offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<PromptMessage>,
    pub tools: Vec<ToolSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptMessage {
    System(String),
    User(String),
    /// An earlier round's answer, with the tool calls it made (their results follow as `Tool`).
    Assistant {
        content: String,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    // Some servers refuse `"tools": []`; no tools is no field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        // `null` beside tool calls, as OpenAI's own clients send it.
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

/// The JSON body for `model` and `request`, always streaming with usage asked for.
pub(super) fn body(model: &str, request: &ChatRequest) -> serde_json::Value {
    let wire = WireRequest {
        model,
        messages: request.messages.iter().map(wire_message).collect(),
        stream: true,
        stream_options: StreamOptions { include_usage: true },
        tools: request
            .tools
            .iter()
            .map(|tool| WireTool {
                kind: "function",
                function: WireFunction {
                    name: &tool.name,
                    description: &tool.description,
                    parameters: &tool.parameters,
                },
            })
            .collect(),
    };
    // Only strings and JSON values inside: serializing cannot fail.
    serde_json::to_value(wire).unwrap_or_default()
}

fn wire_message(message: &PromptMessage) -> WireMessage<'_> {
    match message {
        PromptMessage::System(content) => WireMessage::System { content },
        PromptMessage::User(content) => WireMessage::User { content },
        PromptMessage::Assistant { content, tool_calls } => WireMessage::Assistant {
            content: (!content.is_empty() || tool_calls.is_empty()).then_some(content.as_str()),
            tool_calls: tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunctionCall { name: &call.name, arguments: replayable_arguments(&call.arguments) },
                })
                .collect(),
        },
        PromptMessage::Tool { tool_call_id, content } => WireMessage::Tool { tool_call_id, content },
    }
}

/// Arguments as they go back in the history. A model may have written invalid JSON (or
/// nothing, for a tool without parameters); servers that render the history through a chat
/// template (llama.cpp, vLLM) parse it and answer 500 on the whole round, so such arguments
/// go back as `{}`. The tool's error result, which the model sees next, says what was wrong.
fn replayable_arguments(arguments: &str) -> &str {
    match serde_json::from_str::<serde::de::IgnoredAny>(arguments) {
        Ok(_) => arguments,
        Err(_) => "{}",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_of_message_has_its_openai_shape() {
        let call =
            |arguments: &str| ToolCall { id: "call_1".into(), name: "clock__now".into(), arguments: arguments.into() };
        let request = ChatRequest {
            messages: vec![
                PromptMessage::System("be brief".into()),
                PromptMessage::User("time?".into()),
                PromptMessage::Assistant { content: String::new(), tool_calls: vec![call(r#"{"tz":"UTC"}"#)] },
                PromptMessage::Tool { tool_call_id: "call_1".into(), content: "12:00".into() },
                PromptMessage::Assistant { content: "noon".into(), tool_calls: vec![] },
                PromptMessage::Assistant { content: String::new(), tool_calls: vec![call("{\"tz\":")] },
            ],
            tools: vec![],
        };
        let body = body("m", &request);
        let function = |arguments: &str| json!({"name": "clock__now", "arguments": arguments});
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "time?"},
                {"role": "assistant", "content": null,
                 "tool_calls": [{"id": "call_1", "type": "function", "function": function(r#"{"tz":"UTC"}"#)}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
                {"role": "assistant", "content": "noon"},
                {"role": "assistant", "content": null,
                 "tool_calls": [{"id": "call_1", "type": "function", "function": function("{}")}]},
            ])
        );
        assert!(body.get("tools").is_none(), "no tools, no field: {body}");
    }
}
