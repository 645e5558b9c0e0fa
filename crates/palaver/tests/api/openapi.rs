//! The OpenAPI document as a machine reads it: every reference resolves, every error is
//! problem+json, and each operation lists the statuses its extractors can answer. The limits
//! in its schemas are checked against the running server by schemathesis (`.ci/schemathesis`).

use serde_json::Value;

use crate::helpers::TestApp;

both_backends!(
    every_reference_in_the_document_resolves,
    every_error_response_is_problem_json,
    operations_list_the_statuses_their_extractors_answer,
    text_limits_are_those_the_server_enforces,
);

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn document(app: &TestApp) -> Value {
    app.get_root("/api/openapi.json").await.expect_status(200)
}

/// `(path, method, operation)` for every operation.
fn operations(document: &Value) -> Vec<(String, &'static str, &Value)> {
    let paths = document["paths"].as_object().expect("the document has paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method, operation));
            }
        }
    }
    assert!(found.len() > 20, "the document lists the API's operations, found {}", found.len());
    found
}

/// The value a local `$ref` (`#/a/b`) points at.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// A response, with a `$ref` to `components/responses` followed.
fn response<'a>(document: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => resolve(document, reference).unwrap_or(&Value::Null),
        None => response,
    }
}

fn collect_refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => found.push((at.clone(), reference)),
                    _ => collect_refs(inner, format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                collect_refs(inner, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

async fn every_reference_in_the_document_resolves(app: TestApp) {
    let document = document(&app).await;
    let mut refs = Vec::new();
    collect_refs(&document, String::new(), &mut refs);
    assert!(refs.len() > 50, "the document shares its schemas and responses by reference ({} refs)", refs.len());
    let dangling: Vec<_> = refs.iter().filter(|(_, reference)| resolve(&document, reference).is_none()).collect();
    assert!(dangling.is_empty(), "references to nothing (where, what): {dangling:?}");
}

async fn every_error_response_is_problem_json(app: TestApp) {
    let document = document(&app).await;
    let mut wrong = Vec::new();
    for (path, method, operation) in operations(&document) {
        let responses = operation["responses"].as_object().expect("an operation has responses");
        for (status, answer) in responses {
            // `/readyz` says which check failed in its own report, not as a problem.
            let is_error = status.starts_with('4') || status.starts_with('5');
            if !is_error || (path == "/readyz" && status == "503") {
                continue;
            }
            let content = response(&document, answer)["content"].as_object();
            let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
            let schema = content.and_then(|c| c.get("application/problem+json")).map(|c| &c["schema"]);
            let is_problem = schema.and_then(|s| s["$ref"].as_str()) == Some("#/components/schemas/Problem");
            if types != ["application/problem+json"] || !is_problem {
                wrong.push(format!("{method} {path} {status}: {types:?} {schema:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "error responses that are not a problem+json `Problem`:\n{}", wrong.join("\n"));
}

/// What the server answers before any handler code runs, so every operation of a kind can
/// answer it: 401 without a valid token, 400/413/415/422 for a JSON body, 404 for a path id
/// that is not a UUID, 400 for a query that does not parse, 431 and 500 anywhere.
async fn operations_list_the_statuses_their_extractors_answer(app: TestApp) {
    let document = document(&app).await;
    let mut missing = Vec::new();
    for (path, method, operation) in operations(&document) {
        let responses = operation["responses"].as_object().expect("an operation has responses");
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let has = |place: &str| parameters.iter().any(|p| p["in"] == place);
        let mut expected = vec!["431", "500"];
        if operation.get("security").is_some() {
            expected.push("401");
        }
        if operation.get("requestBody").is_some() {
            expected.extend(["400", "413", "415", "422"]);
        }
        if has("path") {
            expected.push("404");
        }
        if has("query") {
            expected.extend(["400", "422"]);
        }
        if path.starts_with("/api/v1/") {
            // Everything under the API reads or writes the database.
            expected.push("503");
        }
        for status in expected {
            if !responses.contains_key(status) {
                missing.push(format!("{method} {path} {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented statuses:\n{}", missing.join("\n"));
    let retried = &document["components"]["responses"]["Unavailable"]["headers"]["Retry-After"];
    assert!(retried.is_object(), "503 documents Retry-After: {}", document["components"]["responses"]);
}

/// The limits the document states are the ones the contract names, read off the server.
async fn text_limits_are_those_the_server_enforces(app: TestApp) {
    let document = document(&app).await;
    let property = |schema: &str, field: &str| document["components"]["schemas"][schema]["properties"][field].clone();

    let username = property("RegisterRequest", "username");
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(3), Some(32)), "{username}");
    let password = property("RegisterRequest", "password");
    assert_eq!((password["minLength"].as_u64(), password["maxLength"].as_u64()), (Some(8), Some(256)), "{password}");
    let client_msg_id = property("PostMessageRequest", "client_msg_id");
    assert_eq!(
        (client_msg_id["minLength"].as_u64(), client_msg_id["maxLength"].as_u64()),
        (Some(1), Some(64)),
        "{client_msg_id}"
    );
    // Trimmed fields: a pattern bounds the length between the first and last kept character.
    for (schema, field, bound) in [
        ("CreateRoomRequest", "name", "{0,98}"),
        ("UpdateRoomRequest", "name", "{0,98}"),
        ("CreateRoomRequest", "description", "{0,998}"),
        ("PostMessageRequest", "content", "{0,3998}"),
        ("EditMessageRequest", "content", "{0,3998}"),
    ] {
        let text = property(schema, field);
        let pattern = text["pattern"].as_str().unwrap_or_default();
        assert!(pattern.contains(bound), "{schema}.{field} bounds its trimmed length: {text}");
        assert!(pattern.contains("\\u0020") && pattern.contains("\\u3000"), "{schema}.{field} trims spaces: {text}");
        assert!(text["maxLength"].is_null(), "{schema}.{field}: trimming lets a longer raw value through: {text}");
    }
    assert_eq!(property("ReadRequest", "seq")["minimum"], 0);
    let limit = document["paths"]["/api/v1/rooms"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .map(|p| p["schema"].clone())
        .unwrap_or_default();
    assert_eq!((limit["minimum"].as_i64(), limit["maximum"].as_i64()), (Some(1), Some(200)), "{limit}");
}
