//! Signed URLs: `<img src>` cannot send an `Authorization` header, so an attachment's URLs
//! carry their own proof, an HMAC over (upload id, variant, expiry) keyed from the server
//! secret. Expiries are rounded up to a step of a quarter of the lifetime, so the URLs a
//! client receives stay the same for a while and its browser cache keeps working.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::blobs::Variant;
use crate::domain::UploadId;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the URL's signature is not valid")]
    Invalid,
    #[error("the URL has expired")]
    Expired,
}

#[derive(Clone)]
pub struct UrlSigner {
    /// Derived from the server secret, so a signature cannot be replayed as a JWT or the
    /// other way round.
    key: [u8; 32],
    ttl_secs: i64,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl UrlSigner {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut derive = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
        derive.update(b"palaver signed upload urls v1");
        Self { key: derive.finalize().into_bytes().into(), ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2) }
    }

    /// The path (under the server's origin) that serves `variant` of `id` until at least
    /// `now` plus the lifetime.
    pub fn url(&self, id: UploadId, variant: Variant, now: OffsetDateTime) -> String {
        let expires = self.expiry(now);
        let signature = self.sign(id, variant, expires);
        let path = match variant {
            Variant::Original => format!("/api/v1/uploads/{id}"),
            Variant::Thumbnail => format!("/api/v1/uploads/{id}/thumbnail"),
        };
        format!("{path}?expires={expires}&signature={signature}")
    }

    /// Checks a URL's `expires` and `signature` for `variant` of `id`.
    pub fn verify(
        &self,
        id: UploadId,
        variant: Variant,
        expires: i64,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        let given = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SignatureError::Invalid)?;
        // Constant-time comparison: the check must not tell how much of a guess was right.
        self.mac(id, variant, expires).verify_slice(&given).map_err(|_| SignatureError::Invalid)?;
        if expires < now.unix_timestamp() { Err(SignatureError::Expired) } else { Ok(()) }
    }

    /// Seconds from `now` until the URLs signed at `now` expire, for `Cache-Control`.
    pub fn expiry(&self, now: OffsetDateTime) -> i64 {
        let step = (self.ttl_secs / 4).max(1);
        let at_least = now.unix_timestamp().saturating_add(self.ttl_secs);
        at_least.div_euclid(step).saturating_add(1).saturating_mul(step)
    }

    fn sign(&self, id: UploadId, variant: Variant, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(id, variant, expires).finalize().into_bytes())
    }

    fn mac(&self, id: UploadId, variant: Variant, expires: i64) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(format!("{id}\n{}\n{expires}", variant.as_str()).as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v.to_owned(),
                other => panic!("unexpected {other:?}"),
            }
        }
        (expires, signature)
    }

    #[test]
    fn a_url_verifies_for_its_upload_and_variant_only() {
        let signer = UrlSigner::new(b"a server secret of some length", 3600);
        let now = OffsetDateTime::now_utc();
        let id = UploadId::generate();
        let (expires, signature) = parts(&signer.url(id, Variant::Original, now));
        assert!(expires >= now.unix_timestamp() + 3600 && expires < now.unix_timestamp() + 3600 + 901);
        assert_eq!(signer.verify(id, Variant::Original, expires, &signature, now), Ok(()));
        let refused = Err(SignatureError::Invalid);
        assert_eq!(signer.verify(id, Variant::Thumbnail, expires, &signature, now), refused);
        assert_eq!(signer.verify(UploadId::generate(), Variant::Original, expires, &signature, now), refused);
        assert_eq!(signer.verify(id, Variant::Original, expires + 1, &signature, now), refused);
        assert_eq!(signer.verify(id, Variant::Original, expires, "AAAA", now), refused);
        assert_eq!(signer.verify(id, Variant::Original, expires, "not base64!", now), refused);
        let other = UrlSigner::new(b"another server secret entirely", 3600);
        assert_eq!(other.verify(id, Variant::Original, expires, &signature, now), refused);
        let later = now + time::Duration::seconds(expires - now.unix_timestamp() + 1);
        assert_eq!(signer.verify(id, Variant::Original, expires, &signature, later), Err(SignatureError::Expired));
    }

    #[test]
    fn urls_stay_the_same_within_a_step() {
        let signer = UrlSigner::new(b"a server secret of some length", 3600);
        let id = UploadId::generate();
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let same = signer.url(id, Variant::Thumbnail, start);
        assert_eq!(signer.url(id, Variant::Thumbnail, start + time::Duration::seconds(200)), same);
        assert_ne!(signer.url(id, Variant::Thumbnail, start + time::Duration::seconds(900)), same);
    }
}
