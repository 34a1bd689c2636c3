//! The main loop end to end, on one node: contribute → version → register a model → chat
//! through the OpenAI-compatible gateway → settle → the contributor's claimable balance grows
//! by exactly the credit its receipt names. Plus the gateway's error shapes and streaming.

use crate::*;
use alx_types::usage_api::UsageReceipt;

pub(crate) const KNOWLEDGE: &str = "The quokka vault module stores coins in a quokka_vault resource. \
    To withdraw, call quokka_vault::withdraw with a signer and an amount; deposits use \
    quokka_vault::deposit. Every vault emits a QuokkaEvent on each change.";

fn post(
    api: &str,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::blocking::Response {
    let mut req = reqwest::blocking::Client::new().post(format!("{api}{path}")).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().unwrap()
}

#[test]
fn chat_is_paid_attributed_and_settled_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    // Data: bob's text in version 1 of datanet 0.
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
    let doc = h.join("vault.md");
    std::fs::write(&doc, KNOWLEDGE).unwrap();
    ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ok(&["datanet", "show", "0"])["indexed_version"] != 1 {
        assert!(std::time::Instant::now() < deadline, "never indexed");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A model: a tiny generated GGUF in the node's model directory, registered by alice.
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
        "--price-input",
        "1",
        "--price-output",
        "2",
    ]);

    // A payer: carol deposits and creates a key for this node.
    ok(&["deposit", "100", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "50"]);
    let key = key["api_key"].as_str().unwrap().to_owned();

    let models: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/models", node.api))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(models["data"][0]["id"], "vault-helper");

    let chat = serde_json::json!({
        "model": "vault-helper",
        "messages": [{"role": "user", "content": "How do I withdraw from a quokka vault?"}],
        "max_tokens": 12, "temperature": 0,
    });
    let resp = post(&node.api, "/v1/chat/completions", Some(&key), &chat);
    assert_eq!(resp.status(), 200);
    // The model's time and the gateway's own, for clients and `alx bench inference`.
    let timing = resp.headers()["server-timing"].to_str().unwrap().to_owned();
    assert!(timing.starts_with("model;dur=") && timing.contains(", gateway;dur="), "{timing}");
    let answer: serde_json::Value = resp.json().unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    let x = &answer["alexandria"];
    assert_eq!(x["citations"][0]["contribution"], 0, "{answer}");
    assert_eq!(x["attribution"][0]["contribution"], 0);
    assert_eq!(x["attribution"][0]["bps"], 10_000);
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 20);

    // The receipt: signed by the node, and its credit is what bob will be paid.
    let id = x["receipt_id"].as_str().unwrap();
    let receipt: UsageReceipt =
        reqwest::blocking::get(format!("{}/api/receipts/{id}", node.api)).unwrap().json().unwrap();
    assert!(receipt.verify(), "the receipt's signature or id does not check");
    let fee = receipt.body.fee.0;
    assert_eq!(x["fee"], fee.to_string());
    let credit = receipt.body.credits[0].amount.0;
    assert_eq!(credit, fee / 2, "bob's credit is the whole data share (50%)");

    // Anyone can check the receipt: signature, and shares re-derived from its output.
    let verified = ok(&["receipt", "verify", id]);
    assert_eq!(verified["signature_valid"], true, "{verified}");
    assert_eq!(verified["shares_match"], true, "{verified}");
    assert_eq!(verified["span_shares_match"], true, "{verified}");

    // Greedy generation is deterministic.
    let again: serde_json::Value =
        post(&node.api, "/v1/chat/completions", Some(&key), &chat).json().unwrap();
    assert_eq!(
        again["choices"][0]["message"]["content"],
        answer["choices"][0]["message"]["content"]
    );

    // Settlement: both receipts, then bob's claimable balance holds exactly both credits.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let paid = loop {
        let r = ok(&["rewards", "show", "bob"]);
        let claimable: u128 = r["claimable"].as_str().unwrap().parse().unwrap();
        if claimable >= 2 * credit {
            break claimable;
        }
        assert!(std::time::Instant::now() < deadline, "never settled: {r}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(paid >= 2 * credit);
    // Exactly the two credits came from settlement (the rest, if an epoch ended meanwhile, is
    // bob's part of the data emission pool).
    let shown = ok(&["datanet", "show", "0"]);
    let earned: u128 = shown["contributions"][0]["earned"].as_str().unwrap().parse().unwrap();
    assert_eq!(earned, 2 * credit, "{shown}");
    // The settlement that paid the receipt checks against the batch the node published, and is
    // read from a finalized block; a node that alters the batch or the settlement is caught.
    let settled = ok(&["receipt", "settlement", id, "--proof"]);
    assert_eq!(settled["receipt"], id, "{settled}");
    assert!(settled["charged"].as_u64().unwrap() >= 1, "{settled}");
    assert!(settled["verified"]["signers_needed"].as_u64().unwrap() >= 1, "{settled}");
    let lie = std::sync::Arc::new(std::sync::Mutex::new(crate::light::Lie::Nothing));
    let proxy = crate::light::lying_proxy(&node.api, lie.clone());
    for (told, code) in [
        (crate::light::Lie::BatchLeaf, "batch_root_mismatch"),
        (crate::light::Lie::BatchReceipt, "receipt_not_signed"),
        (crate::light::Lie::TxContents, "proof_refused"),
        (crate::light::Lie::Certificate, "proof_refused"),
    ] {
        *lie.lock().unwrap() = told;
        for command in ["settlement", "verify"] {
            let out = alx(h, &proxy, &["receipt", command, id, "--proof"]);
            assert!(!out.status.success(), "{told:?} was believed by receipt {command}");
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["error"]["code"], code, "{told:?}: {doc}");
        }
    }
    // Told the truth, `receipt verify --proof` checks the receipt and proves its settlement.
    let verified = ok(&["receipt", "verify", id, "--proof"]);
    assert_eq!(verified["shares_match"], true, "{verified}");
    assert!(verified["settlement"]["verified"]["signers_needed"].as_u64().unwrap() >= 1);
    // Carol paid exactly the two fees, out of the key's allowance; her free deposit is whole.
    let carol = ok(&["rewards", "show", "carol"]);
    assert_eq!(carol["prepaid"].as_str().unwrap().parse::<u128>().unwrap(), 50_000_000_000);
    let shown_key = ok(&["keys", "api-key", "show", &key]);
    let allowance: u128 = shown_key["allowance"].as_str().unwrap().parse().unwrap();
    assert_eq!(allowance, 50_000_000_000 - 2 * fee, "{shown_key}");
}

#[test]
fn gateway_errors_have_openai_shapes_and_streaming_works_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    alx_model::tiny::write(&weights, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    ok(&[
        "model",
        "register",
        "--from",
        "alice",
        "--name",
        "tiny",
        "--base-model",
        weights.to_str().unwrap(),
    ]);
    ok(&["deposit", "1", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "1"]);
    let key = key["api_key"].as_str().unwrap().to_owned();
    let msg = |extra: serde_json::Value| {
        let mut body =
            serde_json::json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let expect = |resp: reqwest::blocking::Response, status: u16, code: &str| {
        let got = resp.status();
        let body: serde_json::Value = resp.json().unwrap();
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    };
    expect(
        post(&node.api, "/v1/chat/completions", None, &msg(serde_json::json!({}))),
        401,
        "invalid_api_key",
    );
    expect(
        post(&node.api, "/v1/chat/completions", Some("alx-sk-nope"), &msg(serde_json::json!({}))),
        401,
        "invalid_api_key",
    );
    expect(
        post(
            &node.api,
            "/v1/chat/completions",
            Some(&key),
            &msg(serde_json::json!({"model": "gpt-9"})),
        ),
        404,
        "model_not_found",
    );
    expect(
        post(
            &node.api,
            "/v1/chat/completions",
            Some(&key),
            &msg(serde_json::json!({"max_tokens": -1})),
        ),
        400,
        "invalid_value",
    );
    expect(
        post(
            &node.api,
            "/v1/chat/completions",
            Some(&key),
            &msg(serde_json::json!({"max_tokens": 60})),
        ),
        400,
        "context_length_exceeded",
    );
    // Streamed, the same refusal is a plain HTTP error, not a 200 with an error event.
    expect(
        post(
            &node.api,
            "/v1/chat/completions",
            Some(&key),
            &msg(serde_json::json!({"max_tokens": 60, "stream": true})),
        ),
        400,
        "context_length_exceeded",
    );
    let bad_json = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.api))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .unwrap();
    expect(bad_json, 400, "invalid_json");

    // Streaming: chunks, then a last chunk with the receipt, then [DONE].
    let body = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.api))
        .bearer_auth(&key)
        .json(&msg(serde_json::json!({"stream": true, "max_tokens": 8, "temperature": 0})))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{body}");
    let last: serde_json::Value = serde_json::from_str(events[events.len() - 2]).unwrap();
    assert_eq!(last["object"], "chat.completion.chunk");
    assert!(last["alexandria"]["receipt_id"].is_string(), "{last}");
    // Nothing left: a charge beyond the key's limit is refused before any work.
    ok(&["keys", "api-key", "revoke", &key, "--from", "carol"]);
    expect(
        post(&node.api, "/v1/chat/completions", Some(&key), &msg(serde_json::json!({}))),
        401,
        "invalid_api_key",
    );
}

/// `alx up` on a new home with the real SmolLM2: the sample datanet, model and key are set
/// up, `alx chat` answers with a receipt that credits the datanet, and bob (who contributed
/// it) earns once it settles.
#[test]
fn up_sets_up_the_sample_and_chat_answers_with_smollm2_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api_port = free_port();
    let node = Node::spawn(
        h,
        api_port,
        &[
            "up",
            "--api-addr",
            &format!("127.0.0.1:{api_port}"),
            "--p2p-port",
            &free_port().to_string(),
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !h.join("sample.json").exists() {
        assert!(std::time::Instant::now() < deadline, "the sample was never set up");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Text mode: the answer streams, then the receipt and the attribution.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alx"))
        .args(["--home", h.to_str().unwrap(), "--node", &node.api])
        .args(["chat", "How do I withdraw coins from a balance in Move?", "--max-tokens", "40"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("receipt") && text.contains("contribution #"), "{text}");
    let answer =
        json(&alx(h, &node.api, &["chat", "What is a resource in Move?", "--max-tokens", "30"]));
    assert!(!answer["choices"][0]["message"]["content"].as_str().unwrap().is_empty());
    assert_eq!(answer["alexandria"]["model"], "smollm2-move");
    // The README's headline question, as written: on topic, cited, and no loop (greedy decoding
    // of a 135M model repeated a code block to the token limit before the default penalty).
    let headline = json(&alx(h, &node.api, &["chat", "How do I withdraw coins in Move?"]));
    let content = headline["choices"][0]["message"]["content"].as_str().unwrap().to_lowercase();
    assert!(content.contains("withdraw") || content.contains("coin"), "off topic: {content}");
    assert_eq!(headline["alexandria"]["citations"][0]["contribution"], 1, "{headline}");
    assert_no_loop(&content);
    // A question the datanet cannot answer: no passages, no data share, a short prompt.
    let off = json(&alx(h, &node.api, &["chat", "What is the capital of France?"]));
    assert_eq!(off["alexandria"]["citations"], serde_json::json!([]), "{off}");
    assert_eq!(off["alexandria"]["attribution"], serde_json::json!([]), "{off}");
    assert!(off["usage"]["prompt_tokens"].as_u64().unwrap() < 80, "{off}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = json(&alx(h, &node.api, &["rewards", "show", "bob"]));
        if r["claimable"].as_str().unwrap() != "0" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "bob never earned: {r}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A node on loopback serving a generated tiny model registered as `tiny`, and an API key of
/// carol's with `alx_amount` ALX of allowance (the home lives as long as the returned guard).
pub(crate) fn tiny_model_node(alx_amount: &str) -> (tempfile::TempDir, Node, String) {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 512, ..alx_model::tiny::TinySpec::DEFAULT };
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
    ]);
    ok(&["deposit", alx_amount, "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", alx_amount]);
    let key = key["api_key"].as_str().unwrap().to_owned();
    (home, node, key)
}

/// Fails when some run of 6 words comes back 3 times or more: the signature of a decoding loop.
fn assert_no_loop(text: &str) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut seen: std::collections::BTreeMap<&[&str], usize> = std::collections::BTreeMap::new();
    for run in words.windows(6) {
        let n = seen.entry(run).or_default();
        *n += 1;
        assert!(*n < 3, "the answer loops on {run:?}: {text}");
    }
}

/// The Python interpreter with the `openai` package: `ALX_PYTHON` (CI sets it to a venv), else
/// `python3` if it can import `openai`.
fn openai_python() -> Option<String> {
    let candidates = std::env::var("ALX_PYTHON").into_iter().chain(["python3".to_owned()]);
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

#[test]
fn official_openai_python_client_works_slow() {
    let Some(python) = openai_python() else {
        assert!(
            std::env::var_os("ALX_REQUIRE_OPENAI").is_none(),
            "ALX_REQUIRE_OPENAI is set but no Python with the openai package was found"
        );
        eprintln!("skipped: no Python with the `openai` package (set ALX_PYTHON)");
        return;
    };
    let (_home, node, key) = tiny_model_node("10");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_client.py");
    let out = std::process::Command::new(python)
        .args([script, &node.api, &key, "tiny"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Continuous batching end to end: sixteen different greedy chats sent at once (they share the
/// engine's forward passes) answer exactly as the same sixteen sent one after another, and a
/// streamed client that leaves after two chunks neither stalls the others nor pays for more
/// than was generated.
#[test]
fn sixteen_concurrent_chats_answer_as_sixteen_sequential_ones_slow() {
    let (_home, node, key) = tiny_model_node("100");
    let ask = |i: usize| {
        let body = serde_json::json!({
            "model": "tiny", "temperature": 0, "max_tokens": 12 + i % 5,
            "messages": [{"role": "user", "content": format!("question number {i}: {}", "word ".repeat(i))}],
        });
        let r = post(&node.api, "/v1/chat/completions", Some(&key), &body);
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().unwrap();
        (v["choices"][0]["message"]["content"].as_str().unwrap().to_owned(), v["usage"].clone())
    };
    let sequential: Vec<_> = (0..16).map(ask).collect();
    let concurrent: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16).map(|i| s.spawn(move || ask(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sequential, concurrent);

    // A client that reads two chunks of a long stream and leaves.
    let body = serde_json::json!({"model": "tiny", "temperature": 0, "max_tokens": 400, "stream": true,
        "messages": [{"role": "user", "content": "go on"}]});
    let mut r = post(&node.api, "/v1/chat/completions", Some(&key), &body);
    let mut buf = [0u8; 64];
    std::io::Read::read(&mut r, &mut buf).unwrap();
    drop(r);
    // The others are served meanwhile, and the receipt of the abandoned stream charges fewer
    // tokens than it asked for.
    assert_eq!(ask(3), sequential[3]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics =
            reqwest::blocking::get(format!("{}/metrics", node.api)).unwrap().text().unwrap();
        let value = |name: &str| {
            metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        // The abandoned stream was counted, and left the batch with its cache budget.
        if value("alx_gateway_client_gone_total ").is_some_and(|n| n > 0)
            && value("alx_gateway_engine_running ") == Some(0)
            && value("alx_gateway_engine_cache_bytes ") == Some(0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned stream never ended:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
