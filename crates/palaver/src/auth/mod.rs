//! Credentials: password hashing, access tokens (JWT) and refresh tokens.

pub mod jwt;
pub mod password;
pub mod refresh;
pub mod secret;

pub use jwt::{AccessClaims, JwtKeys};
