//! Subtensor's own epoch tests (pallets/subtensor/src/tests/epoch.rs @ 14bc6f9f), replayed as
//! conformance documents. The setups are transcribed into state and operations: registration
//! at block 0, `set_weights` values after subtensor's max-upscaling (stored values),
//! `next_block_no_epoch` as a block step. The expected numbers are the tests' assertions.

use alx_yuma::conformance::{EpochJson, Output};
use serde_json::{Value, json};

fn bond(epoch: &EpochJson, i: u16, j: u16) -> u16 {
    epoch.bonds.iter().find(|b| b[0] == i && b[1] == j).map_or(0, |b| b[2])
}

fn run(input: Value) -> Output {
    crate::run(&input)
}

fn state(n: usize, stake: &[u64]) -> Value {
    json!({ "n": n, "current_block": 0, "stake": stake })
}

fn set_weights(uids: &[u16], dests: &[u16], row: &[u16]) -> Value {
    json!({ "op": "set_weights", "uids": uids, "dests": dests, "values": vec![row; uids.len()] })
}

fn at(block: u64) -> Value {
    json!({ "op": "set_block", "block": block })
}

fn epoch() -> Value {
    json!({ "op": "epoch" })
}

/// `test_10_graph`: ten self-weighting uids with no permits; the zero-emission fallback pays
/// by stake, and 1/10 normalized is a hair below 0.1.
#[test]
fn ten_graph_pays_by_stake() {
    let ops: Vec<Value> = [at(1)]
        .into_iter()
        .chain((0..10u16).map(|i| set_weights(&[i], &[i], &[u16::MAX])))
        .chain([epoch()])
        .collect();
    let out = run(json!({
        "params": { "tempo": 65534 },
        "state": state(10, &[1; 10]),
        "ops": ops,
    }));
    let e = &out.epochs[0];
    assert_eq!(e.emission, vec![99_999_999; 10]);
    assert_eq!(e.consensus_u16, vec![0; 10]);
    assert_eq!(e.incentive_u16, vec![0; 10]);
    assert_eq!(e.dividends_u16, vec![0; 10]);
}

/// `test_bonds`: legacy bonds of four validators (stake 1..4) on four servers, then
/// validators switching to self-weights one by one, then one moving to server 4.
#[test]
fn legacy_bonds_follow_subtensor() {
    let w = [16383, 32767, 49149, 65535];
    let ops = vec![
        epoch(),
        at(1),
        set_weights(&[0, 1, 2, 3], &[4, 5, 6, 7], &w),
        epoch(),
        set_weights(&[0], &[0], &[u16::MAX]),
        at(2),
        epoch(),
        set_weights(&[1], &[1], &[u16::MAX]),
        at(3),
        epoch(),
        set_weights(&[2], &[2], &[u16::MAX]),
        at(4),
        epoch(),
        set_weights(&[2], &[7], &[u16::MAX]),
        at(5),
        epoch(),
        at(6),
        epoch(),
        at(7),
        epoch(),
    ];
    let out = run(json!({
        "params": { "tempo": 1, "max_allowed_validators": 8, "bonds_penalty_u16": 65535 },
        "state": state(8, &[1, 2, 3, 4, 0, 0, 0, 0]),
        "ops": ops,
    }));
    let expect: [(usize, u16, [u16; 4]); 6] = [
        (1, 4, [16383, 32767, 49151, 65535]),
        (2, 4, [14582, 32767, 49151, 65535]),
        (3, 4, [12603, 28321, 49151, 65535]),
        (4, 7, [12602, 28320, 49150, 65535]),
        (5, 7, [10951, 24609, 49150, 65535]),
        (6, 7, [9559, 21482, 49150, 65535]),
    ];
    for (k, col, want) in expect {
        let got: Vec<u16> = (0..4).map(|i| bond(&out.epochs[k], i, col)).collect();
        assert_eq!(got, want, "epoch {k}, column {col}");
    }
    let last: Vec<u16> = (0..4).map(|i| bond(&out.epochs[7], i, 7)).collect();
    assert_eq!(last, [8376, 18824, 49150, 65535]);
}

/// `test_active_stake`: a validator whose weights go stale loses its active stake, and its
/// bonds decay.
#[test]
fn inactive_validators_lose_dividends() {
    let cutoff = alx_yuma::activity_cutoff_for_tempo(1);
    let ops = vec![
        epoch(),
        at(1),
        set_weights(&[0, 1], &[2, 3], &[u16::MAX, u16::MAX]),
        epoch(),
        at(cutoff + 2),
        set_weights(&[0], &[2, 3], &[u16::MAX, u16::MAX]),
        epoch(),
        set_weights(&[1], &[2, 3], &[u16::MAX, u16::MAX]),
        at(cutoff + 3),
        epoch(),
    ];
    let out = run(json!({
        "params": { "tempo": 1, "max_allowed_validators": 4 },
        "state": state(4, &[1; 4]),
        "ops": ops,
    }));
    let e = &out.epochs[1];
    assert_eq!(&e.dividends_u16[..2], &[32767, 32767]);
    assert_eq!(e.emission, vec![250_000_000; 4]);
    for i in 0..2 {
        assert_eq!(
            [bond(e, i, 0), bond(e, i, 1), bond(e, i, 2), bond(e, i, 3)],
            [0, 0, 65535, 65535]
        );
    }
    let e = &out.epochs[2];
    assert_eq!((e.dividends_u16[0], e.emission[0]), (36044, 274_999_999));
    assert_eq!((e.dividends_u16[1], e.emission[1]), (29490, 224_999_999));
    assert_eq!(
        [bond(e, 0, 2), bond(e, 0, 3), bond(e, 1, 2), bond(e, 1, 3)],
        [65535, 65535, 53619, 53619]
    );
    let e = &out.epochs[3];
    assert_eq!((e.dividends_u16[0], e.emission[0]), (35716, 272_501_132));
    assert_eq!((e.dividends_u16[1], e.emission[1]), (29818, 227_498_866));
    assert_eq!(
        [bond(e, 0, 2), bond(e, 0, 3), bond(e, 1, 2), bond(e, 1, 3)],
        [65535, 65535, 54712, 54712]
    );
}

/// `test_outdated_weights`: after server uid 3 is replaced, weights set before its
/// registration stop counting, and its bond column is kept only for the validator that
/// re-set its weights.
#[test]
fn outdated_weights_are_masked_after_replacement() {
    let ops = vec![
        epoch(),
        at(1),
        set_weights(&[0, 1], &[2, 3], &[65535, 32768]),
        set_weights(&[2], &[2], &[u16::MAX]),
        set_weights(&[3], &[3], &[u16::MAX]),
        epoch(),
        json!({ "op": "replace_uid", "uid": 3, "stake": 0 }),
        at(2),
        set_weights(&[0], &[2, 3], &[65535, 32768]),
        epoch(),
    ];
    let out = run(json!({
        "params": { "tempo": 0, "max_allowed_validators": 4 },
        "state": state(4, &[1; 4]),
        "ops": ops,
    }));
    let e = &out.epochs[2];
    assert_eq!(e.dividends_u16[0], 32767);
    assert_eq!(e.emission[0], 250_000_000);
    assert_eq!((bond(e, 0, 2), bond(e, 0, 3)), (65535, 65535));
}

/// `test_yuma_3_kappa_moves_first`: Yuma3 with liquid alpha; the big validator (0.8) moves to
/// server 2 first, the small ones follow. Subtensor checks dividends to 1e-3.
#[test]
fn yuma3_kappa_moves_first() {
    let max = u16::MAX;
    let rounds: [Option<[[u16; 2]; 3]>; 6] = [
        Some([[max, 0]; 3]),
        Some([[0, max], [max, 0], [max, 0]]),
        Some([[0, max], [0, max], [max, 0]]),
        Some([[0, max]; 3]),
        None,
        None,
    ];
    let targets: [[f64; 3]; 6] = [
        [0.8000, 0.1000, 0.1000],
        [1.0000, 0.0000, 0.0000],
        [0.9382, 0.0618, 0.0000],
        [0.8819, 0.0773, 0.0407],
        [0.8564, 0.0844, 0.0592],
        [0.8418, 0.0884, 0.0697],
    ];
    let mut ops = vec![at(1), epoch()];
    for round in rounds {
        for (uid, row) in round.iter().flatten().enumerate() {
            ops.push(set_weights(&[uid as u16], &[3, 4], row));
        }
        ops.push(json!({ "op": "advance_blocks", "n": 1 }));
        ops.push(epoch());
    }
    let out = run(json!({
        "params": {
            "yuma3": true, "liquid_alpha": true, "tempo": 1, "kappa_u16": 32767,
            "bonds_penalty_u16": 0, "alpha_sigmoid_steepness": 1000,
            "bonds_moving_average": 975_000, "alpha_low_u16": 6553, "alpha_high_u16": 19660,
            "max_allowed_validators": 3,
        },
        "state": state(5, &[8, 1, 1, 0, 0]),
        "ops": ops,
    }));
    for (k, target) in targets.iter().enumerate() {
        let e = &out.epochs[k + 1];
        for (i, want) in target.iter().enumerate() {
            let got = f64::from(e.dividends_u16[i]) / 65535.0;
            assert!((got - want).abs() <= 1e-3, "epoch {k} uid {i}: {got} vs {want}");
        }
        assert_eq!(&e.dividends_u16[3..], &[0, 0]);
    }
}
