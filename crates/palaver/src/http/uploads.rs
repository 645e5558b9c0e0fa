//! `POST /uploads` streams the multipart body into the upload service, which refuses it as
//! soon as it is too large or not an image; `GET /uploads/{id}` and `/thumbnail` serve the
//! bytes to a bearer token or a signed URL, with headers that keep a browser from running
//! anything in them.

use axum::body::Body;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use palaver_protocol::Attachment;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Path, Query, bearer_token};
use super::openapi::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, QueryString, RateLimited, Unauthorized, Unavailable,
    UnsupportedMediaType, ValidationFailed,
};
use super::problem::ApiError;
use crate::domain::UploadId;
use crate::error::Error;
use crate::service::{Accounts, UploadAccess, UploadView, Uploads};
use crate::uploads::blobs::Variant;

/// Room for the multipart framing around the file, on top of the file's own limit.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// A `multipart/form-data` body with one part, `file`: the image. Its name and declared
/// type are ignored; the bytes decide. (Only documents the body: it is read as a stream.)
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// 201 with the attachment (its URLs signed); post it with `upload_id` to show it in a room.
#[utoipa::path(post, path = "/uploads", tag = "uploads", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Attachment), BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType,
        ValidationFailed, RateLimited, Unavailable))]
pub async fn create(
    State(uploads): State<Uploads>,
    super::CurrentUser(caller): super::CurrentUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, axum::Json<Attachment>), ApiError> {
    let limit = uploads.max_bytes();
    // A declared length already over the limit is refused before a byte is read.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit + MULTIPART_OVERHEAD) {
        return Err(Error::TooLarge { what: "the file", limit }.into());
    }
    let mut multipart =
        multipart.map_err(|_| Error::UnsupportedMediaType("send multipart/form-data with one part named `file`"))?;
    let mut incoming = uploads.begin(&caller).await?;
    let mut has_file = false;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| malformed(e, limit))? {
        if field.name() != Some("file") {
            let name = field.name().unwrap_or("").chars().take(64).collect::<String>();
            return Err(
                Error::invalid("file", format!("unexpected part {name:?}: send only a part named `file`")).into()
            );
        }
        if has_file {
            return Err(Error::invalid("file", "send one part named `file`, not several").into());
        }
        has_file = true;
        while let Some(chunk) = field.chunk().await.map_err(|e| malformed(e, limit))? {
            incoming.push(&chunk)?;
        }
    }
    if !has_file {
        return Err(Error::invalid("file", "a part named `file` is required").into());
    }
    let attachment = uploads.finish(&caller, incoming).await?;
    Ok((StatusCode::CREATED, axum::Json(attachment)))
}

fn malformed(e: MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge { what: "the file", limit }.into()
    } else {
        ApiError::http(StatusCode::BAD_REQUEST, "bad_request", format!("malformed multipart body: {}", e.body_text()))
    }
}

/// A signed URL's proof; without it the request needs a bearer token.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signature {
    /// Unix time the URL stops working.
    expires: Option<i64>,
    /// The server's signature over the upload, the variant and `expires`.
    signature: Option<String>,
}

/// The image as uploaded (its metadata removed), to a bearer token or a signed URL.
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads", security((), ("bearer" = [])),
    params(("id" = Uuid, Path), Signature),
    responses((status = 200, description = "the image (PNG, JPEG, GIF or WebP)", content_type = "image/*"),
        (status = 304, description = "unchanged since the `ETag` given in `If-None-Match`"),
        QueryString, Unauthorized, Forbidden, NotFound, Unavailable))]
pub async fn original(
    State(accounts): State<Accounts>,
    State(uploads): State<Uploads>,
    headers: HeaderMap,
    Path(id): Path<UploadId>,
    Query(signature): Query<Signature>,
) -> Result<Response, ApiError> {
    serve(&accounts, &uploads, &headers, id, Variant::Original, signature).await
}

/// The thumbnail: the longest side at most 320 pixels, upright, without metadata.
#[utoipa::path(get, path = "/uploads/{id}/thumbnail", tag = "uploads", security((), ("bearer" = [])),
    params(("id" = Uuid, Path), Signature),
    responses((status = 200, description = "the thumbnail (JPEG, or PNG when it has transparency)", content_type = "image/*"),
        (status = 304, description = "unchanged since the `ETag` given in `If-None-Match`"),
        QueryString, Unauthorized, Forbidden, NotFound, Unavailable))]
pub async fn thumbnail(
    State(accounts): State<Accounts>,
    State(uploads): State<Uploads>,
    headers: HeaderMap,
    Path(id): Path<UploadId>,
    Query(signature): Query<Signature>,
) -> Result<Response, ApiError> {
    serve(&accounts, &uploads, &headers, id, Variant::Thumbnail, signature).await
}

async fn serve(
    accounts: &Accounts,
    uploads: &Uploads,
    headers: &HeaderMap,
    id: UploadId,
    variant: Variant,
    signature: Signature,
) -> Result<Response, ApiError> {
    let caller;
    let access = match (bearer_token(headers), signature.expires, signature.signature.as_deref()) {
        (Some(token), _, _) => {
            caller = accounts.authenticate(token).await?;
            UploadAccess::Caller(&caller)
        }
        (None, Some(expires), Some(signature)) => UploadAccess::Signed { expires, signature },
        (None, _, _) => return Err(Error::Unauthorized("missing bearer token or signed URL").into()),
    };
    let view = uploads.open(access, id, variant).await?;
    let mut response = if matches(headers, &view.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let bytes = uploads.bytes(&view).await?;
        let mut response = Response::new(Body::from(bytes));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(view.format.mime()));
        response
    };
    protect(response.headers_mut(), &view);
    Ok(response)
}

/// Whether `If-None-Match` names `etag` (or `*`); weak tags compare by their value.
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        },
    )
}

/// Headers of every answer with an upload (200 and 304 alike).
fn protect(headers: &mut HeaderMap, view: &UploadView) {
    let set = |headers: &mut HeaderMap, name, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::ETAG, view.etag.clone());
    let cache =
        if view.max_age > 0 { format!("private, max-age={}", view.max_age) } else { "private, no-cache".into() };
    set(headers, header::CACHE_CONTROL, cache);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // An image opened on its own must not be able to run anything, whatever it contains.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src 'self'; sandbox"),
    );
    let suffix = if view.variant == Variant::Thumbnail { "-thumbnail" } else { "" };
    set(
        headers,
        header::CONTENT_DISPOSITION,
        format!("inline; filename=\"{}{suffix}.{}\"", view.id, view.format.extension()),
    );
}
