//! A subnet competition end to end: three miners serve different models (SmolLM2 with a LoRA
//! adapter fine-tuned on the subnet's datanet, the bare SmolLM2, and a tiny random model), one
//! validator scores them on the held-out split of the subnet's datanet (text and
//! question/answer pairs), commits and reveals weights every epoch, and Yuma pays the better
//! model (lower held-out perplexity) the higher incentive: the fine-tune above its bare base,
//! the base above noise. The gateway's `subnet/NAME` route then answers with the best, and its
//! receipt credits the datanet.

use crate::*;

const TEXT: &str = "A library keeps books so that people can read them. Readers borrow a book, \
    read it at home, and bring it back after a few weeks. Librarians help visitors find what \
    they need, and they organise the shelves by subject so that related books stand together. \
    Many libraries also lend music and films, offer computers with internet access, and hold \
    reading groups for children and adults. A good library is a quiet place to study and a \
    friendly place to meet neighbours.";

/// Question/answer pairs, as JSON lines that also pass the ingest rule (a `text` field).
const QA: &str = r#"{"text": "Readers borrow books from a library.", "question": "What do readers borrow from a library?", "answer": "books"}
{"text": "Libraries lend music and films.", "prompt": "Besides books, what do libraries lend?", "completion": "music"}
{"text": "Librarians help visitors find what they need.", "question": "Who helps visitors find what they need in a library?", "answer": "librarians"}
"#;

fn spawn(h: &std::path::Path, api: &str, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["--node", api])
        .args(args)
        .env("ALX_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("alx runs")
}

#[test]
fn the_better_model_earns_the_higher_incentive_slow() {
    // Fails, rather than passing without the model: CI fetches it (.ci/run).
    let smollm2 = crate::neuron::smollm2();
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| json(&alx(h, &node.api, args));
    // The evaluation text: a datanet version.
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "libraries",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let doc = h.join("library.md");
    std::fs::write(&doc, TEXT).unwrap();
    let qa = h.join("library-qa.jsonl");
    std::fs::write(&qa, QA).unwrap();
    // The split holds the contributions whose hash starts with a multiple of 5, or all when
    // none does: here none does, so the text and the questions are both evaluated.
    let held = |text: &str| blake3::hash(text.as_bytes()).as_bytes()[0].is_multiple_of(5);
    assert!(!held(QA) && !held(TEXT), "the split is not the whole version: change the texts");
    let (doc, qa) = (doc.to_str().unwrap(), qa.to_str().unwrap());
    ok(&["datanet", "contribute", "0", doc, qa, "--from", "alice"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);

    // Two models: bob's is SmolLM2, carol's a tiny random model.
    let tiny = h.join("tiny.gguf");
    let spec =
        alx_model::tiny::TinySpec { context_length: 1024, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&tiny, &spec).unwrap();
    for (who, name, weights) in [("bob", "smol", &smollm2), ("carol", "noise", &tiny)] {
        let w = weights.to_str().unwrap();
        ok(&[
            "model",
            "register",
            "--from",
            who,
            "--name",
            name,
            "--base-model",
            w,
            "--datanet",
            "0@1",
            "--price-input",
            "1",
            "--price-output",
            "1",
        ]);
    }
    ok(&[
        "subnet",
        "create",
        "--from",
        "alice",
        "--name",
        "libraries",
        "--task",
        "answer questions about libraries",
        "--datanet",
        "0@1",
        "--tempo",
        "10",
    ]);

    // A third: dave's SmolLM2 fine-tuned on the datanet (a few steps), registered with its
    // adapter (stored on the node, served over the shared base).
    ok(&["keys", "new", "dave", "--no-passphrase"]);
    ok(&["transfer", "--from", "bob", "--to", "dave", "--amount", "1000"]);
    let tuned_dir = h.join("tuned");
    #[rustfmt::skip]
    let trained = alx(h, &node.api, &["model", "finetune", "--base", smollm2.to_str().unwrap(),
        "--datanet", "0@1", "--out", tuned_dir.to_str().unwrap(), "--steps", "8", "--window", "64",
        "--micro-batches", "2", "--lr", "0.003", "--held-out-percent", "50"]);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    let manifest = tuned_dir.join("manifest.json");
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "dave", "--name", "smol-tuned", "--base-model",
        smollm2.to_str().unwrap(), "--adapter", manifest.to_str().unwrap(),
        "--price-input", "1", "--price-output", "1"]);

    // The miners, then the validator: alice, with stake bonded to the node's validator (the
    // dev genesis bonds only the validators' own keys).
    let validator = node.client().status().unwrap().validators[0].to_string();
    ok(&["stake", "bond", "--from", "alice", "--validator", &validator, "--amount", "1000"]);
    let miners =
        [("bob", "smol", &smollm2), ("carol", "noise", &tiny), ("dave", "smol-tuned", &smollm2)];
    let mut miners: Vec<_> = miners
        .into_iter()
        .map(|(who, model, weights)| {
            let w = weights.to_str().unwrap();
            spawn(
                h,
                &node.api,
                &["miner", "run", "0", "--model", model, "--from", who, "--weights", w],
            )
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ok(&["subnet", "metagraph", "0"])["neurons"].as_array().unwrap().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "the miners never registered");
        std::thread::sleep(Duration::from_millis(300));
    }
    let validator = alx(
        h,
        &node.api,
        &["validator", "run", "0", "--from", "alice", "--epochs", "2", "--eval-tokens", "96"],
    );
    let stderr = String::from_utf8_lossy(&validator.stderr);
    assert!(validator.status.success(), "{stderr}");
    assert!(stderr.contains("/3 answers ("), "the validator asked no question: {stderr}");
    assert!(!stderr.contains("adapter_unusable"), "the adapter was not scored: {stderr}");

    // The second reveal counts in the epoch it was made in: wait for that epoch to end.
    let seen = ok(&["subnet", "show", "0"])["epochs"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ok(&["subnet", "show", "0"])["epochs"].as_u64().unwrap() <= seen {
        assert!(std::time::Instant::now() < deadline, "no epoch after the reveal");
        std::thread::sleep(Duration::from_millis(300));
    }
    let graph = ok(&["subnet", "metagraph", "0"]);
    let incentive = |model: u64| {
        graph["neurons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["model"] == model)
            .map(|n| n["incentive"].as_u64().unwrap())
            .unwrap()
    };
    let (smol, noise, tuned) = (incentive(0), incentive(1), incentive(2));
    assert!(smol > noise, "SmolLM2 {smol} vs noise {noise}: {graph}");
    assert!(tuned > smol, "the fine-tune {tuned} vs its bare base {smol}: {graph}");
    let validator = graph["neurons"].as_array().unwrap().iter().find(|n| n["kind"] == "validator");
    assert!(validator.unwrap()["dividends"].as_u64().unwrap() > 0, "{graph}");

    // The subnet's route answers with its top miner's model.
    ok(&["deposit", "10", "--from", "carol"]);
    let key = ok(&["keys", "api-key", "create", "--from", "carol", "--limit", "5"]);
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.api))
        .bearer_auth(key["api_key"].as_str().unwrap())
        .json(&serde_json::json!({
            "model": "subnet/libraries", "max_tokens": 4,
            "messages": [{"role": "user", "content": "What does a library lend?"}],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["model"], "smol-tuned", "{answer}");
    let shares = answer["alexandria"]["attribution"].as_array().unwrap();
    assert!(shares.iter().all(|s| s["datanet"] == 0), "{answer}");
    let listed: serde_json::Value =
        reqwest::blocking::get(format!("{}/v1/models/subnet/libraries", node.api))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(listed["id"], "smol-tuned", "{listed}");
    for m in &mut miners {
        let _ = m.kill();
        let _ = m.wait();
    }
}
