//! Schema pieces the derives cannot say: rules across fields (exactly one of two, at least
//! one of two, not both), which the server enforces and so the document must state.

use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, extensions::Extensions};

/// Text without NUL (U+0000), which no text field may hold.
pub const NO_NUL: &str = "^[^\\u0000]*$";

pub fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object).description(Some(description))
}

pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// `fields`, where exactly one of `names` is a string and the others are absent or null.
pub fn exactly_one_of(fields: ObjectBuilder, names: &[&str]) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    for name in names {
        let mut branch = ObjectBuilder::new().required(*name).property(*name, string());
        for other in names.iter().filter(|other| *other != name) {
            branch = branch.property(*other, null());
        }
        one_of = one_of.item(branch);
    }
    AllOfBuilder::new().item(fields).item(one_of).into()
}

/// `fields`, where at least one of `branches` holds.
pub fn at_least_one_of(fields: ObjectBuilder, branches: impl IntoIterator<Item = ObjectBuilder>) -> RefOr<Schema> {
    let any_of = branches.into_iter().fold(AnyOfBuilder::new(), |any_of, branch| any_of.item(branch));
    AllOfBuilder::new().item(fields).item(any_of).into()
}

/// `fields`, where at least one of `names` is present (and, being present, not null), as
/// an `anyOf` of `required` written into the object itself, so its `properties` stay where
/// a reader of the document (and the limits added to them) expects them.
pub fn requires_any(fields: ObjectBuilder, names: &[&str]) -> ObjectBuilder {
    let branches: Vec<serde_json::Value> = names
        .iter()
        .map(|name| serde_json::json!({ "required": [name], "properties": { *name: { "not": { "type": "null" } } } }))
        .collect();
    fields.extensions(Some(Extensions::from_iter([("anyOf", serde_json::Value::Array(branches))])))
}

/// `fields`, where `names` are not all present at once.
pub fn not_all_of(fields: ObjectBuilder, names: &[&str]) -> ObjectBuilder {
    // utoipa's model has no `not` keyword; its extensions are written into the object as
    // they are, so the keyword goes there.
    let both = serde_json::json!({ "required": names });
    fields.extensions(Some(Extensions::from_iter([("not", both)])))
}

/// A page size: 1 to 200, 50 when absent.
pub fn page_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(200))
        .description(Some("1 to 200, default 50."))
}

/// A paging cursor: opaque to clients, it is the `next_cursor` of the previous page. The
/// pattern admits what the server parses (a UUID in any of its spellings), no more.
pub fn cursor() -> ObjectBuilder {
    const HYPHENATED: &str = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}";
    let pattern =
        format!("^(?:[0-9A-Fa-f]{{32}}|{HYPHENATED}|\\{{{HYPHENATED}\\}}|[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:{HYPHENATED})$");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some("`next_cursor` from the previous page."))
}

/// A search page's cursor: `r<position>` for `sort=recent`, `v<rank>.<position>` for
/// `sort=relevance` (opaque to clients; the pattern admits what the server parses).
pub fn search_cursor() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(?:r-?[0-9]{1,19}|v-?[0-9]{1,19}\\.-?[0-9]{1,19})$"))
        .description(Some("`next_cursor` from the previous page of the same query and sort."))
}

/// One of a few words.
pub fn one_of(values: &[&str], description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
}

/// An RFC 3339 time.
pub fn date_time(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
        .description(Some(description))
}

/// A UUID, or null.
pub fn nullable_uuid(description: &str) -> ObjectBuilder {
    use utoipa::openapi::schema::SchemaType;
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
        .pattern(Some("^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$"))
        .description(Some(description))
}
