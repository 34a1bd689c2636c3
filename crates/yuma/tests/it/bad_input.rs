//! Bad conformance input: a clear error naming what is wrong, never a panic.

use alx_yuma::conformance::run;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "params": {},
        "state": { "n": 2, "current_block": 5, "stake": [1, 2] },
        "ops": [{ "op": "epoch" }],
    })
}

/// Runs `doc` and returns the error message, failing if the input was accepted.
fn refused(doc: &Value) -> String {
    match run(&doc.to_string()) {
        Ok(out) => panic!("accepted: {doc} → {out:?}"),
        Err(e) => e.to_string(),
    }
}

fn with(path: &[&str], value: Value) -> Value {
    let mut doc = base();
    let mut at = &mut doc;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    doc
}

fn op(value: Value) -> Value {
    with(&["ops"], json!([value]))
}

#[test]
fn the_base_document_is_accepted() {
    assert_eq!(run(&base().to_string()).unwrap().epochs.len(), 1);
}

#[test]
fn each_bad_input_gets_a_specific_message() {
    let cases: Vec<(Value, &str)> = vec![
        (with(&["params", "kapa_u16"], json!(1)), "unknown field `kapa_u16`"),
        (with(&["state", "stakes"], json!([1, 2])), "unknown field `stakes`"),
        (with(&["extra"], json!(1)), "unknown field `extra`"),
        (op(json!({ "op": "epoch", "n": 1 })), "unknown field `n`"),
        (op(json!({ "op": "jump" })), "unknown variant `jump`"),
        (with(&["params", "kappa_u16"], json!(70000)), "malformed input"),
        (with(&["params", "bonds_moving_average"], json!(1_000_001)), "bonds_moving_average"),
        (with(&["state", "stake"], json!([1])), "stake has 1 entries, but n = 2"),
        (with(&["state", "last_update"], json!([1, 2, 3])), "last_update has 3 entries"),
        (with(&["state", "validator_permit"], json!([true])), "validator_permit has 1"),
        (with(&["state", "n"], json!(5000)), "exceeds the limit"),
        (with(&["state", "stake"], json!([u64::MAX, 1])), "total stake exceeds"),
        (with(&["state", "weights"], json!({ "0": [[2, 5]] })), "weights: uid 2 is out of range"),
        (with(&["state", "weights"], json!({ "0": [[1, 5], [1, 6]] })), "appears more than once"),
        (with(&["state", "weights"], json!({ "2": [[1, 5]] })), "out of range"),
        (with(&["state", "bonds"], json!({ "x": [] })), "key \"x\" is not a uid"),
        (with(&["state", "owner_uid"], json!(2)), "owner_uid: uid 2 is out of range"),
        (
            op(json!({ "op": "set_weights", "uids": [0, 0], "dests": [1], "values": [[1], [2]] })),
            "ops[0] (set_weights): set_weights.uids: uid 0 appears more than once",
        ),
        (
            op(json!({ "op": "set_weights", "uids": [0], "dests": [1, 1], "values": [[1, 2]] })),
            "set_weights.dests: uid 1 appears more than once",
        ),
        (
            op(json!({ "op": "set_weights", "uids": [0], "dests": [7], "values": [[1]] })),
            "uid 7 is out of range",
        ),
        (
            op(json!({ "op": "set_weights", "uids": [0, 1], "dests": [1], "values": [[1]] })),
            "set_weights.values has 1 entries",
        ),
        (
            op(json!({ "op": "set_weights", "uids": [0], "dests": [1], "values": [[1, 2]] })),
            "set_weights.values[row] has 2 entries",
        ),
        (op(json!({ "op": "replace_uid", "uid": 9, "stake": 1 })), "ops[0] (replace_uid)"),
        (op(json!({ "op": "replace_uid", "uid": 0, "stake": u64::MAX })), "total stake exceeds"),
        (op(json!({ "op": "reset_bonds", "uid": 2 })), "reset_bonds.uid: uid 2 is out of range"),
        (op(json!({ "op": "advance_blocks", "n": u64::MAX })), "block number overflows"),
    ];
    for (doc, want) in cases {
        let got = refused(&doc);
        assert!(got.contains(want), "{doc}\n  message: {got}\n  expected to contain: {want}");
    }
}

#[test]
fn malformed_json_is_refused() {
    for text in ["", "{", "[]", "{\"state\": 1}", "null", "{\"state\": {\"n\": -1, \"stake\": []}}"]
    {
        let err = run(text).expect_err(text);
        assert!(err.to_string().starts_with("malformed input"), "{text}: {err}");
    }
}

#[test]
fn empty_and_single_uid_subnets_run() {
    let out = run(r#"{"state": {"n": 0, "stake": []}, "ops": [{"op": "epoch"}]}"#).unwrap();
    assert!(out.epochs[0].emission.is_empty());
    let out =
        run(r#"{"state": {"n": 1, "current_block": 3, "stake": [5], "validator_permit": [true],
             "weights": {"0": [[0, 65535]]}, "bonds": {"0": [[0, 9]]}},
            "ops": [{"op": "epoch"}, {"op": "epoch"}]}"#)
        .unwrap();
    // A lone validator earns no incentive (self-weights are masked): the pay-by-stake fallback
    // gives it the whole emission, as subtensor's own code does for this input.
    assert_eq!(out.epochs[1].validator_emission, vec![1_000_000_000]);
}
