//! Who may store blobs: nobody anonymously; an account that signs for the exact blob and holds
//! funds; an API key of this node; each within an hourly quota.

use crate::*;
use alx_types::{
    Height,
    hash::{Hash, to_hex},
    upload::{UPLOAD_GRANT_HEADER, UploadGrant},
    usage::UsageOp,
};

fn put(
    chain: &Chain,
    hash: &Hash,
    body: &'static [u8],
    headers: &[(&str, String)],
) -> (u16, serde_json::Value) {
    let mut req = reqwest::blocking::Client::new()
        .put(format!("{}/api/blobs/{}", chain.url, to_hex(hash)))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().expect("request");
    (resp.status().as_u16(), resp.json().unwrap_or_default())
}

fn grant(chain: &Chain, from: u64, body: &[u8], expires_in: u64) -> (Hash, (&'static str, String)) {
    let hash = alx_blobs::blake3_hash(body);
    let height = chain.height();
    let chain_id = "alx-test".parse().unwrap();
    let g = UploadGrant::sign(
        &key(from),
        &chain_id,
        hash,
        body.len() as u64,
        Height(height + expires_in),
    );
    (hash, (UPLOAD_GRANT_HEADER, g.to_header()))
}

fn kind(v: &serde_json::Value) -> &str {
    v["error"]["type"].as_str().unwrap_or("<none>")
}

#[test]
fn anonymous_and_unfunded_uploads_store_nothing() {
    let chain = Chain::new();
    let body: &'static [u8] = b"some contribution text";
    let hash = alx_blobs::blake3_hash(body);
    let (status, v) = put(&chain, &hash, body, &[]);
    assert_eq!((status, kind(&v)), (401, "upload_unauthorized"), "{v}");
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/blobs", chain.url))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(chain.get(&format!("/api/blobs/{}", to_hex(&hash))).0, 404, "nothing stored");

    // A stranger with no funds signs properly: refused for want of funds.
    let (_, header) = grant(&chain, 77, body, 100);
    let (status, v) = put(&chain, &hash, body, &[header]);
    assert_eq!((status, kind(&v)), (403, "insufficient_funds"), "{v}");
    // A funded account's grant for other bytes, another chain's, an expired one, one valid for
    // too long: all refused.
    let (_, other) = grant(&chain, 1, b"other bytes", 100);
    assert_eq!(put(&chain, &hash, body, &[other]).0, 401);
    chain.advance_to(5);
    let (_, expired) = grant(&chain, 1, body, 0);
    chain.advance_to(6);
    assert_eq!(put(&chain, &hash, body, &[expired]).0, 401);
    let (_, forever) = grant(&chain, 1, body, alx_types::upload::GRANT_BLOCKS_MAX + 10);
    assert_eq!(put(&chain, &hash, body, &[forever]).0, 401);
    let wrong_chain = UploadGrant::sign(
        &key(1),
        &"alx-other".parse().unwrap(),
        hash,
        body.len() as u64,
        Height(chain.height() + 10),
    );
    assert_eq!(put(&chain, &hash, body, &[(UPLOAD_GRANT_HEADER, wrong_chain.to_header())]).0, 401);
    assert_eq!(chain.get(&format!("/api/blobs/{}", to_hex(&hash))).0, 404, "nothing stored");

    // The funded account's own grant stores it.
    let (_, ok) = grant(&chain, 1, body, 100);
    let (status, v) = put(&chain, &hash, body, &[ok]);
    assert_eq!(status, 201, "{v}");
    assert_eq!(chain.get(&format!("/api/blobs/{}", to_hex(&hash))).0, 200);
    // Anyone's bytes on the explorer's origin: never sniffed, sandboxed if rendered.
    let served =
        reqwest::blocking::get(format!("{}/api/blobs/{}", chain.url, to_hex(&hash))).unwrap();
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(served.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
}

#[test]
fn a_grant_binds_the_size_and_the_quota_bounds_each_uploader() {
    let chain = Chain::new();
    // The grant says 3 bytes; 22 arrive: refused, nothing stored.
    let body: &'static [u8] = b"twenty-two bytes here.";
    let hash = alx_blobs::blake3_hash(body);
    let small = UploadGrant::sign(
        &key(2),
        &"alx-test".parse().unwrap(),
        hash,
        3,
        Height(chain.height() + 10),
    );
    let (status, v) = put(&chain, &hash, body, &[(UPLOAD_GRANT_HEADER, small.to_header())]);
    assert_eq!((status, kind(&v)), (400, "size_mismatch"), "{v}");
    assert_eq!(chain.get(&format!("/api/blobs/{}", to_hex(&hash))).0, 404);

    // The test node allows 1 MiB per uploader per hour: a second 600 KB upload is refused
    // with the seconds to wait, and another account still has its own quota.
    let big =
        |seed: u8| -> &'static [u8] { Box::leak(vec![b'a' + seed; 600 << 10].into_boxed_slice()) };
    let (a, b) = (big(0), big(1));
    let (ha, ga) = grant(&chain, 3, a, 100);
    assert_eq!(put(&chain, &ha, a, &[ga]).0, 201);
    let (hb, gb) = grant(&chain, 3, b, 100);
    // The node answers 429 from the headers, before reading the body, and closes: the client
    // may still be writing it and see a broken pipe instead of the answer. Such a send is
    // retried; the refusal itself must come every time.
    let resp = (0..5)
        .find_map(|_| {
            reqwest::blocking::Client::new()
                .put(format!("{}/api/blobs/{}", chain.url, to_hex(&hb)))
                .header(gb.0, gb.1.clone())
                .body(b)
                .send()
                .ok()
        })
        .expect("an answer within five sends");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let (hb, gb) = grant(&chain, 4, b, 100);
    assert_eq!(put(&chain, &hb, b, &[gb]).0, 201);
}

#[test]
fn an_api_key_of_this_node_may_upload() {
    let chain = Chain::new();
    chain.ok(4, Payload::Usage(UsageOp::Deposit { amount: Amount(10 * ALX) }));
    let secret = "alx-sk-uploader";
    let key_hash = alx_types::hash::sha256(&[secret.as_bytes()]);
    chain.ok(
        4,
        Payload::Usage(UsageOp::CreateApiKey {
            key_hash,
            provider: addr(0),
            allowance: Amount(ALX),
        }),
    );
    let body: &'static [u8] = b"uploaded with an API key";
    let hash = alx_blobs::blake3_hash(body);
    let (status, v) = put(&chain, &hash, body, &[("authorization", format!("Bearer {secret}"))]);
    assert_eq!(status, 201, "{v}");
    // A key for another provider cannot.
    let other = "alx-sk-elsewhere";
    let other_hash = alx_types::hash::sha256(&[other.as_bytes()]);
    chain.ok(
        4,
        Payload::Usage(UsageOp::CreateApiKey {
            key_hash: other_hash,
            provider: addr(1),
            allowance: Amount(ALX),
        }),
    );
    let body2: &'static [u8] = b"another upload";
    let hash2 = alx_blobs::blake3_hash(body2);
    let (status, v) = put(&chain, &hash2, body2, &[("authorization", format!("Bearer {other}"))]);
    assert_eq!((status, kind(&v)), (401, "upload_unauthorized"), "{v}");
    // A key anyone could make for this node with a token allowance does not upload.
    let token = "alx-sk-token";
    let token_hash = alx_types::hash::sha256(&[token.as_bytes()]);
    chain.ok(
        4,
        Payload::Usage(UsageOp::CreateApiKey {
            key_hash: token_hash,
            provider: addr(0),
            allowance: Amount(1),
        }),
    );
    let (status, v) = put(&chain, &hash2, body2, &[("authorization", format!("Bearer {token}"))]);
    assert_eq!((status, kind(&v)), (403, "insufficient_funds"), "{v}");
}
