//! The adversarial suite: a real node on loopback, attacked the ways issue 13 found that broke
//! it, checked afterwards for being alive, exact supply, and no answer served unpaid. Run alone
//! with `cargo nextest run -p alx-cli --profile ci -E 'test(/adversarial/)'`.

use crate::*;
use alx_types::{
    Address, Amount, Transaction,
    datanet::{ContentRef, DatanetId, DatanetOp, MediaType},
    tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{io::Write as _, net::TcpStream};

fn key_address(home: &std::path::Path, key: &str) -> Address {
    let out = alx(home, "http://127.0.0.1:1", &["keys", "show", key]);
    json(&out)["address"].as_str().unwrap().parse().unwrap()
}

/// Runs `alx up` under a descriptor limit of `nofile` (soft and hard, so the node cannot raise
/// it), the way a default `ulimit -n` of 1024 would hold it, only tighter.
fn node_with_nofile(home: &std::path::Path, nofile: u32) -> Node {
    let (api_port, p2p_port) = (free_port(), free_port());
    let alx = env!("CARGO_BIN_EXE_alx");
    let script = format!(
        "ulimit -n {nofile} && exec {alx} --home {} up --api-addr 127.0.0.1:{api_port} --p2p-port {p2p_port} --no-sample",
        home.display()
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("ALX_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("sh starts");
    let node = Node { child, api: format!("http://127.0.0.1:{api_port}") };
    node.wait_height(1, Duration::from_secs(90));
    node
}

/// Before the listener had caps and deadlines, ~1,000 connections that sent half a request
/// header exhausted the node's descriptors, consensus failed to write its journal, and the
/// node exited. Here 600 such connections meet a limit of 256 descriptors: the node sheds what
/// it cannot hold, keeps finalizing, and serves again once the idle ones time out.
#[test]
fn adversarial_idle_connection_flood_slow() {
    let home = tempfile::tempdir().unwrap();
    let mut node = node_with_nofile(home.path(), 256);
    let addr = node.api.trim_start_matches("http://").to_owned();
    let start_height = node.client().status().unwrap().height.0;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..600 {
        match TcpStream::connect(&addr) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n");
                held.push(s);
            }
            Err(_) => refused += 1,
        }
    }
    // Consensus goes on while the flood is held open.
    std::thread::sleep(Duration::from_secs(3));
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited under the flood");
    drop(held);
    node.wait_height(start_height + 3, Duration::from_secs(30));
    let metrics = reqwest::blocking::get(format!("{}/metrics", node.api)).unwrap().text().unwrap();
    let shed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("alx_api_connections_shed_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("the shed counter is exported");
    assert!(shed + refused > 0, "600 connections fit under 256 descriptors?");
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited");
}

/// A key of the tests', funded by alice through the CLI, that signs raw transactions the CLI
/// would refuse to build.
fn funded_stranger(home: &std::path::Path, node: &Node, seed: u64) -> PrivateKey {
    let key = PrivateKey::from_seed(seed);
    let address = Address::from_public_key(&key.public_key()).to_string();
    json(&alx(
        home,
        &node.api,
        &["transfer", "--from", "alice", "--to", &address, "--amount", "100"],
    ));
    key
}

/// Signs `payload` from `key` at its next nonce.
fn sign(node: &Node, key: &PrivateKey, payload: Payload) -> alx_types::SignedTx {
    let client = node.client();
    let sender = Address::from_public_key(&key.public_key());
    let status = client.status().unwrap();
    let nonce = client.account(&sender, false).unwrap().account.nonce;
    Transaction { chain_id: status.chain_id, sender, nonce, fee: Amount(1_000), payload }.sign(key)
}

/// Signs `payload`, submits it by the raw endpoint (the way a peer's gossip arrives: no
/// courtesy checks), and waits for its receipt.
fn send_raw(node: &Node, key: &PrivateKey, payload: Payload) -> alx_types::api::TxResponse {
    let client = node.client();
    let tx = sign(node, key, payload);
    let sent = client.submit_raw(std::slice::from_ref(&tx)).unwrap();
    assert_eq!(sent.accepted, 1, "{:?}", sent.rejected);
    client.wait_for_tx(&alx_types::hash::to_hex(&tx.hash()), Duration::from_secs(30)).unwrap()
}

/// Sends request headers (with `Expect: 100-continue`, so nothing of the body goes before the
/// answer) and returns the answer.
fn announce(api: &str, head: &str) -> String {
    use std::io::Read as _;
    let mut s = TcpStream::connect(api.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn supply_is_balanced(node: &Node) {
    let audit: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(audit["balanced"], true, "supply drifted: {audit}");
}

/// Anonymous writes, weak keys, data nobody holds, lying sizes: each refused, nothing frozen,
/// the supply exact.
#[test]
fn adversarial_writes_keys_and_data_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = Node::up(h, free_port(), free_port());
    let ok = |args: &[&str]| json(&alx(h, &node.api, args));

    // 1. An anonymous 180 MB upload is refused before a byte of it is read.
    let answer = announce(
        &node.api,
        "POST /api/blobs HTTP/1.1\r\nHost: x\r\ncontent-length: 188743680\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("upload_unauthorized"), "{answer}");

    // 2. The all-zero key "signing" with 64 zero bytes; a transfer to bytes that are no key.
    let zero = Address([0u8; 32]);
    let status = node.client().status().unwrap();
    // The transaction from the zero address, with its 64 signature bytes zeroed.
    let mut forged = Transaction {
        chain_id: status.chain_id,
        sender: zero,
        nonce: 0,
        fee: Amount(1_000),
        payload: Payload::Transfer { to: key_address(h, "bob"), amount: Amount(1) },
    }
    .sign(&PrivateKey::from_seed(1))
    .to_bytes()
    .to_vec();
    let at = forged.len() - 64;
    forged[at..].fill(0);
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/txs", node.api))
        .json(&serde_json::json!({"tx": hex::encode(&forged)}))
        .send()
        .unwrap();
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["type"], "bad_signature", "{body}");
    let stranger = funded_stranger(h, &node, 900);
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    let sent = send_raw(
        &node,
        &stranger,
        Payload::Transfer { to: Address(not_a_point), amount: Amount(5) },
    );
    assert_eq!(sent.receipt.error, Some(alx_types::ErrorCode::BadAddress));
    let out = alx(
        h,
        &node.api,
        &[
            "transfer",
            "--from",
            "alice",
            "--to",
            &Address(alx_types::strict::SMALL_ORDER_ENCODINGS[0]).to_string(),
            "--amount",
            "1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"), "the CLI refuses it first");

    // 3. Data nobody holds, offered to an open datanet, never freezes it.
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "open",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let ghost = ContentRef {
        hash: alx_blobs::blake3_hash(b"nobody has this"),
        size: 15,
        media_type: MediaType::Text,
    };
    let sent = send_raw(
        &node,
        &stranger,
        Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content: ghost }),
    );
    assert_eq!(sent.receipt.error, None);
    let doc = h.join("real.md");
    std::fs::write(&doc, "Coins in Move are resources that cannot be copied or dropped.").unwrap();
    let real = ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    assert_eq!(real[0]["status"], "approved", "{real}");
    ok(&["datanet", "version", "0", "--from", "alice"]);
    wait_until("version 1 indexed", Duration::from_secs(30), || {
        ok(&["datanet", "show", "0"])["indexed_version"] == 1
    });
    let shown = ok(&["datanet", "show", "0", "--status", "awaiting-data"]);
    assert_eq!(shown["contributions"][0]["id"], 0, "{shown}");
    assert!(shown["contributions"][0]["data_due_at"].as_u64().is_some(), "{shown}");
    ok(&["datanet", "remove", "0", "0", "--from", "alice"]);
    let shown = ok(&["datanet", "show", "0", "--status", "removed"]);
    assert_eq!(shown["contributions"][0]["id"], 0, "{shown}");

    // 4. Declared sizes are checked against the bytes: 180 KB declared as 10, 22 bytes as 64 MiB.
    let bytes_before = ok(&["datanet", "show", "0"])["datanet"]["approved_bytes"].clone();
    let big = "a quokka vault holds coins. ".repeat(6_500);
    let big_file = h.join("big.txt");
    std::fs::write(&big_file, &big).unwrap();
    let stored = ok(&["blob", "put", big_file.to_str().unwrap(), "--from", "bob"]);
    let hash = alx_types::hash::parse_hex(stored["hash"].as_str().unwrap()).unwrap();
    let small = h.join("small.txt");
    std::fs::write(&small, "twenty-two bytes here.").unwrap();
    let stored = ok(&["blob", "put", small.to_str().unwrap(), "--from", "bob"]);
    let small_hash = alx_types::hash::parse_hex(stored["hash"].as_str().unwrap()).unwrap();
    for (hash, declared) in [(hash, 10), (small_hash, 64 << 20)] {
        let content = ContentRef { hash, size: declared, media_type: MediaType::Text };
        let sent = send_raw(
            &node,
            &stranger,
            Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content }),
        );
        assert_eq!(sent.receipt.error, None);
    }
    wait_until("the lies refused", Duration::from_secs(30), || {
        ok(&["datanet", "show", "0", "--status", "refused"])["contributions"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
    });
    let refused = ok(&["datanet", "show", "0", "--status", "refused"]);
    for c in refused["contributions"].as_array().unwrap() {
        assert_eq!(c["refusal"]["reason"], "wrong_size", "{c}");
    }
    assert_eq!(ok(&["datanet", "show", "0"])["datanet"]["approved_bytes"], bytes_before);

    supply_is_balanced(&node);
}

/// Racing providers, truncated streams, revoking right after service, a flood of huge prompts:
/// every answer is paid for, the chain keeps its pace, and the settler keeps up.
#[test]
fn adversarial_payments_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = Node::up(h, free_port(), free_port());
    let ok = |args: &[&str]| json(&alx(h, &node.api, args));
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 1024, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    ok(&[
        "model",
        "register",
        "--from",
        "alice",
        "--name",
        "tiny",
        "--base-model",
        weights.to_str().unwrap(),
        "--price-input",
        "1",
        "--price-output",
        "1",
    ]);

    // One deposit, two providers: each key holds its own allowance, and together they cannot
    // take more than the deposit.
    ok(&["deposit", "10", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--allowance", "4"])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // bob serves too: bonded, so keys can name it.
    ok(&["provider", "bond", "100", "--from", "bob"]);
    let elsewhere = ok(&[
        "keys",
        "api-key",
        "create",
        "--from",
        "carol",
        "--allowance",
        "4",
        "--provider",
        "bob",
    ])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let out =
        alx(h, &node.api, &["keys", "api-key", "create", "--from", "carol", "--allowance", "3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("insufficient_deposit"));
    let chat = |key: &str, body: serde_json::Value| {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/chat/completions", node.api))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap()
    };
    let hello = serde_json::json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0});
    assert_eq!(chat(&elsewhere, hello.clone()).status(), 401, "another provider's key");

    // A stream read for two chunks, then dropped, still pays for what it consumed.
    let spent = |key: &str| -> u128 {
        ok(&["keys", "api-key", "show", key])["spent"].as_str().unwrap().parse().unwrap()
    };
    {
        use std::io::BufRead as _;
        let long = serde_json::json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 900, "temperature": 0, "stream": true});
        let resp = chat(&key, long);
        assert_eq!(resp.status(), 200);
        let mut lines = std::io::BufReader::new(resp).lines();
        let mut events = 0;
        while events < 2 {
            if lines.next().unwrap().unwrap().starts_with("data: ") {
                events += 1;
            }
        }
    }
    wait_until("the dropped stream settled", Duration::from_secs(60), || spent(&key) > 0);

    // Revoked right after the answer: the answer is still paid, and no other is served.
    let quick =
        ok(&["keys", "api-key", "create", "--from", "carol", "--allowance", "1"])["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    let answer: serde_json::Value = chat(&quick, hello.clone()).json().unwrap();
    let fee: u128 = answer["alexandria"]["fee"].as_str().unwrap().parse().unwrap();
    assert!(fee > 0);
    ok(&["keys", "api-key", "revoke", &quick, "--from", "carol"]);
    assert_eq!(chat(&quick, hello).status(), 401);
    wait_until("the revoked key's answer settled", Duration::from_secs(60), || {
        spent(&quick) == fee
    });

    // Eight huge prompts at once, on a key with allowance and on one with none: refused by
    // length or quota, fast, while blocks keep coming.
    let empty =
        ok(&["keys", "api-key", "create", "--from", "carol", "--allowance", "0"])["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    let start = node.client().status().unwrap().height.0;
    let huge = "word ".repeat(380_000);
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (api, k, body) = (node.api.clone(), if i % 2 == 0 { key.clone() } else { empty.clone() }, serde_json::json!({"model": "tiny", "messages": [{"role": "user", "content": huge}], "max_tokens": 8}));
            std::thread::spawn(move || {
                let resp = reqwest::blocking::Client::new()
                    .post(format!("{api}/v1/chat/completions"))
                    .bearer_auth(k)
                    .json(&body)
                    .send()
                    .unwrap();
                resp.status().as_u16()
            })
        })
        .collect();
    let codes: Vec<u16> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(codes.iter().all(|c| *c == 400 || *c == 429), "{codes:?}");
    node.wait_height(start + 2, Duration::from_secs(30));

    // Every answer this node served is paid for: for each key, what the chain charged equals
    // the fees of the receipts the node issued on it (the settler kept up, nothing jammed).
    let mut owed: std::collections::BTreeMap<String, u128> = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(h.join("data/receipts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let r: alx_types::usage_api::UsageReceipt =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            *owed.entry(alx_types::hash::to_hex(&r.body.key_hash)).or_default() += r.body.fee.0;
        }
    }
    assert!(owed.len() >= 2, "{owed:?}");
    for secret in [&key, &quick] {
        let hash = alx_types::hash::to_hex(&alx_types::hash::sha256(&[secret.as_bytes()]));
        let due = owed.get(&hash).copied().unwrap_or(0);
        wait_until("every receipt settled", Duration::from_secs(60), || spent(secret) == due);
    }
    supply_is_balanced(&node);
}

/// Four validators, data uploaded to one: the others fetch it from their peers and report it,
/// a quorum (3 of 4) approves it, and with one validator gone the rest still do.
#[test]
fn adversarial_data_reaches_every_validator_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Four consecutive free ports for the APIs and four for p2p (the dev layout's rule), the
    // second range clear of the first (they are all free until the nodes bind them).
    let api = free_ports(4, None);
    let p2p = free_ports(4, Some((api, 4)));
    let opts = alx_node::home::DevOptions::new(4, format!("127.0.0.1:{api}").parse().unwrap(), p2p);
    let dev = alx_node::home::init_dev(h, &opts).unwrap();
    let mut nodes: Vec<Option<Node>> = dev
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node_home)| {
            let port = api + i as u16;
            Some(Node::spawn(
                node_home,
                port,
                &["node", "start", "--api-addr", &format!("127.0.0.1:{port}")],
            ))
        })
        .collect();
    let first = nodes[0].as_ref().unwrap();
    first.wait_height(2, Duration::from_secs(120));
    let entry = first.api.clone();
    let ok = |args: &[&str]| json(&alx(h, &entry, args));
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "shared",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let doc = h.join("a.md");
    std::fs::write(&doc, "Resources in Move cannot be copied or implicitly discarded.").unwrap();
    let sent = ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    assert_eq!(sent[0]["status"], "approved", "{sent}");
    // Validator 2 never received the upload, yet holds the blob now.
    let hash = sent[0]["hash"].as_str().unwrap();
    let head = reqwest::blocking::Client::new()
        .head(format!("http://127.0.0.1:{}/api/blobs/{hash}", api + 2))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200, "the blob reached validator 2");
    // One validator down: three of four still make a quorum.
    drop(nodes[3].take());
    std::fs::write(&doc, "A struct with the key ability can be stored in global storage.").unwrap();
    let sent = ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "carol"]);
    assert_eq!(sent[0]["status"], "approved", "{sent}");
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let audit: serde_json::Value =
        reqwest::blocking::get(format!("{entry}/api/supply")).unwrap().json().unwrap();
    assert_eq!(audit["balanced"], true, "{audit}");
}
