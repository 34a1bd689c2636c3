//! The HTTP listener, with a bound on everything a client can hold open.
//!
//! A connection is a file descriptor, and the node's storage needs descriptors too: when idle
//! clients took them all, consensus failed to append to its journal and the node stopped. So
//! every connection counts against two caps, and every phase of a request has a deadline:
//!
//! | limit | config key (`[api]`) | default | on breach |
//! |---|---|---|---|
//! | open connections | `connections_max` | 1024, at most half the descriptor limit / 3 | `503` at once, closed |
//! | open connections from one IP (one /64 for IPv6) | `connections_per_ip_max` | 128 | `503` at once, closed |
//! | request headers (and idle keep-alive) | `header_timeout_secs` | 10 s | closed |
//! | gap between two chunks of a request body | `body_timeout_secs` | 30 s | request fails, closed |
//! | a response the client does not read | `write_timeout_secs` | 30 s without progress | closed |
//!
//! A refused connection is answered with a fixed `503` written in one non-blocking call and
//! closed at once, so shedding costs no task and no lasting descriptor. The node sizes
//! `connections_max` from its descriptor limit ([`descriptor_budget`]): a connection holds up to
//! three descriptors (its socket, and for an upload the staging file twice; for a download the
//! blob's file), so the listener never takes more than half the limit and the other half stays
//! for storage and consensus, whatever HTTP traffic does.
//!
//! Only HTTP/1.1 is served: every client of the API speaks it, and hyper's HTTP/1 header
//! deadline also closes idle keep-alive connections, which a version sniffer could not.

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future as _;
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

/// Bounds on what clients may hold open.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Connections open at once; more are answered `503` and closed.
    pub connections_max: NonZeroUsize,
    /// Connections open at once from one IP address.
    pub connections_per_ip_max: NonZeroUsize,
    /// Longest wait for a request's headers, and for the next request on a kept-alive
    /// connection.
    pub header_timeout: Duration,
    /// Longest gap between two chunks of a request body.
    pub body_timeout: Duration,
    /// Longest a response may wait for the client to read it without any progress.
    pub write_timeout: Duration,
}

/// Counters of the listener, rendered by `/metrics`.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicU64,
    accepted: AtomicU64,
    shed: AtomicU64,
    accept_errors: AtomicU64,
}

impl ConnectionStats {
    /// Connections open now.
    #[must_use]
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused with `503` since start.
    #[must_use]
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Prometheus text of the counters.
    #[must_use]
    pub fn render(&self) -> String {
        let line = |name: &str, kind: &str, help: &str, value: u64| {
            format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n")
        };
        [
            line("alx_api_connections_open", "gauge", "HTTP connections open.", self.open()),
            line(
                "alx_api_connections_accepted_total",
                "counter",
                "HTTP connections accepted and served.",
                self.accepted.load(Ordering::Relaxed),
            ),
            line(
                "alx_api_connections_shed_total",
                "counter",
                "HTTP connections refused with 503 (a connection cap was reached).",
                self.shed(),
            ),
            line(
                "alx_api_accept_errors_total",
                "counter",
                "Failed accepts (descriptors exhausted, or the peer reset first).",
                self.accept_errors.load(Ordering::Relaxed),
            ),
        ]
        .concat()
    }
}

/// Descriptors one connection may hold at once: its socket, and a file or two behind it.
pub const DESCRIPTORS_PER_CONNECTION: u64 = 3;

/// How many connections a listener may hold given the process's descriptor limit `nofile`: at
/// most half of the limit's worth, so that storage, consensus and peers always keep the other
/// half.
#[must_use]
pub fn descriptor_budget(configured: NonZeroUsize, nofile: u64) -> NonZeroUsize {
    let share = usize::try_from(nofile / 2 / DESCRIPTORS_PER_CONNECTION).unwrap_or(usize::MAX);
    configured.min(NonZeroUsize::new(share).unwrap_or(NonZeroUsize::MIN))
}

/// The address a per-IP cap counts: the IP itself, or its /64 for IPv6 (one host commonly holds
/// a whole /64).
fn peer_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// Open connections, in total and per IP address.
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_ip: BTreeMap<IpAddr, usize>,
}

/// A connection's place under the caps; given back when the connection ends.
struct Slot {
    slots: Arc<Mutex<Slots>>,
    stats: Arc<ConnectionStats>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.total = slots.total.saturating_sub(1);
        if let Some(n) = slots.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.per_ip.remove(&self.ip);
            }
        }
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn take_slot(
    slots: &Arc<Mutex<Slots>>,
    stats: &Arc<ConnectionStats>,
    limits: &ServerLimits,
    ip: IpAddr,
) -> Option<Slot> {
    let mut guard = slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let from_ip = guard.per_ip.get(&ip).copied().unwrap_or(0);
    if guard.total >= limits.connections_max.get() || from_ip >= limits.connections_per_ip_max.get()
    {
        return None;
    }
    guard.total += 1;
    guard.per_ip.insert(ip, from_ip + 1);
    stats.open.fetch_add(1, Ordering::Relaxed);
    Some(Slot { slots: slots.clone(), stats: stats.clone(), ip })
}

/// The answer to a connection over a cap: complete, short, and closed after.
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 89\r\n\
\r\n\
{\"error\":{\"type\":\"overloaded\",\"message\":\"too many open connections; retry in a second\"}}\n";

/// Answers `503` in one non-blocking write (a fresh socket's send buffer takes it whole) and
/// closes the connection. What the client already sent is read first where it can be: closing
/// a socket with unread bytes resets it, and the client would not see the answer.
fn shed(stream: &TcpStream) {
    let _ = stream.try_write(SHED_RESPONSE);
    let mut sink = [0u8; 4096];
    let _ = stream.try_read(&mut sink);
}

/// Serves `router` on `listener` under `limits` until the listener fails for good (it does
/// not on descriptor exhaustion: accepting pauses briefly and resumes).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stats: Arc<ConnectionStats>,
) -> std::io::Result<()> {
    let slots = Arc::new(Mutex::new(Slots::default()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or a connection reset before it was accepted): wait for
                // connections to close instead of spinning on the error.
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(err = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = take_slot(&slots, &stats, &limits, peer_group(peer.ip())) else {
            stats.shed.fetch_add(1, Ordering::Relaxed);
            shed(&stream);
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let router = router.clone();
        tokio::spawn(serve_connection(stream, peer, router, limits, slot));
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServerLimits,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // A body that stops arriving fails the request after `body_timeout` of silence.
        let mut request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let stream = WriteDeadline::new(stream, limits.write_timeout);
    let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
    if let Err(e) = connection.await {
        tracing::debug!(%peer, err = %e, "connection ended with an error");
    }
    drop(slot);
}

/// A socket whose writes fail once they made no progress for `limit`: a client that stops
/// reading a response (a blob, an event stream) cannot hold its connection forever.
struct WriteDeadline {
    inner: TcpStream,
    limit: Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    const fn new(inner: TcpStream, limit: Duration) -> Self {
        Self { inner, limit, stalled: None }
    }

    /// After the inner write returned `Pending`: an error once the stall lasted `limit`.
    fn stall(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Error> {
        let limit = self.limit;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl tokio::io::AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, buf) {
            std::task::Poll::Pending => self.stall(cx).map(Err),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.inner).poll_flush(cx) {
            std::task::Poll::Pending => self.stall(cx).map(Err),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_descriptors_at_most() {
        let n = |v| NonZeroUsize::new(v).unwrap();
        assert_eq!(descriptor_budget(n(1024), 1024), n(170));
        assert_eq!(descriptor_budget(n(1024), 1 << 20), n(1024));
        assert_eq!(descriptor_budget(n(1024), 1), n(1));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(peer_group(a), peer_group(b), "one /64 is one peer");
        assert_ne!(peer_group(a), peer_group(other));
        let v4: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(peer_group(v4), v4);
        assert!(SHED_RESPONSE.ends_with(b"\n"));
        let body_at = SHED_RESPONSE.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(SHED_RESPONSE.len() - body_at, 89, "content-length matches the body");
    }
}
