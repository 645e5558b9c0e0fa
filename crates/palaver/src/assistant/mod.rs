//! The AI assistant: an OpenAI-compatible streaming client (`llm`), tools from MCP servers
//! (`mcp`), and the types both speak (`tools`).

pub mod llm;
pub mod mcp;
pub mod tools;
