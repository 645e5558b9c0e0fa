//! MCP tool servers through rmcp (being written).
