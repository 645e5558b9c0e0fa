//! Every error a client sees is RFC 9457 problem+json, built here and nowhere else.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palaver_protocol::{FieldError, Problem};

use crate::error::Error;

tokio::task_local! {
    /// The `x-request-id` of the request being served, for 500 bodies.
    pub static REQUEST_ID: String;
}

#[derive(Debug)]
pub enum ApiError {
    Service(Error),
    /// Errors only HTTP has: bad JSON, wrong content type, body too large, no such route.
    Http {
        status: StatusCode,
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
}

impl ApiError {
    pub fn http(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Http { status, code, detail: detail.into(), errors: vec![] }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Service(e)
    }
}

fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::Service(e) => e.retry_after(),
            ApiError::Http { .. } => None,
        };
        let (status, code, detail, errors, request_id) = match self {
            ApiError::Service(Error::Internal(e)) => {
                let request_id = REQUEST_ID.try_with(Clone::clone).ok();
                tracing::error!(error = format!("{e:#}"), request_id, "internal error");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (status, "internal", "internal server error".to_owned(), vec![], request_id)
            }
            ApiError::Service(e) => {
                let errors = match &e {
                    Error::Validation(errors) => errors.clone(),
                    _ => vec![],
                };
                (status_of(&e), e.code(), e.to_string(), errors, None)
            }
            ApiError::Http { status, code, detail, errors } => (status, code, detail, errors, None),
        };
        let problem = Problem {
            type_: format!("urn:palaver:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors,
            request_id,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(wait) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(crate::error::retry_secs(wait)));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::http(StatusCode::BAD_REQUEST, "bad_request", format!("malformed JSON: {}", e.body_text()))
            }
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let field = text.split('`').nth(1).filter(|_| text.contains("field `")).unwrap_or("body").to_owned();
                ApiError::Http {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "validation_failed",
                    detail: text.clone(),
                    errors: vec![FieldError { field, message: text }],
                }
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::http(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body is too large")
            }
            other => ApiError::http(StatusCode::BAD_REQUEST, "bad_request", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    /// A path segment that does not parse (e.g. not a UUID) names nothing that exists.
    fn from(_: PathRejection) -> Self {
        ApiError::Service(Error::NotFound("resource"))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::http(StatusCode::BAD_REQUEST, "bad_request", format!("invalid query: {}", rejection.body_text()))
    }
}

pub async fn not_found() -> ApiError {
    ApiError::http(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::http(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this endpoint")
}
