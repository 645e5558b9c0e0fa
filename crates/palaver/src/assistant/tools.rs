//! What the model is offered and what it asks for: the shared vocabulary of `llm` and `mcp`.

/// A tool offered to the model, named `<server>__<tool>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// A JSON Schema object for the arguments.
    pub parameters: serde_json::Value,
}

/// A call the model asked for, assembled from its streamed deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The upstream's id for the call, echoed back with its result.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, possibly invalid.
    pub arguments: String,
}

/// What a tool call gave back. A failing, timed-out or unknown tool is a result too, with
/// `is_error`: the model sees it, the reply goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub content: String,
    pub is_error: bool,
}
