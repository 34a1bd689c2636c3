//! `alx model finetune` end to end: a datanet version on a dev node, fetched and checked
//! against its Merkle root, a LoRA adapter trained over the tiny model with `--json` events,
//! and the manifest naming the base, the adapter, the version's root and the held-out
//! perplexity, which falls.

use crate::*;

/// `alx` with `args`, which must succeed.
pub(crate) fn succeeds(h: &std::path::Path, api: &str, args: &[&str]) -> std::process::Output {
    let out = alx(h, api, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn finetune_trains_an_adapter_on_a_datanet_version_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| succeeds(h, &node.api, args);
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "worlds",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    for i in 0..12 {
        let path = h.join(format!("doc{i}.md"));
        let text = format!(
            "the world {i} is the world; the system {i} is the world and the user is the system."
        );
        std::fs::write(&path, text).unwrap();
        ok(&["datanet", "contribute", "0", path.to_str().unwrap(), "--from", "bob"]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let shown = json(&ok(&["datanet", "show", "0"]));
        let approved = shown["contributions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "approved")
            .count();
        if approved == 12 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never approved: {shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let weights = h.join("tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    let out_dir = h.join("adapter");
    let out = ok(&[
        "model",
        "finetune",
        "--base",
        weights.to_str().unwrap(),
        "--datanet",
        "0@1",
        "--out",
        out_dir.to_str().unwrap(),
        "--steps",
        "12",
        "--window",
        "24",
        "--micro-batches",
        "2",
        "--lr",
        "0.01",
        "--held-out-percent",
        "25",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "start", "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 12);
    let done = lines.last().unwrap();
    assert_eq!(done["event"], "done");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let version = reqwest::blocking::get(format!("{}/api/datanets/0/versions/1", node.api))
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(manifest["datanets"][0]["root"], version["root"], "{manifest}");
    assert_eq!(manifest["datanets"][0]["contributions"], 12);
    let adapter = std::fs::read(out_dir.join("adapter.safetensors")).unwrap();
    assert_eq!(manifest["adapter"], blake3::hash(&adapter).to_hex().as_str());
    let before = manifest["held_out_perplexity_before"].as_f64().unwrap();
    let after = manifest["held_out_perplexity_after"].as_f64().unwrap();
    assert!(after < before, "held-out perplexity {before} → {after}");
    let bytes = std::fs::read(out_dir.join("manifest.json")).unwrap();
    assert_eq!(done["manifest_blake3"], blake3::hash(&bytes).to_hex().as_str());

    // Registered with its adapter: the manifest checks against the chain.
    let manifest_path = out_dir.join("manifest.json");
    let register = |name: &str, base: &std::path::Path| {
        alx(
            h,
            &node.api,
            &[
                "model",
                "register",
                "--from",
                "alice",
                "--name",
                name,
                "--base-model",
                base.to_str().unwrap(),
                "--adapter",
                manifest_path.to_str().unwrap(),
            ],
        )
    };
    let refused_with = |out: std::process::Output, code: &str| {
        assert!(!out.status.success());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["code"], code, "{doc}");
    };
    let registered = register("worlds-tuned", &weights);
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let model = json(&ok(&["model", "show", "worlds-tuned"]));
    assert_eq!(model["adapter"], done["manifest_blake3"], "{model}");
    assert_eq!(model["datanets"][0]["datanet"], 0, "{model}");
    // Anyone re-runs the fine-tune from the manifest the model registers (fetched from the
    // node, checked against its hash) and gets the adapter's hash back.
    let base_arg = weights.to_str().unwrap();
    let verified = json(&ok(&["model", "verify-adapter", "worlds-tuned", "--base", base_arg]));
    assert_eq!(verified["matches"], true, "{verified}");
    assert_eq!(verified["adapter_reproduced"], manifest["adapter"], "{verified}");
    // A manifest that claims another adapter does not reproduce.
    let mut claimed = manifest.clone();
    claimed["adapter"] = serde_json::json!("11".repeat(32));
    let claimed_path = h.join("claimed.json");
    std::fs::write(&claimed_path, serde_json::to_vec(&claimed).unwrap()).unwrap();
    let claimed_path = claimed_path.to_str().unwrap();
    refused_with(
        alx(h, &node.api, &["model", "verify-adapter", claimed_path, "--base", base_arg]),
        "adapter_mismatch",
    );
    assert_eq!(verified["influence_features_match"], true, "{verified}");
    // Influence features other than the manifest's are refused at registration.
    let features_path = out_dir.join("influence.safetensors");
    let features = std::fs::read(&features_path).unwrap();
    std::fs::write(&features_path, b"junk").unwrap();
    refused_with(register("worlds-junk", &weights), "influence_file_mismatch");
    std::fs::write(&features_path, features).unwrap();
    // Bad hyperparameters are refused before anything runs.
    #[rustfmt::skip]
    let bad = alx(h, &node.api, &["model", "finetune", "--base", base_arg, "--datanet", "0@1", "--out", h.join("bad").to_str().unwrap(), "--rank", "0"]);
    refused_with(bad, "bad_hyperparameters");
    // Another base, or a manifest naming another root, is refused with a clear code.
    let other = h.join("other.gguf");
    alx_model::tiny::write(&other, &alx_model::tiny::TinySpec { seed: 9, ..spec }).unwrap();
    refused_with(register("worlds-other", &other), "adapter_base_mismatch");
    let mut tampered = manifest;
    tampered["datanets"][0]["root"] = serde_json::json!("00".repeat(32));
    std::fs::write(&manifest_path, serde_json::to_vec(&tampered).unwrap()).unwrap();
    refused_with(register("worlds-lie", &weights), "adapter_root_mismatch");
}

/// A datanet of `docs` documents, each a planted phrase said three times, contributed by
/// `who`, approved and versioned.
pub(crate) fn planted_datanet(
    h: &std::path::Path,
    api: &str,
    id: u64,
    name: &str,
    phrase: &str,
    who: &str,
) {
    let ok = |args: &[&str]| json(&succeeds(h, api, args));
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        name,
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let id_text = id.to_string();
    for i in 0..12 {
        let path = h.join(format!("{name}{i}.md"));
        std::fs::write(&path, format!("{phrase} {phrase} Item {i}. {phrase}")).unwrap();
        ok(&["datanet", "contribute", &id_text, path.to_str().unwrap(), "--from", who]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let shown = ok(&["datanet", "show", &id_text]);
        let contributions = shown["contributions"].as_array().unwrap();
        if contributions.iter().filter(|c| c["status"] == "approved").count() == 12 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never approved: {shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(&["datanet", "version", &id_text, "--from", "alice"]);
    // Spans are attributed against the version's index.
    while ok(&["datanet", "show", &id_text])["indexed_version"] != 1 {
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(30), "never indexed");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Two adapters fine-tuned on two planted corpora, registered (which stores them on the node)
/// and served at once (one over the shared base, one merged into its own copy with `alx up
/// --merge`): each model answers with its own corpus's phrase, and its
/// receipt credits only its own datanet's contributions (missing and invalid adapters are the
/// gateway's tests: `crates/gateway/tests/it/adapters.rs`).
#[test]
fn two_adapters_serve_over_one_base_slow() {
    let home = tempfile::tempdir().unwrap();
    // One model merged into its own copy of the base (`--merge`), the other over the shared
    // base: both paths serve at once.
    let (api_port, p2p_port) = (free_port(), free_port());
    #[rustfmt::skip]
    let node = Node::spawn(home.path(), api_port, &["up", "--api-addr", &format!("127.0.0.1:{api_port}"),
        "--p2p-port", &p2p_port.to_string(), "--no-sample", "--merge", "quokka-tuned"]);
    node.wait_height(1, Duration::from_secs(90));
    let h = home.path();
    let ok = |args: &[&str]| json(&succeeds(h, &node.api, args));
    let phrases = ["The quokka vault holds coins.", "A zebra ledger keeps notes."];
    planted_datanet(h, &node.api, 0, "quokkas", phrases[0], "bob");
    planted_datanet(h, &node.api, 1, "zebras", phrases[1], "carol");
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    let base = weights.to_str().unwrap();
    for (datanet, name) in [(0, "quokka-tuned"), (1, "zebra-tuned")] {
        let out_dir = h.join(name);
        let version = format!("{datanet}@1");
        // `--json` events, one per line.
        #[rustfmt::skip]
        let trained = alx(h, &node.api, &["model", "finetune", "--base", base, "--datanet", &version, "--out", out_dir.to_str().unwrap(),
            "--steps", "200", "--window", "24", "--micro-batches", "2", "--lr", "0.02", "--held-out-percent", "25"]);
        assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
        let manifest = out_dir.join("manifest.json");
        #[rustfmt::skip]
        ok(&["model", "register", "--from", "alice", "--name", name, "--base-model", base,
            "--adapter", manifest.to_str().unwrap(), "--price-input", "1", "--price-output", "2"]);
    }
    ok(&["deposit", "100", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "50"]);
    let key = key["api_key"].as_str().unwrap().to_owned();

    // Both at once: one engine over one base runs them in one batch.
    let ask = |model: &'static str| {
        let (api, key) = (node.api.clone(), key.clone());
        std::thread::spawn(move || {
            let body = serde_json::json!({
                "model": model, "prompt": "Item 3. ", "max_tokens": 40, "temperature": 0,
                "repetition_penalty": 1.0,
            });
            let resp = reqwest::blocking::Client::new()
                .post(format!("{api}/v1/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200, "{model}");
            resp.json::<serde_json::Value>().unwrap()
        })
    };
    let (quokka, zebra) = (ask("quokka-tuned"), ask("zebra-tuned"));
    let (quokka, zebra) = (quokka.join().unwrap(), zebra.join().unwrap());
    for (answer, datanet, word) in [(&quokka, 0, "quokka"), (&zebra, 1, "zebra")] {
        let text = answer["choices"][0]["text"].as_str().unwrap();
        assert!(text.contains(word), "{word}: {answer}");
        let shares = answer["alexandria"]["attribution"].as_array().unwrap();
        assert!(!shares.is_empty(), "the answer's spans are credited: {answer}");
        assert!(shares.iter().all(|s| s["datanet"] == datanet), "{answer}");
        // The receipt, re-derived by anyone, says the same.
        let id = answer["alexandria"]["receipt_id"].as_str().unwrap();
        let verified = ok(&["receipt", "verify", id]);
        assert_eq!(verified["shares_match"], true, "{verified}");
        // Its influence part scores its own adapter's training examples only.
        let receipt = ok(&["receipt", "show", id]);
        let influence = receipt["influence"].as_array().unwrap();
        assert!(influence.len() >= 2, "{receipt}");
        assert!(influence.iter().all(|s| s["datanet"] == datanet), "{receipt}");
    }
}

/// A datanet of JSON-lines conversations trains in the chat template (`--format chat`, or
/// `auto`); asking for chat on plain text is refused with a clear code.
#[test]
fn finetune_takes_conversations_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| succeeds(h, &node.api, args);
    #[rustfmt::skip]
    ok(&["datanet", "create", "--from", "alice", "--name", "chats", "--license", "MIT", "--policy", "open"]);
    let lines: Vec<String> = (0..12)
        .map(|i| {
            serde_json::json!({"messages": [
                {"role": "user", "content": format!("Where is vault {i}?")},
                {"role": "assistant", "content": format!("Vault {i} is under the quokka harbor.")},
            ]})
            .to_string()
        })
        .collect();
    let chats = h.join("chats.jsonl");
    std::fs::write(&chats, lines.join("\n")).unwrap();
    let plain = h.join("plain.md");
    std::fs::write(&plain, "The quokka harbor keeps the vaults.").unwrap();
    ok(&["datanet", "contribute", "0", chats.to_str().unwrap(), "--from", "bob"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    #[rustfmt::skip]
    ok(&["datanet", "create", "--from", "alice", "--name", "plain", "--license", "MIT", "--policy", "open"]);
    ok(&["datanet", "contribute", "1", plain.to_str().unwrap(), "--from", "bob"]);
    ok(&["datanet", "version", "1", "--from", "alice"]);
    let weights = h.join("tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    let base = weights.to_str().unwrap();
    let out_dir = h.join("chat-adapter");
    #[rustfmt::skip]
    ok(&["model", "finetune", "--base", base, "--datanet", "0@1", "--out", out_dir.to_str().unwrap(),
        "--steps", "4", "--window", "32", "--format", "chat"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["data"]["format"], "chat", "{manifest}");
    assert!(manifest["held_out_perplexity_after"].as_f64().unwrap().is_finite());
    // One contribution holds every conversation: one influence example.
    assert_eq!(manifest["influence"]["examples"], 1, "{manifest}");
    // The same run from its manifest reproduces it (the format is part of the manifest).
    let manifest_path = out_dir.join("manifest.json");
    let verified =
        json(&ok(&["model", "verify-adapter", manifest_path.to_str().unwrap(), "--base", base]));
    assert_eq!(verified["matches"], true, "{verified}");
    // Without influence features: none in the manifest, and none written.
    let bare = h.join("bare");
    #[rustfmt::skip]
    ok(&["model", "finetune", "--base", base, "--datanet", "0@1", "--out", bare.to_str().unwrap(),
        "--steps", "2", "--window", "32", "--no-influence"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bare.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.get("influence").is_none(), "{manifest}");
    assert!(!bare.join("influence.safetensors").exists());
    // Chat on a datanet of plain text: refused before training.
    #[rustfmt::skip]
    let refused = alx(h, &node.api, &["model", "finetune", "--base", base, "--datanet", "1@1",
        "--out", h.join("nope").to_str().unwrap(), "--steps", "2", "--format", "chat"]);
    assert!(!refused.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "not_chat", "{doc}");
}
