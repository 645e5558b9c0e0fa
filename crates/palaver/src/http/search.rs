use axum::extract::State;
use palaver_protocol::{SearchPage, SearchQuery};

use super::extract::{CurrentUser, Query};
use super::openapi::{QueryString, Unauthorized, Unavailable};
use super::problem::ApiError;
use crate::service::Search;

/// Messages of the rooms the caller is in now, matching `q`: newest first, or densest.
/// A `q` that does not parse is a 422 whose `errors` say why.
#[utoipa::path(get, path = "/search", tag = "search", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchPage), Unauthorized, QueryString, Unavailable))]
pub async fn search(
    State(search): State<Search>,
    CurrentUser(caller): CurrentUser,
    Query(query): Query<SearchQuery>,
) -> Result<axum::Json<SearchPage>, ApiError> {
    Ok(axum::Json(search.search(&caller, query).await?))
}
