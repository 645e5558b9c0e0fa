//! Reading response bodies, and the shapes of `User`, `Room` and `Message`.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[track_caller]
pub fn str_of(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}")).to_owned()
}

#[track_caller]
pub fn id_of(value: &Value) -> String {
    str_of(&value["id"])
}

#[track_caller]
pub fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap_or_else(|| panic!("expected `items`, got {page}")).clone()
}

#[track_caller]
pub fn ids(page: &Value) -> Vec<String> {
    items(page).iter().map(id_of).collect()
}

#[track_caller]
pub fn seqs(page: &Value) -> Vec<i64> {
    items(page).iter().map(|m| m["seq"].as_i64().expect("seq is an integer")).collect()
}

/// Asserts every key is present (its value may be null).
#[track_caller]
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value.as_object().unwrap_or_else(|| panic!("expected an object, got {value}"));
    for key in keys {
        assert!(object.contains_key(*key), "`{key}` missing from {value}");
    }
}

/// Asserts a UUID v7 string, as every id is.
#[track_caller]
pub fn assert_uuid_v7(value: &Value) {
    let id = uuid::Uuid::parse_str(&str_of(value)).unwrap_or_else(|e| panic!("{value} is not a UUID: {e}"));
    assert_eq!(id.get_version_num(), 7, "{value} is not a UUID v7");
}

/// Asserts an RFC 3339 time in UTC.
#[track_caller]
pub fn assert_utc_time(value: &Value) {
    let text = str_of(value);
    let time = OffsetDateTime::parse(&text, &Rfc3339).unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"));
    assert!(time.offset().is_utc(), "{value} is not in UTC");
}

/// Asserts the `User` shape; `with_email` says whether `email` must be there or absent.
#[track_caller]
pub fn assert_user(user: &Value, with_email: bool) {
    assert_keys(user, &["id", "username", "kind", "created_at", "online", "last_seen"]);
    assert!(user["kind"] == "user" || user["kind"] == "bot", "`kind` is user or bot: {user}");
    assert_uuid_v7(&user["id"]);
    assert_utc_time(&user["created_at"]);
    assert!(user["online"].is_boolean(), "`online` is a boolean: {user}");
    assert!(user["last_seen"].is_null() || user["last_seen"].is_string(), "{user}");
    assert_eq!(user.get("email").is_some(), with_email, "`email` presence in {user}");
}

pub fn long_string(chars: usize) -> String {
    "x".repeat(chars)
}

/// Asserts the `Room` shape.
#[track_caller]
pub fn assert_room(room: &Value) {
    assert_keys(
        room,
        &[
            "id",
            "kind",
            "name",
            "description",
            "visibility",
            "created_by",
            "created_at",
            "member_count",
            "last_seq",
            "unread_count",
            "my_role",
        ],
    );
    assert_uuid_v7(&room["id"]);
    assert_utc_time(&room["created_at"]);
    assert!(room["member_count"].is_u64(), "member_count: {room}");
    assert!(room["last_seq"].is_u64(), "last_seq: {room}");
}

/// Asserts the `Message` shape.
#[track_caller]
pub fn assert_message(message: &Value) {
    assert_keys(
        message,
        &[
            "id",
            "room_id",
            "seq",
            "updated_seq",
            "author",
            "kind",
            "content",
            "attachment",
            "client_msg_id",
            "created_at",
            "edited_at",
            "deleted",
            "thread_root_id",
            "thread",
            "reactions",
            "via",
        ],
    );
    assert_uuid_v7(&message["id"]);
    assert_keys(&message["author"], &["id", "username"]);
    assert_utc_time(&message["created_at"]);
    assert!(message["seq"].is_u64(), "seq: {message}");
    assert!(message["updated_seq"].as_u64() >= message["seq"].as_u64(), "updated_seq: {message}");
    assert!(message["deleted"].is_boolean(), "deleted: {message}");
    assert!(message["reactions"].is_array(), "reactions: {message}");
}

/// `value` percent-encoded for a query string, as a client's URL builder would do it.
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
