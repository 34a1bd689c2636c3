//! Staking rewards end to end on `alx up`: bob delegates to the validator, and one epoch later
//! `alx rewards show bob` has a staking line above zero; a claim settles it into a source line
//! and an epoch line. Bad staking transactions fail with their code and a hint.

use crate::*;

fn amount(v: &serde_json::Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an amount: {v}"))
}

#[test]
fn a_delegator_earns_staking_rewards_and_sees_where_they_came_from_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api = free_port();
    #[rustfmt::skip]
    let node = Node::spawn(h, api, &["up", "--api-addr", &format!("127.0.0.1:{api}"),
        "--p2p-port", &free_port().to_string(), "--no-sample", "--epoch-length", "10"]);
    node.wait_height(1, Duration::from_secs(90));
    let validator = node.client().status().unwrap().validators[0].to_string();

    let shown = json(&alx(h, &node.api, &["stake", "show", &validator]));
    assert_eq!(shown["commission_bps"], 1_000, "the default commission: {shown}");
    assert_eq!(shown["active"], true);

    #[rustfmt::skip]
    let bonded = json(&alx(h, &node.api,
        &["stake", "bond", "--from", "bob", "--validator", &validator, "--amount", "1000"]));
    let at = bonded["committed"]["height"].as_u64().unwrap();
    node.wait_height(at + 10, Duration::from_secs(120));

    let r = json(&alx(h, &node.api, &["rewards", "show", "bob"]));
    let d = &r["delegations"][0];
    assert_eq!(d["validator"], validator.as_str(), "{r}");
    assert_eq!(amount(&d["stake"]), 1_000_000_000_000);
    assert!(amount(&d["accrued"]) > 0, "a staking line above zero: {r}");
    assert_eq!(amount(&r["staking_accrued"]), amount(&d["accrued"]));
    let text = Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["--node", &node.api, "rewards", "show", "bob"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("staking · validator"), "{text}");

    // A claim settles the delegation: a source line and an epoch line, paid to the balance.
    let before = json(&alx(h, &node.api, &["balance", "bob"]))["account"]["balance"].clone();
    json(&alx(h, &node.api, &["rewards", "claim", "--from", "bob"]));
    let r = json(&alx(h, &node.api, &["rewards", "show", "bob"]));
    let line = r["sources"].as_array().unwrap().iter().find(|l| l["source"] == "staking");
    let line = line.unwrap_or_else(|| panic!("a staking source: {r}"));
    assert_eq!(line["validator"], validator.as_str());
    let earned = amount(&line["earned"]);
    assert!(earned > 0 && amount(&line["claimable"]) == 0, "{r}");
    assert!(r["epochs"].as_array().unwrap().iter().any(|e| e["source"] == "staking"), "{r}");
    let after = json(&alx(h, &node.api, &["balance", "bob"]))["account"]["balance"].clone();
    // The claim paid at least the settled staking (less its fee, plus any other reward).
    assert!(amount(&after) + 1_000_000 >= amount(&before) + earned, "{before} → {after}");

    // Bad input: failed receipts with stable codes and hints; nothing moves but the fee.
    #[rustfmt::skip]
    let refusals: [(&[&str], &str); 3] = [
        (&["stake", "set-commission", "--from", "alice", "--bps", "100"], "not_validator"),
        (&["stake", "redelegate", "--from", "bob", "--src", &validator, "--dst", &validator, "--amount", "1"], "redelegate_to_self"),
        (&["rewards", "claim", "--from", "carol"], "nothing_to_claim"),
    ];
    for (args, code) in refusals {
        let out = alx(h, &node.api, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
        assert_eq!(doc["error"]["code"], code, "{doc}");
        assert!(doc["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{doc}");
    }
    // Out of bounds before anything is sent.
    let out = alx(h, &node.api, &["stake", "set-commission", "--from", "alice", "--bps", "5001"]);
    assert!(!out.status.success());
}
