use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::{Dependencies, Dependency, Readiness, Writers};
use metrics_exporter_prometheus::PrometheusHandle;

#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "the process is up", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` answers: the verdict and each check.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessReport {
    /// `ok` when every check is `ok`.
    status: ReadinessStatus,
    checks: ReadinessChecks,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReadinessStatus {
    Ok,
    Degraded,
}

#[derive(Debug, Serialize, ToSchema)]
struct ReadinessChecks {
    database: DependencyCheck,
    broker: DependencyCheck,
    /// The tasks that store and publish room events.
    writers: WritersCheck,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum DependencyCheck {
    Ok,
    Unavailable,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum WritersCheck {
    Ok,
    Stopped,
}

impl From<Dependencies> for ReadinessReport {
    fn from(r: Dependencies) -> Self {
        let dependency = |d| match d {
            Dependency::Ok => DependencyCheck::Ok,
            Dependency::Unavailable => DependencyCheck::Unavailable,
        };
        let writers = match r.writers {
            Writers::Running => WritersCheck::Ok,
            Writers::Stopped => WritersCheck::Stopped,
        };
        let status = if r.is_ready() { ReadinessStatus::Ok } else { ReadinessStatus::Degraded };
        Self {
            status,
            checks: ReadinessChecks { database: dependency(r.database), broker: dependency(r.broker), writers },
        }
    }
}

#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "every check is ok", body = ReadinessReport),
              (status = 503, description = "a check failed; the body says which", body = ReadinessReport)))]
pub async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, axum::Json<ReadinessReport>) {
    let readiness = readiness.check().await;
    let status = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(readiness.into()))
}

pub async fn metrics(State(metrics): State<PrometheusHandle>) -> impl IntoResponse {
    metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
}
