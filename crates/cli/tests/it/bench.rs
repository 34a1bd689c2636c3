//! Benchmarks as a user runs them: `alx bench ledger` measures its four-validator network as
//! processes on loopback (throughput and finality) and stops every one of them before it
//! exits.

use std::{path::Path, process::Command};

/// The command lines of the running processes that mention `path`.
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(&needle))
        .collect()
}

#[test]
fn the_ledger_benchmark_leaves_no_process_behind_slow() {
    assert!(Path::new("/proc/self/cmdline").exists(), "this test reads /proc (Linux)");
    // The benchmark's homes are temporary directories: under this one, so that a process it
    // left behind is found by its command line.
    let tmp = tempfile::tempdir().unwrap();
    #[rustfmt::skip]
    let out = Command::new(env!("CARGO_BIN_EXE_alx"))
        .args(["--json", "bench", "ledger", "--txs", "2000", "--senders", "4", "--samples", "3",
            "--batch", "500", "--settlements-every", "0"])
        .env("TMPDIR", tmp.path())
        .env("ALX_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["finality_ms_p50_4v"].as_f64().is_some(), "the 4 validators ran: {report}");
    assert!(report["tx_per_s_4v"].as_f64().is_some_and(|t| t > 0.0), "{report}");
    let left = processes_mentioning(tmp.path());
    assert!(left.is_empty(), "the benchmark left processes running: {left:#?}");
}
