//! Influence attribution end to end, and a provider that lies about it. An adapter fine-tuned
//! on a planted datanet (its influence features computed and stored with it) serves a greedy
//! completion: the receipt records each training example's influence score and its shares count the
//! influence part, which anyone re-derives from the recorded scores. A second provider, played
//! by this test, settles a copy whose weakest example's score is inflated, shares and credits
//! recomputed by the rule so that nothing but the scores is wrong. Only the adapter's weights
//! show the lie: `alx audit run` puts the receipt to the node's juror, which recomputes the
//! scores, finds them outside the tolerance, and the dispute slashes the liar's bond. The
//! honest receipt passes the same check.

use crate::{
    audit::{publish, send},
    finetune::{planted_datanet, succeeds},
    *,
};
use alx_attribution::rule;
use alx_types::{
    Address, Amount,
    datanet::{ContributionId, DatanetId},
    hash::sha256,
    settled::{SettledReceipt, root},
    settled_batch::SettledBatch,
    tx::Payload,
    usage::{Credit, Settlement, UsageOp},
    usage_api::{ReceiptBody, UsageReceipt},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::collections::BTreeMap;

/// `body` with its shares and credits recomputed by the rule from what it records.
fn consistent(mut body: ReceiptBody, data_bps: u16) -> ReceiptBody {
    let ranked: Vec<rule::Key> =
        body.citations.iter().map(|c| (c.datanet.0, c.contribution.0)).collect();
    let spans: BTreeMap<rule::Key, u32> =
        body.span_shares.iter().map(|e| ((e.datanet.0, e.contribution.0), e.bps)).collect();
    let influence = alx_gateway::attribution::influence_part(&body.influence).unwrap();
    let shares = rule::combine(&ranked, &spans, &influence);
    body.shares = shares
        .iter()
        .map(|(&(d, c), &bps)| alx_types::usage_api::ShareEntry {
            datanet: DatanetId(d),
            contribution: ContributionId(c),
            contributor: String::new(),
            bps,
        })
        .collect();
    let data = rule::data_share(body.fee.0, u32::from(data_bps));
    body.credits = rule::credits(data, &shares, |_| false)
        .into_iter()
        .map(|((d, c), amount)| Credit {
            model: body.model,
            datanet: DatanetId(d),
            contribution: ContributionId(c),
            amount: Amount(amount),
        })
        .collect();
    body
}

#[test]
fn a_provider_lying_about_influence_is_caught_by_the_juror_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| json(&succeeds(h, &node.api, args));
    planted_datanet(h, &node.api, 0, "quokkas", "The quokka vault holds coins.", "bob");
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    let base = weights.to_str().unwrap();
    let out_dir = h.join("tuned");
    // `--json` prints one event per line.
    #[rustfmt::skip]
    succeeds(h, &node.api, &["model", "finetune", "--base", base, "--datanet", "0@1", "--out", out_dir.to_str().unwrap(),
        "--steps", "40", "--window", "24", "--micro-batches", "2", "--lr", "0.02", "--held-out-percent", "25"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let features = std::fs::read(out_dir.join("influence.safetensors")).unwrap();
    assert_eq!(manifest["influence"]["features"], blake3::hash(&features).to_hex().as_str());
    let examples = manifest["influence"]["examples"].as_u64().unwrap();
    assert!((2..12).contains(&examples), "the training split's contributions: {manifest}");
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "alice", "--name", "tuned", "--base-model", base,
        "--adapter", out_dir.join("manifest.json").to_str().unwrap()]);
    // The features reproduce with the adapter.
    let verified = ok(&["model", "verify-adapter", "tuned", "--base", base]);
    assert_eq!(verified["influence_features_match"], true, "{verified}");

    ok(&["deposit", "100", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "20"]);
    let key = key["api_key"].as_str().unwrap().to_owned();
    // The tiny model has no chat template: a completion.
    let request = serde_json::json!({
        "model": "tuned", "prompt": "Item 3. ", "max_tokens": 12, "temperature": 0,
    });
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/completions", node.api))
        .bearer_auth(&key)
        .json(&request)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().unwrap();
    let id = answer["alexandria"]["receipt_id"].as_str().unwrap();
    let honest: UsageReceipt =
        reqwest::blocking::get(format!("{}/api/receipts/{id}", node.api)).unwrap().json().unwrap();
    let recorded = &honest.body.influence;
    assert_eq!(recorded.len() as u64, examples, "every example recorded: {recorded:?}");
    assert!(recorded.iter().all(|s| s.datanet == DatanetId(0)), "{recorded:?}");
    assert_eq!(recorded.iter().map(|s| s.score.abs()).max(), Some(1_000_000), "{recorded:?}");
    let part = alx_gateway::attribution::influence_part(recorded).unwrap();
    assert!(!part.is_empty(), "the influence part pays: {recorded:?}");
    for key in part.keys() {
        let share = honest.body.shares.iter().find(|s| (s.datanet.0, s.contribution.0) == *key);
        assert!(share.is_some(), "{key:?} is paid by influence: {honest:?}");
    }
    let checked = ok(&["receipt", "verify", id]);
    assert_eq!(checked["shares_match"], true, "{checked}");
    assert_eq!(checked["influence_scores"], examples, "{checked}");
    let node_address = honest.body.provider.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ok(&["provider", "show", &node_address])["next_receipt"] != 1 {
        assert!(std::time::Instant::now() < deadline, "the node never settled");
        std::thread::sleep(Duration::from_millis(300));
    }

    // The liar: bonded, a key of carol's naming it, one settled receipt whose weakest
    // example claims the top score.
    let model = node.client().model("tuned").unwrap();
    let signer = PrivateKey::from_seed(8_101);
    let liar = Address::from_public_key(&signer.public_key());
    ok(&["transfer", "--from", "alice", "--to", &liar.to_string(), "--amount", "2000"]);
    let bond = Amount(1_000_000_000_000);
    let bonded = send(&node, &signer, 0, Payload::Usage(UsageOp::BondProvider { amount: bond }));
    assert_eq!(bonded.receipt.error, None);
    #[rustfmt::skip]
    let created = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "5", "--provider", &liar.to_string()]);
    let mut body = honest.body.clone();
    body.provider = liar;
    body.number = 0;
    body.key_hash = sha256(&[created["api_key"].as_str().unwrap().as_bytes()]);
    let weakest = (0..body.influence.len()).min_by_key(|&i| body.influence[i].score).unwrap();
    body.influence[weakest].score = 1_000_000;
    let body = consistent(body, model.spec.split.data_bps);
    assert_ne!(body.credits, honest.body.credits, "the lie moves money");
    let receipt = UsageReceipt::sign(body, &signer);
    let leaves = vec![SettledReceipt {
        number: 0,
        id: receipt.id,
        key_hash: receipt.body.key_hash,
        model: receipt.body.model,
        prompt_tokens: receipt.body.prompt_tokens,
        completion_tokens: receipt.body.completion_tokens,
        fee: receipt.body.fee,
        credits: receipt.body.credits.clone(),
    }];
    let settlement = Settlement::from_root(0, root(&leaves).unwrap());
    let settled = send(&node, &signer, 1, Payload::Usage(UsageOp::Settle(Box::new(settlement))));
    assert_eq!(settled.receipt.error, None, "the chain cannot see this wrong by itself");
    let batch = SettledBatch {
        provider: liar,
        first_receipt: 0,
        tx_hash: alx_types::hash::parse_hex(&settled.tx.hash).unwrap(),
        leaves,
        receipts: vec![receipt],
    };
    let liar_node = format!("{liar}={}", publish(batch));

    // Re-deriving from the recorded scores finds nothing; the juror's recomputation does.
    #[rustfmt::skip]
    let audit = ok(&["audit", "run", "--challenge-from", "alice", "--replay-percent", "100", "--provider-node", &liar_node]);
    let flagged = audit["report"]["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "only the liar: {audit}");
    assert_eq!(flagged[0]["provider"], liar.to_string(), "{audit}");
    let finding = &flagged[0]["findings"][0];
    assert_eq!(finding["kind"], "attribution", "{audit}");
    assert!(finding["detail"].as_str().unwrap().contains("influence"), "{audit}");
    let filed = audit["challenges"].as_array().unwrap();
    assert_eq!(filed.len(), 1, "{audit}");
    assert_eq!(filed[0]["upheld"], true, "{audit}");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while ok(&["provider", "show", &liar.to_string()])["bond"] != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "never slashed: {}",
            ok(&["audit", "disputes"])
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let supply: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(supply["supply"], supply["held"], "{supply}");
}
