//! The accept loop: HTTP/1.1 connections served by hyper with the limits a public server
//! needs, which `axum::serve` does not set. A client has a bounded time to send its request
//! headers (slowloris), open connections are capped (an upgraded WebSocket keeps its place
//! until it closes), and accept errors back off instead of spinning.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::backoff::Backoff;
use crate::http::MAX_HEADER_FIELDS;

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time to send a request's headers, and the most a keep-alive connection idles.
    pub header_read_timeout: Duration,
    /// Open connections at most; the next ones wait in the listen backlog.
    pub max_connections: usize,
}

/// hyper answers a bare 431 (no problem+json) past its own header count; set well above
/// ours so that only heads nobody sends by accident reach it. Its buffer (about 400 KiB)
/// is already above the largest `limits.max_header_bytes`.
const HYPER_MAX_HEADERS: usize = 4 * MAX_HEADER_FIELDS;

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish and closes idle connections. Upgraded connections are the
/// WebSocket runtime's to close.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_headers(HYPER_MAX_HEADERS);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut accept_errors = AcceptErrors::default();
    let mut full = false;
    tokio::pin!(shutdown);

    loop {
        // Take a slot before accepting: at the cap, new connections queue in the kernel's
        // backlog (and are served as slots free up) instead of costing a descriptor each.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !full {
                    full = true;
                    tracing::warn!(max = limits.max_connections, "connection limit reached; new connections wait");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => slot.expect("the connection semaphore is never closed"),
                }
            }
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept_errors.accept(&listener) => accepted,
        };
        // Logged again only once well below the cap, not each time a slot frees up.
        if full && slots.available_permits() >= (limits.max_connections / 10).max(1) {
            full = false;
            tracing::info!("well below the connection limit again");
        }
        let http = http.clone();
        let router = router.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            serve_connection(http, stream, remote, slot, router, stopping).await;
        });
    }

    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    http: hyper::server::conn::http1::Builder,
    stream: TcpStream,
    remote: SocketAddr,
    slot: OwnedSemaphorePermit,
    router: Router,
    stopping: CancellationToken,
) {
    // Chat frames are small and latency-bound: never let Nagle hold one back.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let io = TokioIo::new(Slotted { stream, _slot: slot });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let connection = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    // Timeouts, resets and malformed requests are the client's business, not the log's.
    if let Err(e) = result {
        tracing::debug!(error = %e, %remote, "connection ended with an error");
    }
}

/// A connection's stream with its slot: the slot is given back when the stream is dropped,
/// which for a WebSocket is when the socket closes, not when the upgrade completes.
struct Slotted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Accepting with a back-off: when accept fails for want of resources (descriptors,
/// memory), retrying at once would only spin. Logged once per burst of failures.
struct AcceptErrors {
    backoff: Backoff,
}

impl Default for AcceptErrors {
    fn default() -> Self {
        // 10 ms, doubling to at most 1 s.
        Self { backoff: Backoff::new(Duration::from_millis(10), Duration::from_secs(1)) }
    }
}

impl AcceptErrors {
    async fn accept(&mut self, listener: &TcpListener) -> (TcpStream, SocketAddr) {
        loop {
            match listener.accept().await {
                Ok(accepted) => {
                    let failures = self.backoff.reset();
                    if failures > 0 {
                        tracing::info!(failures, "accepting connections again");
                    }
                    return accepted;
                }
                // The peer gave up before we accepted: nothing is wrong on this side.
                Err(e) if is_peer_error(&e) => continue,
                Err(e) => {
                    if self.backoff.streak() == 0 {
                        tracing::warn!(error = %e, "cannot accept connections; backing off until it works again");
                    }
                    tokio::time::sleep(self.backoff.failed()).await;
                }
            }
        }
    }
}

fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}
