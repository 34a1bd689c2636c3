//! The listener's bounds: idle and half-sent requests cannot hold connections open, a client
//! over a cap gets `503` at once, and bodies over the limit get `413` on every JSON endpoint.

use crate::*;
use alx_types::Height;
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
    write_timeout: Duration::from_secs(1),
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

/// A client that asks for responses and never reads them cannot hold its connection: the
/// writes that stall past the write deadline close it.
#[test]
fn a_client_that_stops_reading_is_cut_off() {
    use alx_types::upload::{UPLOAD_GRANT_HEADER, UploadGrant};
    let chain = Chain::with_limits(TIGHT);
    // A blob of 900 KB, stored by a funded account.
    let body: Vec<u8> = (0..900_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let hash = alx_blobs::blake3_hash(&body);
    let grant = UploadGrant::sign(
        &key(1),
        &"alx-test".parse().unwrap(),
        hash,
        body.len() as u64,
        Height(10),
    );
    let resp = reqwest::blocking::Client::new()
        .put(format!("{}/api/blobs/{}", chain.url, alx_types::hash::to_hex(&hash)))
        .header(UPLOAD_GRANT_HEADER, grant.to_header())
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    // Forty pipelined downloads (36 MB), never read: far more than the socket buffers hold.
    let mut s = connect(&chain.url);
    let get =
        format!("GET /api/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\n", alx_types::hash::to_hex(&hash));
    for _ in 0..40 {
        s.write_all(get.as_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_secs(4));
    // The server gave up: what it managed to send is there, then the end.
    let started = Instant::now();
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(started.elapsed() < Duration::from_secs(9), "the connection stayed open");
    assert!(received < 40 * body.len(), "{received} bytes: everything was sent?");
    let (status, _) = chain.get("/api/status");
    assert_eq!(status, 200);
}
