//! The AI assistant: an OpenAI-compatible streaming client (`llm`), tools from MCP servers
//! (`mcp`), the types both speak (`tools`), the running replies and their event logs
//! (`replies`) and the loop that writes one reply (`run`).

pub mod llm;
pub mod mcp;
pub mod replies;
pub mod run;
pub mod tools;
