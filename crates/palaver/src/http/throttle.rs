//! Per-address rate limit for the credential endpoints (register, login, refresh), so
//! passwords cannot be guessed at line rate. 429 with `Retry-After` when exceeded.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use crate::error::Error;
use crate::ratelimit::SharedRateLimit;

/// The auth budget, and whose word on a client's address is believed.
pub struct AuthThrottle {
    pub limit: SharedRateLimit<IpAddr>,
    pub trusted_proxies: Vec<IpAddr>,
}

pub async fn throttle(State(throttle): State<Arc<AuthThrottle>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = client_address(peer, request.headers(), &throttle.trusted_proxies);
        if let Err(wait) = throttle.limit.try_take(client).await {
            return ApiError::from(Error::RateLimited { retry_after: wait }).into_response();
        }
    }
    next.run(request).await
}

/// The peer, unless it is a trusted proxy: then the nearest address in `X-Forwarded-For`
/// (read from the right, the hops our proxies appended) that is not a trusted proxy. A
/// header that does not parse, or holds only proxies, leaves the peer's address.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = hops.flat_map(|v| v.split(',')).collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let forged = headers(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(client_address(client, &forged, &[proxy]), client, "an untrusted peer's header is ignored");
        assert_eq!(client_address(proxy, &forged, &[]), proxy, "nobody is trusted by default");
        // The client may forge the left part; the hop our proxy appended is the right one.
        assert_eq!(client_address(proxy, &forged, &[proxy]), client);
        let two_proxies: IpAddr = "10.0.0.2".parse().unwrap();
        let chained = headers(&["203.0.113.7", "10.0.0.2"]);
        assert_eq!(client_address(proxy, &chained, &[proxy, two_proxies]), client);
        assert_eq!(client_address(proxy, &headers(&["garbage"]), &[proxy]), proxy);
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }
}
