//! The AI assistant: an OpenAI-compatible streaming client (`llm`), tools from MCP servers
//! (`mcp`), the types both speak (`tools`), the running replies and their event logs
//! (`replies`), the loop that writes one reply (`run`), and those logs shared between
//! instances through Redis (`shared`).

pub mod llm;
pub mod mcp;
pub mod replies;
pub mod run;
pub mod shared;
pub mod tools;
