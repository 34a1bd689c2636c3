//! Evaluation end to end. Sealed sets: a miner whose model was fine-tuned on the subnet's public
//! split beats the bare base there, but scored on a set the owner sealed while private and
//! revealed after the miners registered, it gains nothing; a miner registered after the reveal
//! (who could have trained on the set) is not scored on it. Scoring as served: the node scores
//! a model with the retrieval users get, so a model drawing on the task's datanet beats the
//! same weights without it, where scoring the bare weights cannot tell them apart.

use crate::*;

/// The public datanet: two texts in one made-up vocabulary, which the tuned miner learns (the
/// fine-tune holds one out, so both share their words).
const PUBLIC: [&str; 2] = [
    "Zorblat quenfy mirrovax plindle. The quenfy zorblat drabs a mirrovax under the plindle, \
     and every plindle drabs twice. Mirrovax quenfy, zorblat plindle drabs.",
    "Quenfy the mirrovax, zorblat the plindle, and the drabs come back to the zorblat at dusk. \
     A plindle quenfy drabs the mirrovax; zorblat mirrovax plindle quenfy.",
];

/// The sealed set: the task's questions in plain English, unlike anything public.
const SEALED: &str = r#"{"text": "A library lends books to its readers, who bring them back after a few weeks.", "question": "What does a library lend to its readers?", "answer": "books"}
{"text": "Librarians organise the shelves by subject so that related books stand together.", "question": "Who organises the shelves of a library?", "answer": "librarians"}
"#;

fn spawn(h: &std::path::Path, api: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["--node", api])
        .args(args)
        .env("ALX_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("alx runs")
}

/// What one validator run reported: each scored uid's nats per byte and correct answers, and
/// why the others were not scored.
struct Run {
    scored: Vec<(u64, f64)>,
    correct: Vec<(u64, u64)>,
    refused: Vec<(u64, String)>,
}

/// Runs the validator for one reveal (likelihood only, unless `extra` says otherwise) and
/// returns its events.
fn validate(h: &std::path::Path, api: &str, extra: &[&str]) -> Run {
    #[rustfmt::skip]
    let mut args = vec!["validator", "run", "0", "--from", "alice", "--epochs", "1",
        "--eval-tokens", "96"];
    if !extra.contains(&"--eval-questions") {
        args.extend(["--eval-questions", "0"]);
    }
    args.extend(extra);
    let out = alx(h, api, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let scored = events
        .iter()
        .filter(|e| e["event"] == "scored")
        .map(|e| (e["uid"].as_u64().unwrap(), e["score"]["nats_per_byte"].as_f64().unwrap()))
        .collect();
    let correct = events
        .iter()
        .filter(|e| e["event"] == "scored")
        .map(|e| {
            let correct = e["score"]["accuracy"]["correct"].as_u64().unwrap_or(0);
            (e["uid"].as_u64().unwrap(), correct)
        })
        .collect();
    let refused = events
        .iter()
        .filter(|e| e["event"] == "not_scored")
        .map(|e| (e["uid"].as_u64().unwrap(), e["reason"].as_str().unwrap_or("").to_owned()))
        .collect();
    Run { scored, correct, refused }
}

/// Datanet 0 (`name`, holding `texts` in version 1) and subnet 0 (`name`, on `0@1`, tempo 10),
/// both alice's, and the sealed set `set` as alice's seal 0.
fn subnet_with_sealed_set(
    h: &std::path::Path,
    api: &str,
    (name, texts): (&str, &[&str]),
    set: &str,
) {
    let ok = |args: &[&str]| json(&alx(h, api, args));
    #[rustfmt::skip]
    ok(&["datanet", "create", "--from", "alice", "--name", name, "--license", "MIT", "--policy", "open"]);
    let files: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = h.join(format!("{name}-{i}.md"));
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    let mut contribute = vec!["datanet", "contribute", "0"];
    contribute.extend(files.iter().map(String::as_str));
    contribute.extend(["--from", "alice"]);
    ok(&contribute);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let task = format!("answer questions about {name}");
    #[rustfmt::skip]
    ok(&["subnet", "create", "--from", "alice", "--name", name, "--task", &task, "--datanet", "0@1",
        "--tempo", "10"]);
    let sealed = h.join(format!("{name}-sealed.jsonl"));
    std::fs::write(&sealed, set).unwrap();
    let seal =
        ok(&["subnet", "seal-eval", "0", "--file", sealed.to_str().unwrap(), "--from", "alice"]);
    assert_eq!(seal["seal"], 0, "{seal}");
}

#[test]
fn a_miner_trained_on_the_public_split_gains_nothing_on_a_sealed_set_slow() {
    let smollm2 = crate::neuron::smollm2();
    let smol = smollm2.to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let (h, api) = (home.path(), node.api.as_str());
    let ok = |args: &[&str]| json(&alx(h, api, args));
    // The owner seals its private set before anyone competes.
    subnet_with_sealed_set(h, api, ("plindles", &PUBLIC), SEALED);

    // bob serves the bare SmolLM2; dave the same base fine-tuned on the public datanet.
    ok(&["keys", "new", "dave", "--no-passphrase"]);
    ok(&["transfer", "--from", "bob", "--to", "dave", "--amount", "1000"]);
    let tuned = h.join("tuned");
    #[rustfmt::skip]
    let trained = alx(h, api, &["model", "finetune", "--base", smol, "--datanet", "0@1", "--out",
        tuned.to_str().unwrap(), "--steps", "12", "--window", "32", "--micro-batches", "2",
        "--lr", "0.004", "--held-out-percent", "1"]);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    let manifest = tuned.join("manifest.json");
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "bob", "--name", "smol", "--base-model", smol,
        "--price-input", "1", "--price-output", "1"]);
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "dave", "--name", "smol-tuned", "--base-model", smol,
        "--adapter", manifest.to_str().unwrap(), "--price-input", "1", "--price-output", "1"]);
    let validator = node.client().status().unwrap().validators[0].to_string();
    ok(&["stake", "bond", "--from", "alice", "--validator", &validator, "--amount", "1000"]);
    let mut miners: Vec<_> = [("bob", "smol"), ("dave", "smol-tuned")]
        .into_iter()
        .map(|(who, model)| {
            spawn(
                h,
                api,
                &["miner", "run", "0", "--model", model, "--from", who, "--weights", smol],
            )
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ok(&["subnet", "metagraph", "0"])["neurons"].as_array().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the miners never registered");
        std::thread::sleep(Duration::from_millis(300));
    }
    let uid_of = |model: u64| {
        let graph = ok(&["subnet", "metagraph", "0"]);
        graph["neurons"].as_array().unwrap().iter().find(|n| n["model"] == model).unwrap()["uid"]
            .as_u64()
            .unwrap()
    };
    let (bob, dave) = (uid_of(0), uid_of(1));

    // Before any reveal, validators score the public split: the fine-tune wins there.
    let public_scores = validate(h, api, &[]).scored;
    let nats = |scores: &[(u64, f64)], uid| scores.iter().find(|(u, _)| *u == uid).unwrap().1;
    assert!(
        nats(&public_scores, dave) < nats(&public_scores, bob) * 0.9,
        "the public split favours the fine-tune: {public_scores:?}"
    );

    // The reveal, then a latecomer who could have trained on the revealed set.
    let revealed = alx(h, api, &["subnet", "reveal-eval", "0", "--seal", "0", "--from", "alice"]);
    json(&revealed);
    ok(&["keys", "new", "eve", "--no-passphrase"]);
    ok(&["transfer", "--from", "bob", "--to", "eve", "--amount", "1000"]);
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "eve", "--name", "smol-late", "--base-model", smol,
        "--price-input", "1", "--price-output", "1"]);
    #[rustfmt::skip]
    ok(&["subnet", "register-miner", "0", "--model", "smol-late", "--endpoint",
        "http://127.0.0.1:9/v1", "--from", "eve"]);
    let eve = uid_of(2);

    let Run { scored: scores, refused, .. } = validate(h, api, &[]);
    assert!(
        nats(&scores, dave) >= nats(&scores, bob) * 0.98,
        "on the sealed set the fine-tune gains nothing: {scores:?} (public: {public_scores:?})"
    );
    let late = refused.iter().find(|(u, _)| *u == eve);
    assert!(
        late.is_some_and(|(_, why)| why.contains("after the latest evaluation set")),
        "the latecomer is not scored on the set: {refused:?} {scores:?}"
    );
    // The figures, for the record (docs/design/evaluation.md quotes a run).
    eprintln!("nats/byte public {public_scores:?}, sealed {scores:?} (bob {bob}, dave {dave})");
    let evals = ok(&["subnet", "evals", "0"]);
    assert!(evals[0]["revealed_at"].as_u64().is_some(), "{evals}");
    for m in &mut miners {
        let _ = m.kill();
        let _ = m.wait();
    }
}

/// The task's datanet: facts no model was trained on.
const FACTS: [&str; 2] = [
    "The lighthouse of Varnholm is kept by Ottilie Brask. She lights its lamp at dusk and \
     writes the passing ships into a green logbook.",
    "The ferry from Varnholm to Skelde leaves at seven every morning. Its captain, Jonas Pell, \
     has sailed the crossing for thirty years.",
];

/// The sealed set: questions about those facts.
const ASKED: &str = r#"{"text": "Ottilie Brask keeps the lighthouse of Varnholm and lights its lamp at dusk.", "question": "Who keeps the lighthouse of Varnholm?", "answer": "Ottilie Brask"}
{"text": "Jonas Pell is the captain of the ferry from Varnholm to Skelde.", "question": "Who is the captain of the ferry from Varnholm to Skelde?", "answer": "Jonas Pell"}
"#;

#[test]
fn scoring_as_served_counts_the_retrieval_users_get_slow() {
    let smollm2 = crate::neuron::smollm2();
    let smol = smollm2.to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let (h, api) = (home.path(), node.api.as_str());
    let ok = |args: &[&str]| json(&alx(h, api, args));
    subnet_with_sealed_set(h, api, ("varnholm", &FACTS), ASKED);

    // The same weights twice: bob's model draws on the datanet, carol's on nothing. The node
    // holds the weights (as `alx model fetch` or a miner's --weights puts them in models/).
    std::fs::create_dir_all(h.join("models")).unwrap();
    std::fs::copy(&smollm2, h.join("models").join("smollm2.gguf")).unwrap();
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "bob", "--name", "smol-rag", "--base-model", smol,
        "--datanet", "0@1", "--price-input", "1", "--price-output", "1"]);
    #[rustfmt::skip]
    ok(&["model", "register", "--from", "carol", "--name", "smol", "--base-model", smol,
        "--price-input", "1", "--price-output", "1"]);
    for (who, model) in [("bob", "smol-rag"), ("carol", "smol")] {
        #[rustfmt::skip]
        ok(&["subnet", "register-miner", "0", "--model", model, "--endpoint",
            "http://127.0.0.1:9/v1", "--from", who]);
    }
    let validator = node.client().status().unwrap().validators[0].to_string();
    ok(&["stake", "bond", "--from", "alice", "--validator", &validator, "--amount", "1000"]);

    // The reveal, a subnet epoch after the seal.
    let sealed_in = ok(&["subnet", "show", "0"])["epochs"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ok(&["subnet", "show", "0"])["epochs"].as_u64().unwrap() <= sealed_in {
        assert!(std::time::Instant::now() < deadline, "no subnet epoch after the seal");
        std::thread::sleep(Duration::from_millis(300));
    }
    ok(&["subnet", "reveal-eval", "0", "--seal", "0", "--from", "alice"]);
    let graph = ok(&["subnet", "metagraph", "0"]);
    let uid_of = |model: u64| {
        graph["neurons"].as_array().unwrap().iter().find(|n| n["model"] == model).unwrap()["uid"]
            .as_u64()
            .unwrap()
    };
    let (rag, bare) = (uid_of(0), uid_of(1));
    let of = |scores: &[(u64, f64)], uid| scores.iter().find(|(u, _)| *u == uid).unwrap().1;

    let served = validate(h, api, &["--eval-questions", "2"]);
    let weights = validate(h, api, &["--score", "weights"]);
    eprintln!(
        "nats/byte as served {:?} (correct {:?}, not scored {:?}), on the weights {:?} (not \
         scored {:?}; rag {rag}, bare {bare})",
        served.scored, served.correct, served.refused, weights.scored, weights.refused
    );
    assert!(
        of(&served.scored, rag) < of(&served.scored, bare) * 0.8,
        "retrieval over the task's datanet helps the model as served: {:?}",
        served.scored
    );
    let right = |uid| served.correct.iter().find(|(u, _)| *u == uid).unwrap().1;
    assert!(right(rag) > right(bare), "{:?}", served.correct);
    // The bare weights cannot tell the two models apart.
    assert_eq!(of(&weights.scored, rag), of(&weights.scored, bare), "{:?}", weights.scored);
}
