//! `alx subnet` against a real node: a subnet with tempo 10 taken through commit, reveal and
//! two Yuma epochs, and the failures a validator meets (too early, nothing to reveal, no
//! permit, a reveal the chain has no commit for).

use crate::*;
use std::path::Path;

/// Blocks per subnet epoch: short, so the test sees three epochs in well under a minute.
const TEMPO: &str = "10";

fn address(home: &Path, key: &str) -> String {
    let keys = json(&alx(home, "http://127.0.0.1:1", &["keys", "show", key]));
    keys["address"].as_str().unwrap().to_owned()
}

/// The failure of a command: its exit status is not success, stderr names `code` and gives a
/// hint; with `--json`, stdout holds the failed receipt. Returns stderr.
fn failed_with(out: &Output, code: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected {code}, but it succeeded");
    assert!(err.contains(code) && err.contains("hint:"), "expected {code}: {err}");
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(
        (receipt["status"].as_str(), receipt["error"].as_str()),
        (Some("failed"), Some(code))
    );
    err.into_owned()
}

fn wait_height(node: &Node, height: u64) {
    node.wait_height(height, Duration::from_secs(60));
}

fn u128_of(v: &serde_json::Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn subnet_commit_reveal_and_epochs_pay_miner_and_validator_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    let api = node.client();

    // The evaluation data: version 1 of an open datanet.
    let open = ["--license", "MIT", "--policy", "open"];
    ok(&[&["datanet", "create", "--from", "alice", "--name", "move"][..], &open].concat());
    let doc = h.join("held-out.md");
    std::fs::write(&doc, "Move modules publish resources under an account address.").unwrap();
    ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);

    // Bob's model: a tiny generated GGUF, registered by bob.
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    alx_model::tiny::write(&weights, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    let weights = weights.to_str().unwrap();
    let model = ["--name", "bob-miner", "--base-model", weights, "--datanet", "0@1"];
    ok(&[&["model", "register", "--from", "bob"][..], &model].concat());

    // Alice validates with stake bonded to the node's validator (the dev genesis bonds only
    // the validators' own keys).
    let validator = api.status().unwrap().validators[0].to_string();
    ok(&["stake", "bond", "--from", "alice", "--validator", &validator, "--amount", "1000"]);

    let created = ok(&[
        "subnet",
        "create",
        "--from",
        "alice",
        "--name",
        "move-qa",
        "--task",
        "Answer questions about Move",
        "--datanet",
        "0@1",
        "--tempo",
        TEMPO,
        "--max-uids",
        "8",
        "--max-validators",
        "4",
        "--registration-burn",
        "0.5",
        "--immunity-blocks",
        "20",
    ]);
    assert_eq!(created["subnet"], 0, "{created}");
    assert_eq!(created["committed"]["receipt"]["status"], "success");
    let listed = ok(&["subnet", "list"]);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["tempo"].as_u64()),
        (Some("move-qa"), Some(10))
    );
    let shown = ok(&["subnet", "show", "move-qa"]);
    assert_eq!(shown["owner"], address(h, "alice").as_str());
    assert_eq!(shown["registration_burn"], "500000000");

    let v = ok(&["subnet", "register-validator", "move-qa", "--from", "alice"]);
    assert_eq!((v["subnet"].as_u64(), v["uid"].as_u64()), (Some(0), Some(0)), "{v}");
    let endpoint = "http://127.0.0.1:9/v1";
    let m = ok(&[
        "subnet",
        "register-miner",
        "0",
        "--model",
        "bob-miner",
        "--endpoint",
        endpoint,
        "--from",
        "bob",
    ]);
    assert_eq!(m["uid"], 1, "{m}");
    let graph = ok(&["subnet", "metagraph", "0"]);
    let n = &graph["neurons"];
    assert_eq!((n[0]["kind"].as_str(), n[1]["kind"].as_str()), (Some("validator"), Some("miner")));
    assert_eq!(n[0]["validator_permit"], true);
    assert_eq!(u128_of(&n[0]["stake"]), 1_000_000_000_000);
    assert_eq!(
        (n[1]["address"].as_str(), n[1]["endpoint"].as_str()),
        (Some(&*address(h, "bob")), Some(endpoint))
    );

    // Commit right after an epoch boundary, so the early reveal lands in the same epoch.
    let boundary = api.subnet("0").unwrap().next_epoch_block;
    wait_height(&node, boundary.0);
    let c = ok(&["subnet", "commit", "move-qa", "--from", "alice", "--weights", "1=65535"]);
    let saved = std::path::PathBuf::from(c["saved"].as_str().unwrap());
    assert_eq!(saved, h.join("weights").join(format!("0-{}.json", address(h, "alice"))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let commit = api.pending_commit("move-qa", 0).unwrap();
    assert_eq!(alx_types::hash::to_hex(&commit.commit), c["commit"].as_str().unwrap());
    let end = api.subnet("0").unwrap().next_epoch_block;
    let early = alx(h, &node.api, &["subnet", "reveal", "0", "--from", "alice"]);
    let err = failed_with(&early, "reveal_too_early");
    assert!(err.contains(&format!("retry then (after block {end})")), "{err}");
    assert!(saved.exists(), "a failed reveal keeps the saved weights");

    // The next epoch: the reveal lands and spends the saved file.
    wait_height(&node, api.subnet("0").unwrap().next_epoch_block.0);
    let kept = std::fs::read(&saved).unwrap();
    let r = ok(&["subnet", "reveal", "0", "--from", "alice"]);
    assert_eq!(r["weights"], serde_json::json!([[1, 65535]]), "{r}");
    assert!(!saved.exists(), "a revealed commit leaves no file");
    let row = ok(&["subnet", "weights", "move-qa", "0"]);
    assert_eq!(row["weights"], serde_json::json!([[1, 65535]]));

    // The epoch after the reveal counts the weights.
    wait_height(&node, api.subnet("0").unwrap().next_epoch_block.0 + 1);
    let graph = ok(&["subnet", "metagraph", "move-qa"]);
    let n = &graph["neurons"];
    assert!(n[1]["incentive"].as_u64().unwrap() > 0, "miner incentive: {graph}");
    assert!(n[0]["dividends"].as_u64().unwrap() > 0, "validator dividends: {graph}");
    assert!(u128_of(&n[1]["last_emission"]) > 0, "{graph}");
    let epochs = ok(&["subnet", "epochs", "0"]);
    let epochs = epochs.as_array().unwrap();
    assert!(epochs.len() >= 2, "{epochs:?}");
    assert!(epochs.iter().all(|e| u128_of(&e["total_emission"]) > 0), "{epochs:?}");
    let text = alx_text(h, &node.api, &["subnet", "metagraph", "0"]);
    assert!(text.contains("incentive") && text.contains("validator") && text.contains("miner"));
    // Liquid alpha: the owner's, on Yuma3 subnets, in subtensor's ranges.
    let set = |from: &str, subnet: &str, extra: &[&str]| {
        alx(
            h,
            &node.api,
            &[&["subnet", "set-liquid-alpha", subnet, "--from", from][..], extra].concat(),
        )
    };
    failed_with(&set("bob", "move-qa", &[]), "not_subnet_owner");
    failed_with(&set("alice", "move-qa", &[]), "liquid_alpha_needs_yuma3");
    #[rustfmt::skip]
    ok(&["subnet", "create", "--from", "alice", "--name", "move-qa3", "--task", "t",
        "--datanet", "0@1", "--tempo", TEMPO, "--yuma3"]);
    failed_with(&set("alice", "move-qa3", &["--low", "1637"]), "alpha_low_out_of_range");
    failed_with(
        &set("alice", "move-qa3", &["--low", "3000", "--high", "2000"]),
        "alpha_low_out_of_range",
    );
    let on = json(&set("alice", "move-qa3", &["--low", "2000", "--high", "60000"]));
    assert_eq!(on["committed"]["receipt"]["status"], "success", "{on}");
    let shown = ok(&["subnet", "show", "move-qa3"]);
    assert_eq!(
        shown["liquid_alpha"],
        serde_json::json!({"enabled": true, "alpha_low": 2000, "alpha_high": 60000})
    );
    assert!(
        alx_text(h, &node.api, &["subnet", "show", "move-qa3"]).contains("liquid alpha 2000–60000")
    );
    // The explorer's page of the subnet, in headless Chromium: the weights just revealed in
    // the heatmap, the epochs charted (crates/explorer/e2e/subnet.mjs).
    let page = crate::explorer::browser_script("subnet.mjs")
        .args([node.api.as_str(), "move-qa"])
        .arg(crate::explorer::shots())
        .output()
        .expect("node runs");
    assert!(
        page.status.success(),
        "the subnet page in Chromium:\n{}\n{}",
        String::from_utf8_lossy(&page.stdout),
        String::from_utf8_lossy(&page.stderr)
    );

    // A saved file the chain has no commit for (as if the process died after its reveal).
    std::fs::write(&saved, &kept).unwrap();
    failed_with(&alx(h, &node.api, &["subnet", "reveal", "0", "--from", "alice"]), "no_commit");
    // A miner holds no validator permit: the commit fails and leaves no file behind.
    let out = alx(h, &node.api, &["subnet", "commit", "0", "--from", "bob", "--weights", "1=1"]);
    failed_with(&out, "no_validator_permit");
    assert!(!h.join("weights").join(format!("0-{}.json", address(h, "bob"))).exists());
    // Nothing saved, nothing to reveal: refused before anything is sent.
    let out = alx(h, &node.api, &["subnet", "reveal", "0", "--from", "carol"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("nothing to reveal") && err.contains("hint:"));
}

#[test]
fn subnet_bad_input_is_refused_with_hints_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let refused = |args: &[&str], says: &str| {
        let out = alx(h, &node.api, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(&["subnet", "show", "9"], "no subnet 9");
    refused(&["subnet", "show", "Bad Name"], "bad_request");
    refused(&["subnet", "metagraph", "nope"], "hint: list them with `alx subnet list`");
    refused(&["subnet", "reveal", "0", "--from", "carol"], "no subnet 0");
    // A datanet version that does not exist fails on chain with its code.
    let create =
        ["subnet", "create", "--from", "alice", "--name", "qa", "--task", "t", "--datanet", "0@1"];
    let out = alx(h, &node.api, &create);
    failed_with(&out, "bad_subnet_field");
    refused(&["subnet", "create", "--from", "alice", "--name", "qa", "--task", "t"], "--datanet");
    refused(&["subnet", "commit", "0", "--from", "alice", "--weights", "1:2"], "UID=VALUE");
}

/// Runs `alx` without `--json` and returns stdout.
fn alx_text(home: &Path, api: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(home)
        .args(["--node", api])
        .args(args)
        .env("ALX_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
