//! The REST API: thin handlers that parse, call a service and map the result.

mod assistant;
mod auth;
mod bots;
mod extract;
mod head_limit;
mod messages;
mod notifications;
mod observe;
mod openapi;
mod ops;
pub mod problem;
mod rooms;
mod search;
mod threads;
mod throttle;
mod uploads;
mod users;
mod web;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::LimitsConfig;
use crate::ratelimit::SharedRateLimit;
use crate::service::{Accounts, Assistant, Messages, Notifications, Readiness, Rooms, Search, Services, Uploads};

pub use extract::{CurrentUser, bearer_token};
pub use head_limit::MAX_HEADER_FIELDS;
pub use observe::metrics_handle;

/// What the router holds. A handler names the handles it uses (`State<Rooms>`), taken
/// from here.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub metrics: PrometheusHandle,
    pub ws: Arc<crate::ws::WsRuntime>,
}

macro_rules! handles_from_state {
    ($($handle:ty => $field:ident),* $(,)?) => {
        $(impl FromRef<AppState> for $handle {
            fn from_ref(state: &AppState) -> Self {
                state.services.$field.clone()
            }
        })*
    };
}

handles_from_state! {
    Accounts => accounts,
    Rooms => rooms,
    Messages => messages,
    Notifications => notifications,
    Search => search,
    Uploads => uploads,
    Assistant => assistant,
    Readiness => readiness,
}

impl FromRef<AppState> for PrometheusHandle {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Palaver", description = "Real-time chat server: REST API (the WebSocket protocol is in docs/protocol.md)."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "bots"), (name = "rooms"), (name = "messages"), (name = "threads"), (name = "search"), (name = "notifications"), (name = "uploads"), (name = "assistant"), (name = "ops"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or a bot's API token (plv_...)")
                    .build(),
            ),
        );
    }
}

/// The whole HTTP surface, with the OpenAPI document generated from these same routes.
pub fn router(state: AppState, limits: &LimitsConfig, upload_max_bytes: u64) -> Router {
    let redis = state.services.redis();
    let auth_limit = Arc::new(throttle::AuthThrottle {
        limit: SharedRateLimit::new("auth", limits.auth_per_sec, limits.auth_burst, redis),
        trusted_proxies: limits.trusted_proxies.clone(),
    });
    let credentials = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .route_layer(axum::middleware::from_fn_with_state(auth_limit, throttle::throttle));
    let v1 = OpenApiRouter::new()
        .merge(credentials)
        .routes(routes!(auth::logout))
        .routes(routes!(users::me))
        .routes(routes!(users::get))
        .routes(routes!(bots::create, bots::list))
        .routes(routes!(bots::delete))
        .routes(routes!(bots::rotate))
        .routes(routes!(rooms::create, rooms::list))
        .routes(routes!(rooms::get, rooms::update, rooms::delete))
        .routes(routes!(rooms::join))
        .routes(routes!(rooms::leave))
        .routes(routes!(rooms::members, rooms::add_member))
        .routes(routes!(rooms::set_role, rooms::remove_member))
        .routes(routes!(rooms::open_dm))
        .routes(routes!(messages::history, messages::post))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(messages::read))
        .routes(routes!(messages::react, messages::unreact))
        .routes(routes!(threads::history))
        .routes(routes!(threads::followed))
        .routes(routes!(threads::read))
        .routes(routes!(search::search))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::mark_read))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(uploads::create))
                // The file's own limit is enforced while it streams; this bounds the rest.
                .layer(DefaultBodyLimit::max((upload_max_bytes + uploads::MULTIPART_OVERHEAD) as usize)),
        )
        .routes(routes!(assistant::list, assistant::create))
        .routes(routes!(assistant::messages, assistant::send))
        .routes(routes!(assistant::rename))
        .routes(routes!(assistant::delete))
        .routes(routes!(assistant::cancel))
        .routes(routes!(assistant::stream_get, assistant::stream_post))
        .routes(routes!(assistant::resume))
        .routes(routes!(uploads::original))
        .routes(routes!(uploads::thumbnail));
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .split_for_parts();
    let doc = openapi::Document::new(doc);

    api.route("/api/v1/ws", axum::routing::get(ws::upgrade))
        .route("/api/openapi.json", axum::routing::get(move || openapi::serve(doc.clone())))
        .route("/metrics", axum::routing::get(ops::metrics))
        // The browser client: outside `/api`, and not in the API document.
        .merge(web::routes())
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.json_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            head_limit::HeadLimit { max_bytes: limits.max_header_bytes },
            head_limit::limit_head,
        ))
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(observe::trace_layer())
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid))
        .with_state(state)
}
