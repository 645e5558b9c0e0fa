use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3 to 32 letters, digits, `_`, `.` or `-`; unique regardless of case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]*$")]
    pub username: String,
    /// At most 254 bytes once surrounding whitespace is trimmed; unique.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 256 characters.
    pub password: String,
}

/// Exactly one of `email` or `username`, with the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// No text field may hold NUL (U+0000).
    #[schema(pattern = "^[^\\u0000]*$")]
    pub refresh_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// A person, or a bot (made by a person, authenticated by an API token).
    #[serde(default)]
    pub kind: UserKind,
    /// Only on `/users/me` and in a `TokenPair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub online: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    #[default]
    User,
    Bot,
}

/// The author or actor of something: just enough to render a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRef {
    pub id: Uuid,
    pub username: String,
}

impl utoipa::PartialSchema for LoginRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let fields = schema::object("Exactly one of `email` or `username`, with the password.")
            .property("email", schema::nullable_string().pattern(Some(schema::NO_NUL)))
            .property("username", schema::nullable_string().pattern(Some(schema::NO_NUL)))
            .property("password", schema::string().pattern(Some(schema::NO_NUL)))
            .required("password");
        schema::exactly_one_of(fields, &["email", "username"])
    }
}

impl ToSchema for LoginRequest {}
