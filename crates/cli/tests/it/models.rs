//! `alx model`, `alx deposit`, `alx keys api-key`, `alx rewards` against a real node.

use crate::*;

#[test]
fn register_models_prepay_and_create_api_keys_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    let weights = h.join("weights.gguf");
    std::fs::write(&weights, b"not really a model, but hashed like one").unwrap();
    let weights = weights.to_str().unwrap();
    ok(&["model", "register", "--from", "alice", "--name", "tiny", "--base-model", weights]);
    let listed = ok(&["model", "list"]);
    assert_eq!(listed[0]["name"], "tiny");
    assert_eq!(listed[0]["split"]["data_bps"], 5000);
    let expected = hex::encode(blake3::hash(b"not really a model, but hashed like one").as_bytes());
    assert_eq!(ok(&["model", "show", "tiny"])["base_model"], expected.as_str());

    // Refusals: a datanet version that does not exist; a split outside the bounds.
    let out = alx(
        h,
        &node.api,
        &[
            "model",
            "register",
            "--from",
            "alice",
            "--name",
            "x",
            "--base-model",
            weights,
            "--datanet",
            "0@1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_model_field"));
    let out = alx(
        h,
        &node.api,
        &[
            "model",
            "register",
            "--from",
            "alice",
            "--name",
            "y",
            "--base-model",
            weights,
            "--split",
            "1000,7000,1500,500",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("data ≥ 2500"));

    ok(&["deposit", "10", "--from", "bob"]);
    let key = ok(&["keys", "api-key", "create", "--from", "bob", "--limit", "5"]);
    let secret = key["api_key"].as_str().unwrap();
    assert!(secret.starts_with("alx-sk-"));
    let shown = ok(&["keys", "api-key", "show", secret]);
    assert_eq!(shown["allowance"], "5000000000");
    assert_eq!(shown["revoked"], false);
    // The allowance left the deposit: only the rest can be withdrawn or given to another key.
    let rewards = ok(&["rewards", "show", "bob"]);
    assert_eq!(rewards["prepaid"], "5000000000");
    ok(&["keys", "api-key", "fund", secret, "--amount", "1", "--from", "bob"]);
    assert_eq!(ok(&["keys", "api-key", "show", secret])["allowance"], "6000000000");
    ok(&["keys", "api-key", "revoke", secret, "--from", "bob"]);
    // Revoked: no more service at once, the allowance back after the settle window.
    let revoked = ok(&["keys", "api-key", "show", secret]);
    assert!(revoked["closes_at"].as_u64().is_some(), "{revoked}");
    let out =
        alx(h, &node.api, &["keys", "api-key", "fund", secret, "--amount", "1", "--from", "bob"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("api_key_revoked"));
    let out = alx(h, &node.api, &["rewards", "claim", "--from", "bob"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing_to_claim"));
}
