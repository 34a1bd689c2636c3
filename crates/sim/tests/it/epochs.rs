//! The validator set changes at epoch boundaries, as the state chose it, and the engine follows.
//!
//! Epochs of 10 blocks, at most 4 validators. A fifth node bonds more stake than any genesis
//! validator, so from epoch 1 on it replaces the genesis validator with the highest address
//! (equal stakes rank by address).

use crate::assert_agreement;
use alx_sim::{Crash, Outcome, Scenario, Stop, run};
use alx_types::{Address, Amount, Height};
use std::time::Duration;

const EPOCH: u64 = 10;
/// Index of the genesis validator the joiner replaces (highest address of four).
const DROPPED: usize = 3;
/// Index of the joiner.
const JOINER: usize = 4;

fn rotation(seed: u64) -> Scenario {
    Scenario {
        epoch_length: EPOCH,
        target_height: Height(30),
        transfers: 0,
        joiner: Some(Amount(2_000_000)),
        ..Scenario::new(seed)
    }
}

/// The set from epoch 1 on: the joiner and the three lowest genesis validators.
fn next_set(outcome: &Outcome) -> Vec<Address> {
    let mut set: Vec<Address> = outcome
        .addresses
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != DROPPED)
        .map(|(_, a)| *a)
        .collect();
    set.sort();
    set
}

fn assert_rotated(outcome: &Outcome) {
    let genesis_set = &outcome.addresses[..JOINER];
    let next = next_set(outcome);
    assert_eq!(outcome.active_set, next);
    for (i, &(epoch, proposer)) in outcome.headers.iter().enumerate() {
        let height = i as u64 + 1;
        assert_eq!(epoch, height / EPOCH, "height {height} is in the wrong epoch");
        let set = if height < EPOCH { genesis_set } else { &next[..] };
        assert!(set.contains(&proposer), "height {height} proposed by a non-member");
    }
    let joiner = outcome.addresses[JOINER];
    assert!(
        outcome.headers.iter().any(|&(_, p)| p == joiner),
        "the joiner never proposed: its votes are not counted"
    );
}

#[test]
fn rotation_replaces_lowest_staked_validator_slow() {
    let outcome = run(&rotation(21));
    // All five agree, the dropped validator included: it follows as a verifier.
    assert_agreement(&outcome, 5, 30);
    assert_rotated(&outcome);
    let again = run(&rotation(21));
    assert_eq!(outcome.auditor, again.auditor);
}

#[test]
fn dropped_validator_is_not_needed_slow() {
    // Without the dropped validator and one more genesis member, set(1) keeps a quorum (3 of 4)
    // only if the joiner votes.
    let scenario = Scenario {
        stop: Some(Stop { nodes: vec![DROPPED, 0], at_height: Height(12) }),
        target_height: Height(35),
        ..rotation(22)
    };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 3, 35);
    assert_eq!(outcome.active_set, next_set(&outcome));
}

#[test]
fn restart_mid_epoch_slow() {
    let scenario = Scenario {
        crash: Some(Crash {
            validator: 1,
            at_height: Height(15),
            down_for: Duration::from_secs(2),
        }),
        ..rotation(23)
    };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 5, 30);
    assert_rotated(&outcome);
}

#[test]
fn restart_across_boundaries_slow() {
    // Validator 1 is down while the others pass three boundaries; it catches up by fetching
    // each epoch's last finalization, then votes again.
    let scenario = Scenario {
        crash: Some(Crash {
            validator: 1,
            at_height: Height(7),
            down_for: Duration::from_secs(20),
        }),
        target_height: Height(45),
        ..rotation(24)
    };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 5, 45);
}

#[test]
fn whole_cluster_restart_in_epoch_1_slow() {
    let scenario = Scenario { restart_all_at: Some(Height(15)), ..rotation(25) };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 5, 30);
    assert_rotated(&outcome);
}
