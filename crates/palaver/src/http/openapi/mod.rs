//! The OpenAPI document is generated from the handlers' annotations and finished here: the
//! problem+json error responses the annotations name (one shared definition each), the
//! statuses any request can meet whatever its handler, and the limits of the text fields,
//! read off the parsers in `domain` so the document states what the server enforces.

mod text;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::response::{IntoResponse, Response as HttpResponse};

use palaver_protocol::Problem;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::domain::{ChatText, ClientMsgId, ConversationTitle, MessageContent, Password, RoomDescription, RoomName};
use text::TextRule;

const PROBLEM_JSON: &str = "application/problem+json";

/// One error response, named in annotations as a type and defined once under
/// `components/responses`.
struct ProblemResponse {
    name: &'static str,
    description: &'static str,
    header: Option<(&'static str, &'static str)>,
}

const RETRY_AFTER: (&str, &str) = ("Retry-After", "Whole seconds to wait before retrying.");

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal $(, $header:expr)?;)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([($status.to_owned(), Ref::from_response_name(stringify!($name)).into())])
                }
            }
        )+

        const PROBLEM_RESPONSES: &[ProblemResponse] = &[$(ProblemResponse {
            name: stringify!($name),
            description: $description,
            header: problem_responses!(@header $($header)?),
        }),+];
    };
    (@header) => { None };
    (@header $header:expr) => { Some($header) };
}

problem_responses! {
    BadRequest = "400", "The body is not JSON, or a query parameter does not parse (`bad_request`).";
    Unauthorized = "401",
        "No valid access token (missing, expired, or its account is gone or disabled), or wrong credentials (`unauthorized`).",
        ("WWW-Authenticate", "`Bearer`.");
    Forbidden = "403", "The caller may see the resource but not do this (`forbidden`).";
    NotFound = "404",
        "No such resource, or not one the caller may see (`not_found`); a path id that is not a UUID names nothing.";
    Conflict = "409",
        "The request conflicts with the resource's state: `username_taken`, `email_taken`, `reply_running`, `upload_attached`, `message_deleted`, `too_many_reactions`, or `conflict` for any other.";
    PayloadTooLarge = "413",
        "The body, or an uploaded file, is larger than the server takes (`payload_too_large`).";
    UnsupportedMediaType = "415",
        "The body is not `Content-Type: application/json`, or an upload is not a PNG, JPEG, GIF or WebP image (`unsupported_media_type`).";
    ValidationFailed = "422", "A field is invalid (`validation_failed`): `errors` names each one.";
    RateLimited = "429", "Over a rate limit (`rate_limited`).", RETRY_AFTER;
    HeadersTooLarge = "431",
        "The request's headers are larger than the server reads (`request_header_fields_too_large`).";
    Internal = "500", "An internal error (`internal`): `request_id` finds the server's log line.";
    Unavailable = "503",
        "A dependency (the database, the password hasher) cannot serve now (`unavailable`).",
        RETRY_AFTER;
}

/// What the `Json` extractor answers before the handler runs (400, 413, 415, 422), and the
/// values the service refuses (422).
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [BadRequest::responses(), PayloadTooLarge::responses(), UnsupportedMediaType::responses()]
            .into_iter()
            .chain([ValidationFailed::responses()])
            .flatten()
            .collect()
    }
}

/// What the `Query` extractor answers (400), and the values the service refuses (422).
pub struct QueryString;

impl IntoResponses for QueryString {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [BadRequest::responses(), ValidationFailed::responses()].into_iter().flatten().collect()
    }
}

/// The document the routes generated, finished on the first request for it: learning the
/// text limits takes a moment (seconds in a debug build) that a server nobody asks for its
/// document should not spend.
pub struct Document {
    generated: OpenApi,
    finished: tokio::sync::OnceCell<Arc<OpenApi>>,
}

impl Document {
    pub fn new(generated: OpenApi) -> Arc<Self> {
        Arc::new(Document { generated, finished: tokio::sync::OnceCell::new() })
    }
}

/// `GET /api/openapi.json`.
pub async fn serve(doc: Arc<Document>) -> HttpResponse {
    let finished = doc
        .finished
        .get_or_try_init(|| async {
            let mut finished = doc.generated.clone();
            tokio::task::spawn_blocking(move || {
                finish(&mut finished);
                Arc::new(finished)
            })
            .await
        })
        .await;
    match finished {
        Ok(finished) => axum::Json(finished.as_ref()).into_response(),
        Err(e) => super::problem::ApiError::from(crate::error::Error::Internal(e.into())).into_response(),
    }
}

/// Completes the document the routes generated.
pub fn finish(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(Problem::name().into_owned(), Problem::schema())];
    Problem::schemas(&mut schemas);
    components.schemas.extend(schemas);
    for problem in PROBLEM_RESPONSES {
        components.responses.insert(problem.name.to_owned(), problem_response(problem).into());
    }
    for (schema, field, rule) in text_rules() {
        constrain(components.schemas.get_mut(*schema), schema, field, rule);
    }
    // Any request can meet these, whatever its handler.
    let everywhere = [HeadersTooLarge::responses(), Internal::responses()];
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in everywhere.iter().flatten() {
                operation.responses.responses.entry(status.clone()).or_insert_with(|| response.clone());
            }
        }
    }
}

fn problem_response(problem: &ProblemResponse) -> Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    let mut response = ResponseBuilder::new().description(problem.description).content(PROBLEM_JSON, content);
    if let Some((name, description)) = problem.header {
        let schema = if name == RETRY_AFTER.0 {
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))
        } else {
            ObjectBuilder::new().schema_type(Type::String)
        };
        response = response.header(name, HeaderBuilder::new().schema(schema).description(Some(description)).build());
    }
    response.build()
}

/// The text fields whose limits come from a parser, learned once per process: asking a
/// parser about every character takes a moment.
fn text_rules() -> &'static [(&'static str, &'static str, TextRule)] {
    static RULES: OnceLock<Vec<(&str, &str, TextRule)>> = OnceLock::new();
    RULES.get_or_init(|| {
        let [password, name, description, content, client_msg_id, title, new_title, chat] =
            std::thread::scope(|scope| {
                let learners: [fn() -> TextRule; 8] = [
                    || TextRule::learn(|s| Password::parse(s).ok().map(|p| p.expose().to_owned())),
                    || TextRule::learn(|s| RoomName::parse(s).ok().map(RoomName::into_inner)),
                    || TextRule::learn(|s| RoomDescription::parse(s).ok().map(RoomDescription::into_inner)),
                    || TextRule::learn(|s| MessageContent::parse(s).ok().map(MessageContent::into_inner)),
                    || TextRule::learn(|s| ClientMsgId::parse(s).ok().map(ClientMsgId::into_inner)),
                    || TextRule::learn(|s| ConversationTitle::parse(s).ok().map(ConversationTitle::into_inner)),
                    || {
                        TextRule::learn(|s| {
                            ConversationTitle::parse_or_default(Some(s)).ok().map(ConversationTitle::into_inner)
                        })
                    },
                    || TextRule::learn(|s| ChatText::parse(s).ok().map(ChatText::into_inner)),
                ];
                learners
                    .map(|learn| scope.spawn(learn))
                    .map(|learning| learning.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            });
        vec![
            ("RegisterRequest", "password", password),
            ("CreateRoomRequest", "name", name.clone()),
            ("UpdateRoomRequest", "name", name),
            ("CreateRoomRequest", "description", description.clone()),
            ("UpdateRoomRequest", "description", description),
            ("PostMessageRequest", "content", content.clone()),
            ("EditMessageRequest", "content", content),
            ("PostMessageRequest", "client_msg_id", client_msg_id),
            ("RenameConversationRequest", "title", title),
            ("CreateConversationRequest", "title", new_title),
            ("SendChatRequest", "message", chat),
        ]
    })
}

/// Writes `rule` into the property's schema. A missing schema or property is a renamed type
/// or field: the document would silently lose a limit, so this fails loudly (the document
/// test runs it).
fn constrain(schema: Option<&mut RefOr<Schema>>, name: &str, field: &str, rule: &TextRule) {
    let Some(RefOr::T(Schema::Object(object))) = schema else {
        panic!("OpenAPI: no object schema {name} to constrain");
    };
    let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) else {
        panic!("OpenAPI: {name} has no inline property {field} to constrain");
    };
    let (min, max) = rule.length_bounds();
    property.min_length = min;
    property.max_length = max;
    property.pattern = rule.pattern();
}
