//! `alx yuma run`: JSON in (file or stdin), JSON out, clear errors.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

const ONE_VALIDATOR: &str = r#"{"state": {"n": 1, "current_block": 3, "stake": [5],
    "weights": {"0": [[0, 65535]]}}, "ops": [{"op": "epoch"}, {"op": "advance_blocks", "n": 2}, {"op": "epoch"}]}"#;

fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alx"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn runs_epochs_from_stdin_and_files_and_explains_errors() {
    let out = run(&["yuma", "run", "--input", "-"], ONE_VALIDATOR);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs = value["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(epochs[1]["block"], 5);
    assert_eq!(epochs[1]["validator_emission"][0], 1_000_000_000u64);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.json");
    std::fs::write(&file, ONE_VALIDATOR).unwrap();
    let from_file = run(&["yuma", "run", "--input", file.to_str().unwrap()], "");
    assert_eq!(from_file.stdout, out.stdout, "file and stdin give the same output");

    let bad = run(&["yuma", "run", "--input", "-"], r#"{"state": {"n": 2, "stake": [1]}}"#);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("stake has 1 entries") && err.contains("hint:"), "{err}");
}
