//! Extractors whose rejections are problem+json, and `CurrentUser` (with `Signed`, its first half).

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

use super::problem::ApiError;
use crate::error::Error;
use crate::service::{Accounts, Caller, SignedCaller};

/// A JSON object body as `T`. Through `axum::Json` alone serde would also read a struct from
/// an array of its fields in order (`PATCH /rooms/{id}` with `[null, null]` was a no-op 200),
/// which no request body of the contract is.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(Object(value)) = axum::Json::<Object<T>>::from_request(request, state).await?;
        Ok(Json(value))
    }
}

/// `T`, read only from a JSON object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The authenticated caller, from `Authorization: Bearer <access token or API token>` of an
/// existing, enabled account; 401 otherwise.
pub struct CurrentUser(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(Error::Unauthorized("missing bearer token"))?;
        Ok(CurrentUser(Accounts::from_ref(state).authenticate(token).await?))
    }
}

/// The caller of a valid access token whose account is not looked up yet: the handler
/// must have the service check it (beside its own reads) before acting. A bad token is 401
/// here, as with [`CurrentUser`].
pub struct Signed(pub SignedCaller);

impl<S: Send + Sync> FromRequestParts<S> for Signed
where
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(Error::Unauthorized("missing bearer token"))?;
        Ok(Signed(Accounts::from_ref(state).verify_bearer(token).await?))
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}
