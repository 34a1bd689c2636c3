//! The listener's bounds: idle and half-sent requests cannot hold connections open, a client
//! over a cap gets `503` at once, and bodies over the limit get `413` on every JSON endpoint.

use crate::*;
use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    num::NonZeroUsize,
    time::{Duration, Instant},
};

const TIGHT: alx_api::ServerLimits = alx_api::ServerLimits {
    connections_max: NonZeroUsize::new(8).expect("positive"),
    connections_per_ip_max: NonZeroUsize::new(4).expect("positive"),
    header_timeout: Duration::from_secs(1),
    body_timeout: Duration::from_secs(1),
};

fn connect(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
}

/// Everything the server sends until it closes the connection (or the read times out).
fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn half_sent_headers_are_dropped_and_extra_connections_shed() {
    let chain = Chain::with_limits(TIGHT);
    // Four clients (the per-IP cap) start a request and never finish its headers.
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&chain.url);
            s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n").expect("writes");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fifth is over the cap: answered 503 and closed, at once.
    let started = Instant::now();
    let mut extra = connect(&chain.url);
    let answer = read_all(&mut extra);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("\"overloaded\""), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "shedding waited");

    // The header deadline closes the idle ones, which frees their places.
    for s in &mut idle {
        let started = Instant::now();
        let rest = read_all(s);
        assert!(started.elapsed() < Duration::from_secs(5), "an idle connection stayed open");
        assert!(!rest.starts_with("HTTP/1.1 200"), "{rest:?}");
    }
    let (status, body) = chain.get("/api/status");
    assert_eq!(status, 200, "{body}");
    let text = reqwest::blocking::get(format!("{}/metrics", chain.url)).unwrap().text().unwrap();
    let shed: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("alx_api_connections_shed_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the shed counter is exported");
    assert!(shed >= 1, "{text}");
}

#[test]
fn a_stalled_body_fails_the_request_and_frees_the_connection() {
    let chain = Chain::with_limits(TIGHT);
    let mut s = connect(&chain.url);
    s.write_all(
        b"POST /api/txs HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"tx\":",
    )
    .expect("writes");
    let started = Instant::now();
    let answer = read_all(&mut s);
    assert!(started.elapsed() < Duration::from_secs(5), "the stalled body held the connection");
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer:?}");
}

/// Bodies over the limit get `413` with a stable type. The client announces the body and waits
/// (`Expect: 100-continue`, as curl does for large bodies) so the answer comes before any byte
/// of it, whatever the machine's load: a server that answers mid-upload resets the connection.
#[test]
fn every_json_endpoint_answers_413_over_the_limit() {
    let chain = Chain::new();
    for path in ["/api/attribution", "/api/txs", "/api/txs/batch"] {
        let mut s = connect(&chain.url);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
            10 << 20
        );
        s.write_all(head.as_bytes()).expect("writes");
        let answer = read_all(&mut s);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer:?}");
        assert!(answer.contains("\"payload_too_large\""), "{path}: {answer:?}");
    }
}
