//! `alx audit run` end to end on a dev node. The node serves chats honestly and settles them. A
//! second provider, played by this test with its own key and its own published batch, is
//! bonded, signs three receipts on carol's key and over-charges one of them. The auditor
//! checks both providers' batches. It finds only the over-charge, files one challenge, and the
//! chain slashes that provider's bond (half to the challenger). The honest node keeps its
//! bond, and the supply adds up. A third provider settles inflated totals over its true leaves;
//! the auditor opens the root's children and that bond is slashed too.

use crate::{gateway::tiny_model_node, *};
use alx_types::{
    Address, Amount,
    hash::sha256,
    settled::{SettledReceipt, root},
    settled_batch::SettledBatch,
    tx::{Payload, Transaction},
    usage::{Settlement, UsageOp},
    usage_api::{ReceiptBody, UsageReceipt},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

/// Serves `batch` at `/api/settlements/{provider}/{n}` for any `n`, as a provider's node would
/// (one connection per request, for the life of the test).
pub(crate) fn publish(batch: SettledBatch) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = serde_json::to_string(&batch).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// Signs, submits and waits for a transaction of `key`.
pub(crate) fn send(
    node: &Node,
    key: &PrivateKey,
    nonce: u64,
    payload: Payload,
) -> alx_types::api::TxResponse {
    let client = node.client();
    let chain_id = client.status().unwrap().chain_id;
    let tx = Transaction {
        chain_id,
        sender: Address::from_public_key(&key.public_key()),
        nonce,
        fee: Amount(1_000),
        payload,
    }
    .sign(key);
    let hash = client.submit(&tx).unwrap();
    client.wait_for_tx(&alx_types::hash::to_hex(&hash), Duration::from_secs(30)).unwrap()
}

/// Receipts `key` signs as provider for `fees` on `key_hash` and `model` (100 prompt and 10
/// generated tokens each, numbered from 0), and the leaves settling them as signed.
fn signed_batch(
    key: &PrivateKey,
    key_hash: alx_types::Hash,
    model: alx_types::model::ModelId,
    fees: &[u128],
) -> (Vec<UsageReceipt>, Vec<SettledReceipt>) {
    let provider = Address::from_public_key(&key.public_key());
    let receipts: Vec<UsageReceipt> = (0u64..)
        .zip(fees)
        .map(|(number, fee)| {
            let body = ReceiptBody {
                number,
                provider,
                model,
                model_name: "tiny".into(),
                key_hash,
                prompt_tokens: 100,
                completion_tokens: 10,
                fee: Amount(*fee),
                datanets: vec![],
                citations: vec![],
                span_shares: vec![],
                shares: vec![],
                credits: vec![],
                output: format!("answer {number}"),
                input: alx_types::usage_api::RequestInput::None,
                output_tokens: Vec::new(),
                greedy: false,
                penalties: None,
                influence: Vec::new(),
            };
            UsageReceipt::sign(body, key)
        })
        .collect();
    let leaves = receipts
        .iter()
        .map(|r| SettledReceipt {
            number: r.body.number,
            id: r.id,
            key_hash,
            model,
            prompt_tokens: 100,
            completion_tokens: 10,
            fee: r.body.fee,
            credits: vec![],
        })
        .collect();
    (receipts, leaves)
}

#[test]
fn the_auditor_slashes_an_overcharging_provider_and_spares_the_honest_one_slow() {
    let (home, node, key) = tiny_model_node("5");
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    // Honest traffic: two chats, settled by the node.
    let honest = ok(&["keys", "api-key", "show", &key])["provider"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let chat = serde_json::json!({"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4});
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/v1/chat/completions", node.api))
            .bearer_auth(&key)
            .json(&chat)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ok(&["provider", "show", &honest])["next_receipt"] != 2 {
        assert!(std::time::Instant::now() < deadline, "the node never settled");
        std::thread::sleep(Duration::from_millis(300));
    }
    let honest_bond = ok(&["provider", "show", &honest])["bond"].clone();

    // The dishonest provider: funded, bonded, named on a key of carol's.
    let cheat = PrivateKey::from_seed(4_242);
    let cheat_address = Address::from_public_key(&cheat.public_key());
    let bond = Amount(1_000_000_000_000);
    ok(&["transfer", "--from", "alice", "--to", &cheat_address.to_string(), "--amount", "2000"]);
    let r = send(&node, &cheat, 0, Payload::Usage(UsageOp::BondProvider { amount: bond }));
    assert_eq!(r.receipt.error, None);
    ok(&["deposit", "5", "--from", "carol"]);
    let created = ok(&[
        "keys",
        "api-key",
        "create",
        "--from",
        "carol",
        "--limit",
        "5",
        "--provider",
        &cheat_address.to_string(),
    ]);
    let key_hash = sha256(&[created["api_key"].as_str().unwrap().as_bytes()]);
    // Three receipts it signs; the second charges 1,000 base units over its tokens' price.
    let model: alx_types::model_api::ModelJson = node.client().model("tiny").unwrap();
    let spec = &model.spec;
    let fair =
        alx_types::model::token_fee(spec.price_input_per_1k, spec.price_output_per_1k, 100, 10).0;
    let (receipts, leaves) = signed_batch(&cheat, key_hash, model.id, &[fair, fair + 1_000, fair]);
    let settlement = Settlement::from_root(0, root(&leaves).unwrap());
    let settled = send(&node, &cheat, 1, Payload::Usage(UsageOp::Settle(Box::new(settlement))));
    assert_eq!(settled.receipt.error, None, "the chain cannot see the over-charge by itself");
    let batch_url = publish(SettledBatch {
        provider: cheat_address,
        first_receipt: 0,
        tx_hash: alx_types::hash::parse_hex(&settled.tx.hash).unwrap(),
        leaves,
        receipts,
    });

    // The audit: both providers' batches, one challenge filed and upheld.
    let alice_before: u128 =
        ok(&["balance", "alice"])["account"]["balance"].as_str().unwrap().parse().unwrap();
    let provider_node = format!("{cheat_address}={batch_url}");
    let audit =
        ok(&["audit", "run", "--challenge-from", "alice", "--provider-node", &provider_node]);
    let report = &audit["report"];
    assert!(report["settlements"].as_u64().unwrap() >= 2, "{audit}");
    assert!(report["receipts_checked"].as_u64().unwrap() >= 5, "{audit}");
    assert!(report["attributions_checked"].as_u64().unwrap() >= 2, "{audit}");
    let flagged = report["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "only the cheat is flagged: {audit}");
    assert_eq!(flagged[0]["provider"], cheat_address.to_string());
    assert_eq!(flagged[0]["findings"][0]["kind"], "overcharge", "{audit}");
    assert_eq!(flagged[0]["findings"][0]["receipt"], 1);
    let challenges = audit["challenges"].as_array().unwrap();
    assert_eq!(challenges.len(), 1, "{audit}");
    assert_eq!(challenges[0]["upheld"], true, "{audit}");

    // Slashed: half the bond to alice (less the challenge's fee), the rest to the fund.
    assert_eq!(ok(&["provider", "show", &cheat_address.to_string()])["bond"], "0");
    let alice_after: u128 =
        ok(&["balance", "alice"])["account"]["balance"].as_str().unwrap().parse().unwrap();
    assert_eq!(alice_after, alice_before + bond.0 / 2 - 1_000);
    assert_eq!(
        ok(&["provider", "show", &honest])["bond"],
        honest_bond,
        "the honest node keeps its bond"
    );
    let supply: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(supply["supply"], supply["held"], "{supply}");

    // A second run finds the same over-charge but the settlement is closed: nothing to file.
    let again =
        ok(&["audit", "run", "--challenge-from", "alice", "--provider-node", &provider_node]);
    assert_eq!(again["challenges"], serde_json::json!([]), "{again}");

    // A provider that publishes its true leaves but settles inflated totals over them: the
    // chain sees a root that commits to what it applies; the auditor opens the children.
    let inflater = PrivateKey::from_seed(4_243);
    let inflater_address = Address::from_public_key(&inflater.public_key());
    ok(&["transfer", "--from", "alice", "--to", &inflater_address.to_string(), "--amount", "2000"]);
    let r = send(&node, &inflater, 0, Payload::Usage(UsageOp::BondProvider { amount: bond }));
    assert_eq!(r.receipt.error, None);
    ok(&["deposit", "5", "--from", "carol"]);
    let created = ok(&[
        "keys",
        "api-key",
        "create",
        "--from",
        "carol",
        "--limit",
        "5",
        "--provider",
        &inflater_address.to_string(),
    ]);
    let key_hash = sha256(&[created["api_key"].as_str().unwrap().as_bytes()]);
    let (receipts, leaves) = signed_batch(&inflater, key_hash, model.id, &[fair, fair]);
    let honest_root = root(&leaves).unwrap();
    let mut totals = honest_root.totals.clone();
    totals.charges[0].amount = Amount(totals.charges[0].amount.0 + 5_000);
    let digest = alx_types::settled::node_digest(
        &honest_root.children[0],
        &honest_root.children[1],
        &totals,
    );
    let lie = alx_types::settled::Root { digest, children: honest_root.children, totals };
    let settled = send(
        &node,
        &inflater,
        1,
        Payload::Usage(UsageOp::Settle(Box::new(Settlement::from_root(0, lie)))),
    );
    assert_eq!(settled.receipt.error, None, "the chain sees a root consistent with its totals");
    let url = publish(SettledBatch {
        provider: inflater_address,
        first_receipt: 0,
        tx_hash: alx_types::hash::parse_hex(&settled.tx.hash).unwrap(),
        leaves,
        receipts,
    });
    let provider_node = format!("{inflater_address}={url}");
    let audit = ok(&["audit", "run", "--challenge-from", "bob", "--provider-node", &provider_node]);
    let flagged = audit["report"]["flagged"].as_array().unwrap();
    let mine: Vec<_> =
        flagged.iter().filter(|f| f["provider"] == inflater_address.to_string()).collect();
    assert_eq!(mine.len(), 1, "{audit}");
    assert_eq!(mine[0]["findings"][0]["kind"], "inflated_totals", "{audit}");
    let challenges = audit["challenges"].as_array().unwrap();
    assert_eq!(challenges.len(), 1, "{audit}");
    assert_eq!(challenges[0]["upheld"], true, "{audit}");
    assert_eq!(ok(&["provider", "show", &inflater_address.to_string()])["bond"], "0");
    let supply: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(supply["supply"], supply["held"], "{supply}");
}
