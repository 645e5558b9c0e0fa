//! Palaver's wire types: the JSON bodies of the REST API and the WebSocket frames. The
//! server, the tests and the load generator all use these, so the contract (the OpenAPI
//! document, `docs/rest.md`, `docs/protocol.md`) has one definition in code.

pub mod assistant;
pub mod auth;
pub mod integrations;
pub mod messages;
pub mod notifications;
pub mod problem;
pub mod rooms;
mod schema;
pub mod search;
pub mod ws;

pub use assistant::*;
pub use auth::*;
pub use integrations::*;
pub use messages::*;
pub use notifications::*;
pub use problem::*;
pub use rooms::*;
pub use search::*;

/// RFC 3339 timestamps, always UTC.
pub type Timestamp = time::OffsetDateTime;
