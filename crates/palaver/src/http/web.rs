//! The web client, embedded at build time (`build.rs`): `index.html` at `/`, revalidated on
//! every load, and the ES modules and CSS under `/assets/<version>/`, cached for good since
//! a new build has a new version. Not part of the API document.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problem;

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub mime: &'static str,
    /// Strong, quoted, of the raw bytes.
    pub etag: &'static str,
    pub raw: &'static [u8],
    /// Present when gzip made it smaller.
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// No inline script or style, nothing from another origin; `blob:`/`data:` images are the
/// client's own previews of a picked file.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", axum::routing::get(index)).route("/assets/{version}/{*path}", axum::routing::get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, "no-cache", &headers)
}

async fn asset(Path((version, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let found = ASSETS.binary_search_by(|asset| asset.path.cmp(path.as_str())).ok().map(|at| &ASSETS[at]);
    match found {
        // Another build's URL: its content is not here, and today's must not be cached under it.
        Some(asset) if version == VERSION => serve(asset, IMMUTABLE, &headers),
        _ => problem::not_found().await.into_response(),
    }
}

fn serve(asset: &'static Asset, cache_control: &'static str, request: &HeaderMap) -> Response {
    let gzip = asset.gzip.filter(|_| accepts_gzip(request));
    let mut response = if etag_matches(request, asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = gzip.unwrap_or(asset.raw);
        let mut response = body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
        if gzip.is_some() {
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if asset.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// `If-None-Match` against our one tag, by the weak comparison RFC 9110 asks for; both the
/// gzip and the identity body carry the same tag, as they are the same content.
fn etag_matches(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts
                .any(|param| param.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn gzip_is_chosen_from_accept_encoding() {
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "gzip, deflate, br")));
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers(header::ACCEPT_ENCODING, "*")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "gzip;q=0, br")));
        assert!(!accepts_gzip(&headers(header::ACCEPT_ENCODING, "identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_compares_weakly_and_in_lists() {
        assert!(etag_matches(&headers(header::IF_NONE_MATCH, "\"abc\""), "\"abc\""));
        assert!(etag_matches(&headers(header::IF_NONE_MATCH, "\"x\", W/\"abc\""), "\"abc\""));
        assert!(etag_matches(&headers(header::IF_NONE_MATCH, "*"), "\"abc\""));
        assert!(!etag_matches(&headers(header::IF_NONE_MATCH, "\"abd\""), "\"abc\""));
    }

    #[test]
    fn assets_are_sorted_for_the_binary_search() {
        assert!(ASSETS.windows(2).all(|pair| pair[0].path < pair[1].path));
        assert!(INDEX.raw.windows(VERSION.len()).any(|window| window == VERSION.as_bytes()));
    }
}
