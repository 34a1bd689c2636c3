use crate::*;
use alx_types::{Address, Amount, Transaction, tx::Payload};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

fn post(url: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(serde_json::Value::Null))
}

fn error_type(v: &serde_json::Value) -> &str {
    v["error"]["type"].as_str().unwrap_or("<none>")
}

/// Hostile requests get a 4xx with a stable `error.type`, and nothing is admitted.
#[test]
fn api_refuses_bad_input_with_stable_error_types_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let txs = format!("{}/api/txs", node.api);
    let sign = |chain: &str, nonce: u64, key: &PrivateKey| {
        let tx = Transaction {
            chain_id: chain.parse().unwrap(),
            sender: Address::from_public_key(&key.public_key()),
            nonce,
            fee: Amount(1_000),
            payload: Payload::Transfer {
                to: Address::from_public_key(&PrivateKey::from_seed(1).public_key()),
                amount: Amount(1),
            },
        }
        .sign(key);
        hex::encode(tx.to_bytes())
    };
    let stranger = PrivateKey::from_seed(77);

    let check = |body: &str, status: u16, kind: &str| {
        let (got_status, v) = post(&txs, body);
        assert_eq!((got_status, error_type(&v)), (status, kind), "{body:.80}: {v}");
    };
    check("{not json", 400, "bad_request");
    check(r#"{"tx": "zz"}"#, 400, "bad_request");
    check(r#"{"tx": "00", "extra": 1}"#, 400, "bad_request");
    check(&format!(r#"{{"tx": "{}"}}"#, "ab".repeat(2048)), 400, "bad_request");
    check(&format!(r#"{{"tx": "{}"}}"#, sign("alx-other", 0, &stranger)), 422, "wrong_chain_id");
    // An unfunded sender cannot pay the fee.
    check(&format!(r#"{{"tx": "{}"}}"#, sign("alx-dev", 0, &stranger)), 422, "insufficient_fee");
    // A forged signature: the bytes of one transaction with another's signature.
    let mut forged = hex::decode(sign("alx-dev", 0, &stranger)).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    check(&format!(r#"{{"tx": "{}"}}"#, hex::encode(forged)), 422, "bad_signature");
    // A body declared over the limit is refused before any of it is sent (the client waits for
    // `100 Continue`, as curl does for large bodies).
    {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(node.api.trim_start_matches("http://")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /api/txs/batch HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
            9 << 20
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("\"payload_too_large\""), "{answer}");
    }

    // The binary endpoint: garbage and trailing bytes refused, refusals listed by index.
    let raw = |body: Vec<u8>| {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/api/txs/raw", node.api))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json::<serde_json::Value>().unwrap_or_default())
    };
    assert_eq!(error_type(&raw(vec![0xff, 0xff, 0xff]).1), "bad_request");
    let one = hex::decode(sign("alx-dev", 0, &stranger)).unwrap();
    let mut list = vec![1u8];
    list.extend_from_slice(&one);
    let (status, v) = raw(list.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 0);
    assert_eq!(v["rejected"][0]["error"]["type"], "insufficient_fee");
    list.push(0);
    assert_eq!(error_type(&raw(list).1), "bad_request");

    let get = |path: &str| {
        let resp = reqwest::blocking::get(format!("{}{path}", node.api)).unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().unwrap_or_default())
    };
    assert_eq!(get("/api/nope").0, 404);
    assert_eq!(error_type(&get("/api/blocks/xyz").1), "bad_request");
    assert_eq!(error_type(&get("/api/blocks/999999").1), "not_found");
    assert_eq!(error_type(&get("/api/accounts/alx1qqqq").1), "bad_request");
    assert_eq!(error_type(&get(&format!("/api/txs/{}", "0".repeat(64))).1), "not_found");
    assert_eq!(node.client().status().unwrap().mempool_size, 0, "nothing was admitted");
    let metrics = reqwest::blocking::get(format!("{}/metrics", node.api)).unwrap().text().unwrap();
    assert!(metrics.contains("alx_chain_height_blocks"));
    let spec = get("/api/openapi.json").1;
    assert_eq!(spec["openapi"], "3.1.0");
}
