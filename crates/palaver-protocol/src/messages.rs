use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{UserRef, schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub mime: String,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    pub url: String,
    pub thumbnail_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    /// The room seq this message was posted with.
    pub seq: i64,
    /// The seq of its latest edit or delete (equal to `seq` if never changed).
    pub updated_seq: i64,
    pub author: UserRef,
    pub kind: MessageKind,
    /// Empty when deleted.
    pub content: String,
    pub attachment: Option<Attachment>,
    pub client_msg_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
    /// The root of the thread this message replies in; null for a top-level message.
    #[serde(default)]
    pub thread_root_id: Option<Uuid>,
    /// On a thread's root: its replies, summed up. Null when nobody replied.
    #[serde(default)]
    pub thread: Option<ThreadSummary>,
    /// Reactions in order of first use. Empty on a deleted message.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// How it was posted when not by a person: `bot` (a bot's API token) or `webhook` (an
    /// incoming webhook); null for people.
    #[serde(default)]
    pub via: Option<Via>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Bot,
    Webhook,
}

/// A thread root's replies, derived from them: a reply adds no event for its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThreadSummary {
    pub reply_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub last_reply_at: OffsetDateTime,
    /// Who replied, most recent first, at most 5.
    pub participants: Vec<UserRef>,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reaction {
    /// One emoji grapheme or a `:shortcode:`.
    pub emoji: String,
    pub count: i64,
    /// The first 20 who reacted, oldest first.
    pub user_ids: Vec<Uuid>,
}

/// One thread the caller follows (started, replied in, or was mentioned in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FollowedThread {
    pub room_id: Uuid,
    /// The root, with its `thread` summary.
    pub root: Message,
    /// Replies by others, not deleted, above `last_read_seq`.
    pub unread_count: i64,
    /// The caller's read marker in this thread (a room seq).
    pub last_read_seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreadPage {
    /// Newest activity first.
    pub items: Vec<FollowedThread>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadsQuery {
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(schema_with = schema::cursor)]
    pub cursor: Option<String>,
}

/// `content`, `upload_id` or both: a text message, an image, an image with a caption.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PostMessageRequest {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub upload_id: Option<Uuid>,
    #[serde(default)]
    pub client_msg_id: Option<String>,
    #[serde(default)]
    pub thread_root_id: Option<Uuid>,
}

impl utoipa::PartialSchema for PostMessageRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let upload_id = schema::nullable_uuid(
            "An upload of the caller's (`POST /uploads`) not attached to any message yet: the message is then \
             `kind: \"image\"` with that attachment.",
        );
        let thread_root_id = schema::nullable_uuid(
            "Reply in this message's thread: a top-level, not deleted message of the same room (else 422).",
        );
        let fields = schema::object(
            "`content`, `upload_id` or both: a text message, an image, an image with a caption.",
        )
        .property(
            "content",
            schema::nullable_string().description(Some(
                "1 to 4000 characters once surrounding whitespace and invisible characters are trimmed; stored \
                     trimmed. Optional with an `upload_id` (a caption then).",
            )),
        )
        .property("upload_id", upload_id)
        .property(
            "client_msg_id",
            schema::nullable_string().description(Some(
                "The client's idempotency key, 1 to 64 characters: a retry with the same key gets the message the \
                     first attempt stored.",
            )),
        )
        .property("thread_root_id", thread_root_id);
        schema::requires_any(fields, &["content", "upload_id"]).into()
    }
}

impl ToSchema for PostMessageRequest {}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    /// As for posting: 1 to 4000 characters once trimmed.
    pub content: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Newest `limit` messages with a seq below this one.
    pub before: Option<i64>,
    /// Oldest `limit` messages with a seq above this one.
    pub after: Option<i64>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// One parameter object, exploded into `before`, `after` and `limit`, because only an object
/// can say "not both `before` and `after`".
impl IntoParams for HistoryQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn, ParameterStyle};
        let seq = |description: &str| {
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
                .description(Some(description))
        };
        let fields = schema::object("The newest messages by default; `before` or `after` (not both) pages from a seq.")
            .property("before", seq("Newest `limit` messages with a seq below this one."))
            .property("after", seq("Oldest `limit` messages with a seq above this one."))
            .property("limit", schema::page_limit());
        let page = ParameterBuilder::new()
            .name("page")
            .parameter_in(ParameterIn::Query)
            .style(Some(ParameterStyle::Form))
            .explode(Some(true))
            .schema(Some(schema::not_all_of(fields, &["before", "after"])))
            .build();
        vec![page]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Always in ascending seq.
    pub items: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadRequest {
    /// The seq read up to; beyond the room's last seq counts as its last seq.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "whole_number")]
    pub seq: i64,
}

/// An integer, also when written with a zero fraction (`287.0`): JSON Schema's `integer`,
/// which the OpenAPI document states, admits both spellings.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Whole;

    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<i64, E> {
            Ok(n)
        }

        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<i64, E> {
            i64::try_from(n).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
        }

        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<i64, E> {
            // Below 2^63 in magnitude, so the cast is exact for every whole value.
            let whole = n.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n);
            if whole { Ok(n as i64) } else { Err(E::invalid_value(serde::de::Unexpected::Float(n), &self)) }
        }
    }

    deserializer.deserialize_any(Whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_marker_is_a_whole_number_however_spelled() {
        let seq = |body: &str| serde_json::from_str::<ReadRequest>(body).map(|r| r.seq).ok();
        assert_eq!(seq(r#"{"seq": 287}"#), Some(287));
        assert_eq!(seq(r#"{"seq": 287.0}"#), Some(287));
        assert_eq!(seq(r#"{"seq": -3e0}"#), Some(-3));
        assert_eq!(seq(r#"{"seq": 9223372036854775807}"#), Some(i64::MAX));
        for bad in [r#"{"seq": 1.5}"#, r#"{"seq": 9223372036854775808}"#, r#"{"seq": 1e19}"#, r#"{"seq": "1"}"#] {
            assert_eq!(seq(bad), None, "{bad}");
        }
    }
}
