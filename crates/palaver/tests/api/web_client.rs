//! The embedded web client as served: types, caching, revalidation, gzip and the CSP
//! (docs/web.md). The browser tests of the client itself are in `browser.rs`.

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::helpers::{Backend, spawn_app};

async fn get(client: &reqwest::Client, url: &str, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.expect("the server answers")
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(&name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("a {name} header in {headers:?}"))
}

fn assert_csp(headers: &HeaderMap) {
    let csp = header(headers, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
}

/// The `/assets/<version>/` prefix that `index.html` refers to.
fn asset_prefix(index: &str) -> String {
    let start = index.find("/assets/").expect("index.html refers to /assets/");
    let rest = &index[start + "/assets/".len()..];
    let version: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
    assert!(version.len() >= 8, "a content hash as the version, got {version:?}");
    format!("/assets/{version}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_served_with_types_caching_gzip_and_a_strict_csp() {
    let app = spawn_app(Backend::Sqlite, |_| {}).await;
    let client = &app.api.client;
    let base = &app.api.address;

    // index.html: HTML, revalidated every time, never inline script.
    let index = get(client, &format!("{base}/"), &[]).await;
    assert_eq!(index.status(), StatusCode::OK);
    let headers = index.headers().clone();
    assert_eq!(header(&headers, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    assert_csp(&headers);
    let etag = header(&headers, header::ETAG).to_owned();
    let html = index.text().await.unwrap();
    assert!(html.contains("<script type=\"module\" src=\"/assets/"), "{html}");
    assert!(!html.contains("__VERSION__"), "the version is filled in: {html}");
    let prefix = asset_prefix(&html);

    // Revalidation: 304 with no body, by the tag or a list holding it, weak or not.
    for tag in [etag.clone(), format!("\"other\", W/{etag}")] {
        let again = get(client, &format!("{base}/"), &[(header::IF_NONE_MATCH, &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "If-None-Match: {tag}");
        assert_eq!(header(again.headers(), header::ETAG), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let changed = get(client, &format!("{base}/"), &[(header::IF_NONE_MATCH, "\"stale\"")]).await;
    assert_eq!(changed.status(), StatusCode::OK);

    // Assets: their types, cached for good under the versioned URL.
    for (path, mime) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let reply = get(client, &format!("{base}{prefix}{path}"), &[]).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
        let headers = reply.headers().clone();
        assert_eq!(header(&headers, header::CONTENT_TYPE), mime, "{path}");
        assert_eq!(header(&headers, header::CACHE_CONTROL), "public, max-age=31536000, immutable", "{path}");
        assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{path}: no gzip unless asked for");
        assert_csp(&headers);
        let raw = reply.bytes().await.unwrap();

        // gzip when asked for, the same content once inflated, and the same tag.
        let gz = get(client, &format!("{base}{prefix}{path}"), &[(header::ACCEPT_ENCODING, "gzip, br")]).await;
        let gz_headers = gz.headers().clone();
        assert_eq!(header(&gz_headers, header::CONTENT_ENCODING), "gzip", "{path}");
        assert_eq!(header(&gz_headers, header::VARY), "accept-encoding", "{path}");
        assert_eq!(header(&gz_headers, header::ETAG), header(&headers, header::ETAG), "{path}");
        let compressed = gz.bytes().await.unwrap();
        assert!(compressed.len() < raw.len(), "{path}: {} gzipped vs {} raw", compressed.len(), raw.len());
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut inflated).unwrap();
        assert_eq!(inflated, raw, "{path}");

        let tag = header(&headers, header::ETAG).to_owned();
        let cached = get(client, &format!("{base}{prefix}{path}"), &[(header::IF_NONE_MATCH, &tag)]).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let refused = get(client, &format!("{base}{prefix}app.css"), &[(header::ACCEPT_ENCODING, "gzip;q=0")]).await;
    assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());

    // Unknown assets, another build's version and paths outside the client: problem+json 404s.
    for path in [format!("{prefix}nope.js"), "/assets/0000000000/main.js".to_owned(), "/nope".to_owned()] {
        let reply = get(client, &format!("{base}{path}"), &[]).await;
        assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(reply.headers(), header::CONTENT_TYPE), "application/problem+json", "{path}");
    }
    // The API and the operator endpoints are still where they were.
    assert_eq!(get(client, &format!("{base}/healthz"), &[]).await.status(), StatusCode::OK);
    assert_eq!(get(client, &format!("{base}/api/v1/users/me"), &[]).await.status(), StatusCode::UNAUTHORIZED);
    let document: serde_json::Value = get(client, &format!("{base}/api/openapi.json"), &[]).await.json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.keys().all(|path| path.starts_with("/api/") || path == "/healthz" || path == "/readyz"), "{paths:?}");
}

/// The stylesheet's text and control colours meet WCAG AA in both themes: the pairs and
/// their ratios are in `web/tests/contrast.mjs`, which reads them from `app.css`.
#[test]
fn the_client_colours_meet_wcag_aa_contrast() {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/tests/contrast.mjs");
    let output = match std::process::Command::new("node").arg(&script).output() {
        Ok(output) => output,
        Err(error) => {
            let why = format!("node does not run ({error})");
            crate::helpers::not_run("the_client_colours_meet_wcag_aa_contrast", &why);
            return;
        }
    };
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "colour pairs below WCAG AA:\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("every audited pair meets WCAG AA"), "{report}");
}
