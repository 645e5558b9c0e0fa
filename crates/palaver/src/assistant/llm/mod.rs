//! The OpenAI-compatible streaming client (being written).
