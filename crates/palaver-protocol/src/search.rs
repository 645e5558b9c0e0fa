use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{Message, RoomKind, schema};

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// 1 to 256 characters: words (all must match, whole words, case- and
    /// accent-insensitively), `"a phrase"`, `prefix*`, `-excluded`. Chinese and Japanese
    /// text matches any run of 2 or more of its characters.
    #[param(min_length = 1, max_length = 256)]
    pub q: Option<String>,
    /// Only this room.
    pub room_id: Option<Uuid>,
    /// Only this author's messages.
    pub author_id: Option<Uuid>,
    /// Only this thread (its root and its replies).
    pub thread_root_id: Option<Uuid>,
    /// `image`: only messages with an image.
    #[param(schema_with = has_schema)]
    pub has: Option<String>,
    /// RFC 3339: only messages created at or after this time.
    #[param(schema_with = since_schema)]
    pub since: Option<String>,
    /// RFC 3339: only messages created at or before this time.
    #[param(schema_with = until_schema)]
    pub until: Option<String>,
    /// `recent` (default, newest first) or `relevance` (the densest matches first: the
    /// shortest messages holding every part, newest first among equals).
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page (of the same query and sort).
    #[param(schema_with = schema::search_cursor)]
    pub cursor: Option<String>,
}

fn has_schema() -> utoipa::openapi::schema::ObjectBuilder {
    schema::one_of(&["image"], "`image`: only messages with an image.")
}

fn sort_schema() -> utoipa::openapi::schema::ObjectBuilder {
    schema::one_of(&["recent", "relevance"], "`recent` (the default) or `relevance`.")
}

fn since_schema() -> utoipa::openapi::schema::ObjectBuilder {
    schema::date_time("Only messages created at or after this time (RFC 3339).")
}

fn until_schema() -> utoipa::openapi::schema::ObjectBuilder {
    schema::date_time("Only messages created at or before this time (RFC 3339).")
}

/// The room a hit is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchRoom {
    pub id: Uuid,
    pub kind: RoomKind,
    pub name: String,
}

/// A piece of a snippet: plain text (never HTML), `match` where the query matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnippetSegment {
    pub text: String,
    #[serde(rename = "match")]
    pub matched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub message: Message,
    pub room: SearchRoom,
    /// About 200 characters of the message around its first match.
    pub snippet: Vec<SnippetSegment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}
