//! Operator endpoints: health, readiness, the OpenAPI document and metrics, all without a
//! token.

use serde_json::json;

use crate::helpers::TestApp;

both_backends!(health_and_readiness_answer_200, the_openapi_document_describes_the_api, metrics_count_http_requests,);

async fn health_and_readiness_answer_200(app: TestApp) {
    app.get_root("/healthz").await.expect_status_in(&[200]);
    // Each check by name, so a monitor sees which dependency is down (the outage test
    // sees `database` go `unavailable`).
    let report = app.get_root("/readyz").await.expect_status(200);
    assert_eq!(report, json!({"status": "ok", "checks": {"database": "ok", "broker": "ok", "writers": "ok"}}));
}

async fn the_openapi_document_describes_the_api(app: TestApp) {
    let reply = app.get_root("/api/openapi.json").await;
    let document = reply.expect_status(200);
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version:?}");
    let paths = document["paths"].as_object().expect("the document has paths");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/users/me",
        "/api/v1/rooms",
        "/api/v1/rooms/{id}",
        "/api/v1/rooms/{id}/messages",
        "/api/v1/dms",
        "/api/v1/notifications",
    ] {
        assert!(paths.contains_key(path), "{path} is documented; paths: {:?}", paths.keys());
    }
    let post = &document["paths"]["/api/v1/rooms/{id}/messages"]["post"];
    assert!(post.is_object(), "POST /rooms/{{id}}/messages is documented");
}

async fn metrics_count_http_requests(app: TestApp) {
    app.register("alice").await;
    app.get_root("/healthz").await.expect_status_in(&[200]);

    let reply = app.get_root("/metrics").await;
    reply.expect_status_in(&[200]);
    assert!(reply.content_type().starts_with("text/plain"), "Prometheus text, got {:?}", reply.content_type());
    assert!(reply.text.contains("palaver_http_requests_total"), "{}", reply.text);
    let sample = reply
        .text
        .lines()
        .find(|line| line.starts_with("palaver_http_requests_total"))
        .expect("a palaver_http_requests_total sample");
    let value: f64 = sample.rsplit(' ').next().unwrap().parse().expect("a numeric sample");
    assert!(value >= 1.0, "{sample}");
}
