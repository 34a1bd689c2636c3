//! `alx index`: build, count, attribute and append on a small plain corpus, and bad input.

use std::process::{Command, Output};

fn alx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alx")).args(args).env("ALX_LOG", "warn").output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn index_build_count_attribute_append() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let quoted = "the lighthouse keeper counted every ship that passed the northern rocks";
    std::fs::write(
        &corpus,
        format!(
            "{}\n{}\n",
            serde_json::json!({"text": quoted, "contributor": "ada"}),
            serde_json::json!({"text": "a wholly different note about tides"})
        ),
    )
    .unwrap();
    let idx = dir.path().join("idx");
    let (c, i) = (corpus.to_str().unwrap(), idx.to_str().unwrap());
    let build: serde_json::Value = serde_json::from_str(&stdout(&alx(&[
        "--json", "index", "build", "--input", c, "--out", i,
    ])))
    .unwrap();
    assert_eq!(build["documents"], 2);

    let count: serde_json::Value =
        serde_json::from_str(&stdout(&alx(&["--json", "index", "count", "--index", i, "the"])))
            .unwrap();
    assert_eq!(count["count"], 2);

    let output = dir.path().join("output.txt");
    std::fs::write(&output, format!("Well, {quoted}, or so they say.")).unwrap();
    let o = output.to_str().unwrap();
    let a: serde_json::Value = serde_json::from_str(&stdout(&alx(&[
        "--json",
        "index",
        "attribute",
        "--index",
        i,
        "--text-file",
        o,
    ])))
    .unwrap();
    assert_eq!(a["contributions"][0]["contribution"], 1);
    assert_eq!(a["contributions"][0]["bps"], 10_000);
    assert_eq!(a["contributors"][0]["contributor"], "ada");

    let appended: serde_json::Value = serde_json::from_str(&stdout(&alx(&[
        "--json", "index", "append", "--index", i, "--input", c,
    ])))
    .unwrap();
    assert_eq!(appended["first_contribution"], 3);
}

#[test]
fn index_rejects_bad_input_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, b"{\"text\": \"ok\"}\nnot json\n").unwrap();
    let idx = dir.path().join("idx");
    let out = alx(&[
        "index",
        "build",
        "--input",
        corpus.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("hint:"), "{err}");
    // The failed build left nothing: no index directory, no half-built one beside it.
    assert!(!idx.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the corpus");

    std::fs::write(&corpus, b"{\"text\": \"ok \xff\"}\n").unwrap();
    let out = alx(&[
        "index",
        "build",
        "--input",
        corpus.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("UTF-8"));
}

/// A batch of counts reports a query the index cannot count on its own line and counts the
/// rest (a word-start index refuses a query that starts with a space), then fails.
#[test]
fn a_batch_count_reports_each_bad_query_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, "{\"text\": \"the tide turns and the ships sail\"}\n").unwrap();
    let idx = dir.path().join("idx");
    let (c, i) = (corpus.to_str().unwrap(), idx.to_str().unwrap());
    stdout(&alx(&["index", "build", "--input", c, "--out", i]));
    let queries = dir.path().join("queries.txt");
    std::fs::write(&queries, "the\n ships\nships sail\n").unwrap();
    let out =
        alx(&["--json", "index", "count", "--index", i, "--queries", queries.to_str().unwrap()]);
    assert!(!out.status.success(), "a batch with a failed query fails");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(lines.len(), 4, "three query lines and the error document: {lines:?}");
    assert_eq!((lines[0]["query"].as_str(), lines[0]["count"].as_u64()), (Some("the"), Some(2)));
    assert_eq!(lines[1]["query"], " ships");
    assert!(
        lines[1]["error"]["message"].is_string() && lines[1]["count"].is_null(),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["count"], 1, "the query after the bad one is counted");
    let summary = lines[3]["error"]["message"].as_str().unwrap();
    assert!(summary.contains("1 of 3 queries"), "{summary}");
}
