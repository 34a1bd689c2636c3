//! Disputes and demands end to end on a dev node: the node serves greedy chats over a datanet
//! honestly and settles them. Three providers, played by this test with their own keys, copy
//! one of its receipts and cheat: one serves an answer the model did not generate, one credits
//! a contribution the answer never used, one publishes nothing. All settle fine (the chain
//! cannot see these wrongs by itself). `alx audit run --replay-percent 100` replays every
//! greedy answer and re-derives every attribution; it asks the node's juror before filing,
//! files one dispute per cheat and a demand on the withholder; the validator's votes slash the
//! first two bonds, the demand's deadline the third (half to the challenger, its bonds back).
//! The honest node's answers replay, it answers a demand on its own receipt by itself, its
//! bond stays, and the supply adds up.

use crate::{
    audit::{publish, send},
    gateway::KNOWLEDGE,
    *,
};
use alx_types::{
    Address, Amount,
    hash::sha256,
    settled::{SettledReceipt, root},
    settled_batch::SettledBatch,
    tx::Payload,
    usage::{Settlement, UsageOp},
    usage_api::UsageReceipt,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

/// What an honest leaf settles for `r`.
fn leaf_of(r: &UsageReceipt) -> SettledReceipt {
    SettledReceipt {
        number: r.body.number,
        id: r.id,
        key_hash: r.body.key_hash,
        model: r.body.model,
        prompt_tokens: r.body.prompt_tokens,
        completion_tokens: r.body.completion_tokens,
        fee: r.body.fee,
        credits: r.body.credits.clone(),
    }
}

#[test]
fn disputes_slash_providers_that_alter_answers_or_credits_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    // Datanet 0, version 1: bob's vault notes (contribution 0) and carol's unrelated text (1).
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "vaults",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let notes = h.join("vault.md");
    std::fs::write(&notes, KNOWLEDGE).unwrap();
    ok(&["datanet", "contribute", "0", notes.to_str().unwrap(), "--from", "bob"]);
    let other = h.join("birds.md");
    std::fs::write(&other, "Puffins nest in burrows on cliffs and eat small fish.").unwrap();
    ok(&["datanet", "contribute", "0", other.to_str().unwrap(), "--from", "carol"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ok(&["datanet", "show", "0"])["indexed_version"] != 1 {
        assert!(std::time::Instant::now() < deadline, "never indexed");
        std::thread::sleep(Duration::from_millis(200));
    }
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
        "vault-helper",
        "--base-model",
        weights.to_str().unwrap(),
        "--datanet",
        "0@1",
    ]);
    ok(&["deposit", "100", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "20"]);
    let key = key["api_key"].as_str().unwrap().to_owned();

    // Honest traffic: a greedy chat (and a second one), settled by the node.
    let chat = serde_json::json!({
        "model": "vault-helper",
        "messages": [{"role": "user", "content": "How do I withdraw from a quokka vault?"}],
        "max_tokens": 16, "temperature": 0,
    });
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/v1/chat/completions", node.api))
            .bearer_auth(&key)
            .json(&chat)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let answer: serde_json::Value = resp.json().unwrap();
        ids.push(answer["alexandria"]["receipt_id"].as_str().unwrap().to_owned());
    }
    let honest: UsageReceipt =
        reqwest::blocking::get(format!("{}/api/receipts/{}", node.api, ids[0]))
            .unwrap()
            .json()
            .unwrap();
    assert!(honest.body.greedy && !honest.body.output_tokens.is_empty(), "{honest:?}");
    assert_eq!(honest.body.credits.len(), 1, "bob's notes are cited: {honest:?}");
    let node_address = honest.body.provider.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ok(&["provider", "show", &node_address])["next_receipt"] != 2 {
        assert!(std::time::Instant::now() < deadline, "the node never settled");
        std::thread::sleep(Duration::from_millis(300));
    }
    let honest_bond = ok(&["provider", "show", &node_address])["bond"].clone();

    // Two cheats, each bonded and named on a key of carol's, each settling one receipt.
    let tokenizer = alx_model::Model::load(&weights, &alx_model::LoadConfig::DEFAULT).unwrap();
    let bond = Amount(1_000_000_000_000);
    let cheat =
        |seed: u64, publishes: bool, edit: &dyn Fn(&mut alx_types::usage_api::ReceiptBody)| {
            let signer = PrivateKey::from_seed(seed);
            let address = Address::from_public_key(&signer.public_key());
            ok(&["transfer", "--from", "alice", "--to", &address.to_string(), "--amount", "2000"]);
            let r = send(&node, &signer, 0, Payload::Usage(UsageOp::BondProvider { amount: bond }));
            assert_eq!(r.receipt.error, None);
            let created = ok(&[
                "keys",
                "api-key",
                "create",
                "--from",
                "carol",
                "--limit",
                "5",
                "--provider",
                &address.to_string(),
            ]);
            let mut body = honest.body.clone();
            body.provider = address;
            body.number = 0;
            body.key_hash = sha256(&[created["api_key"].as_str().unwrap().as_bytes()]);
            edit(&mut body);
            let receipt = UsageReceipt::sign(body, &signer);
            let leaves = vec![leaf_of(&receipt)];
            let settlement = Settlement::from_root(0, root(&leaves).unwrap());
            let settled =
                send(&node, &signer, 1, Payload::Usage(UsageOp::Settle(Box::new(settlement))));
            assert_eq!(settled.receipt.error, None, "the chain cannot see this wrong by itself");
            let batch = SettledBatch {
                provider: address,
                first_receipt: 0,
                tx_hash: alx_types::hash::parse_hex(&settled.tx.hash).unwrap(),
                leaves,
                receipts: vec![receipt],
            };
            // A provider that publishes nothing: the auditor asks the node, which holds no batch
            // of another provider's.
            let url = if publishes { publish(batch) } else { node.api.clone() };
            (address, format!("{address}={url}"))
        };
    // The first serves another answer: its second token replaced, the text re-decoded.
    let (rewriter, rewriter_node) = cheat(7_001, true, &|body| {
        let t = body.output_tokens[1];
        body.output_tokens[1] = if t == 65 { 66 } else { 65 };
        body.output = tokenizer.tokenizer().decode(&body.output_tokens).unwrap();
    });
    // The second answers honestly but credits carol's text instead of bob's notes.
    let (miscreditor, miscreditor_node) = cheat(7_002, true, &|body| {
        body.credits[0].contribution = alx_types::datanet::ContributionId(1);
    });

    // The third settles an honest copy and publishes nothing.
    let (withholder, _) = cheat(7_003, false, &|_| {});

    let alice_before: u128 =
        ok(&["balance", "alice"])["account"]["balance"].as_str().unwrap().parse().unwrap();
    let audit = ok(&[
        "audit",
        "run",
        "--challenge-from",
        "alice",
        "--replay-percent",
        "100",
        "--provider-node",
        &rewriter_node,
        "--provider-node",
        &miscreditor_node,
    ]);
    let report = &audit["report"];
    assert!(report["replays"].as_u64().unwrap() >= 4, "every greedy answer replayed: {audit}");
    let flagged = report["flagged"].as_array().unwrap();
    let found = |who: Address| -> Vec<String> {
        flagged
            .iter()
            .filter(|f| f["provider"] == who.to_string())
            .flat_map(|f| f["findings"].as_array().unwrap().iter())
            .map(|x| x["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(found(rewriter).contains(&"generation".to_owned()), "{audit}");
    assert_eq!(found(miscreditor), ["attribution"], "{audit}");
    assert!(
        flagged.iter().all(|f| f["provider"] != node_address),
        "the honest node's answers replay and its attribution holds: {audit}"
    );
    let filed = audit["challenges"].as_array().unwrap();
    let kinds: Vec<&str> = filed.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(found(withholder), ["unpublished"], "{audit}");
    assert_eq!(kinds, ["generation", "attribution", "demand"], "{audit}");
    assert!(filed.iter().all(|f| f["upheld"] == true), "{audit}");

    // The node's validator votes; one validator is the whole quorum of a dev chain. The
    // withholder does not answer its demand: 50 blocks later its bond is slashed.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    for who in [rewriter, miscreditor, withholder] {
        while ok(&["provider", "show", &who.to_string()])["bond"] != "0" {
            assert!(
                std::time::Instant::now() < deadline,
                "{who} never slashed: {}",
                ok(&["audit", "disputes"])
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let open = ok(&["audit", "disputes"]);
    assert_eq!(open, serde_json::json!({"disputes": [], "demands": []}));
    let alice_after: u128 =
        ok(&["balance", "alice"])["account"]["balance"].as_str().unwrap().parse().unwrap();
    let fees: u128 = filed
        .iter()
        .map(|f| node.client().tx(f["tx"].as_str().unwrap()).unwrap().receipt.fee_paid.0)
        .sum();
    assert_eq!(
        alice_after,
        alice_before + 3 * (bond.0 / 2) - fees,
        "half of each bond, challenge and demand bonds back"
    );

    // A demand on the honest node: it opens the receipt on chain by itself, before the
    // deadline, and keeps its bond.
    ok(&["audit", "demand", &node_address, "--settlement", "0", "--receipt", "0", "--from", "bob"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !ok(&["audit", "disputes"])["demands"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the node never answered its demand");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(ok(&["provider", "show", &node_address])["bond"], honest_bond);
    let supply: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(supply["supply"], supply["held"], "{supply}");
}

/// A curator flags two of carol's contributions as copies of bob's notes: one is unrelated
/// text, the other repeats most of the notes. Carol disputes both flags. The validator measures
/// how much of each the notes cover (against the version before it): the false flag is lifted
/// and carol's bond returns; the true one stays and her bond goes to the protection fund.
#[test]
fn the_validators_lift_a_false_near_duplicate_flag_and_keep_a_true_one_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    let indexed = |version: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while ok(&["datanet", "show", "0"])["indexed_version"] != version {
            assert!(std::time::Instant::now() < deadline, "never indexed");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let contribute = |name: &str, text: &str, from: &str| {
        let path = h.join(name);
        std::fs::write(&path, text).unwrap();
        ok(&["datanet", "contribute", "0", path.to_str().unwrap(), "--from", from]);
    };
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "vaults",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    contribute("notes.md", KNOWLEDGE, "bob");
    ok(&["datanet", "version", "0", "--from", "alice"]);
    indexed(1);
    contribute("birds.md", "Puffins nest in burrows on cliffs and dive for small fish.", "carol");
    // Two thirds of the notes, then a sentence of its own: below the automatic threshold.
    let cut = KNOWLEDGE.char_indices().nth(KNOWLEDGE.len() * 2 / 3).unwrap().0;
    let mostly = format!("{} Puffins, too, keep their eggs in burrows.", &KNOWLEDGE[..cut]);
    contribute("mostly.md", &mostly, "carol");
    ok(&["datanet", "version", "0", "--from", "alice"]);
    indexed(2);
    let balance = || -> u128 {
        ok(&["balance", "carol"])["account"]["balance"].as_str().unwrap().parse().unwrap()
    };
    let carol_before = balance();
    let mut fees = 0u128;
    for c in ["1", "2"] {
        ok(&["datanet", "flag", "0", c, "--copies", "0", "--from", "alice"]);
        let sent = ok(&["datanet", "dispute-flag", "0", c, "--from", "carol"]);
        fees += sent["committed"]["receipt"]["fee_paid"].as_str().unwrap().parse::<u128>().unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let open = ok(&["audit", "disputes"]);
        if open["disputes"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never decided: {open}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let shown = ok(&["datanet", "show", "0"]);
    let flagged = |i: usize| shown["contributions"][i]["near_duplicate"].as_bool().unwrap();
    assert!(!flagged(1), "the false flag was lifted: {shown}");
    assert!(flagged(2), "the true flag stays: {shown}");
    assert_eq!(
        balance(),
        carol_before - fees - alx_types::dispute::DISPUTE_BOND.0,
        "one challenge bond back, the other lost"
    );
    let supply: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/supply", node.api)).unwrap().json().unwrap();
    assert_eq!(supply["supply"], supply["held"], "{supply}");
}
