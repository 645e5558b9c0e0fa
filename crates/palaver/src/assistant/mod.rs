//! The AI assistant: an OpenAI-compatible streaming client (`llm`), tools from MCP servers
//! (`mcp`), the types both speak (`tools`), the running replies and their event logs
//! (`replies`), the loop that produces one reply's events (`run`), and those logs shared
//! between instances through Redis (`shared`). None of it writes rows: the service
//! (`service::assistant`) stores a reply around its loop.

pub mod llm;
pub mod mcp;
pub mod replies;
pub mod run;
pub mod shared;
pub mod tools;
