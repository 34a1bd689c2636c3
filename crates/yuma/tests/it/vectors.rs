//! Golden vectors: random scenarios run through subtensor's own `epoch_mechanism` and math
//! (see the crate README for how they were produced). Every field of every epoch must match.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn vector_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// The first difference between two epoch lists, as a readable line.
fn first_difference(got: &Value, want: &Value) -> Option<String> {
    let (g, w) = (got["epochs"].as_array()?, want["epochs"].as_array()?);
    if g.len() != w.len() {
        return Some(format!("{} epochs, expected {}", g.len(), w.len()));
    }
    for (k, (ge, we)) in g.iter().zip(w).enumerate() {
        for (field, wv) in we.as_object()? {
            if ge.get(field) != Some(wv) {
                return Some(format!(
                    "epoch {k} field {field}:\n got {:?}\nwant {wv}",
                    ge.get(field)
                ));
            }
        }
        if ge.as_object()?.len() != we.as_object()?.len() {
            return Some(format!("epoch {k}: field sets differ"));
        }
    }
    None
}

#[test]
fn golden_vectors_match_subtensor() {
    let dir = std::env::var_os("YUMA_VECTORS_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"), PathBuf::from);
    let files = vector_files(&dir);
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let got = serde_json::to_value(crate::run(&doc["input"])).unwrap();
        if let Some(diff) = first_difference(&got, &doc["expected"]) {
            failures.push(format!("{}: {diff}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
