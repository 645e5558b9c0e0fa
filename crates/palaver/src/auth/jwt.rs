//! HS256 access tokens. The username rides in the token so hot paths (posting, typing)
//! need no user lookup; usernames never change.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: UserId,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // An expired token is expired: clients refresh, the server does not round up.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn issue(&self, user_id: UserId, username: &str, now: time::OffsetDateTime) -> anyhow::Result<String> {
        let iat = now.unix_timestamp();
        let claims = AccessClaims { sub: user_id, name: username.to_owned(), iat, exp: iat + self.ttl_secs as i64 };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// `None` for anything but a valid, unexpired token signed with our secret.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let keys = JwtKeys::new(b"secret-one", 60);
        let id = UserId::generate();
        let token = keys.issue(id, "alice", time::OffsetDateTime::now_utc()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.name.as_str()), (id, "alice"));
        assert!(JwtKeys::new(b"secret-two", 60).verify(&token).is_none());
        assert!(keys.verify("garbage").is_none());
        let old = time::OffsetDateTime::now_utc() - time::Duration::seconds(120);
        assert!(keys.verify(&keys.issue(id, "alice", old).unwrap()).is_none());
    }
}
