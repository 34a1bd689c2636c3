//! Multi-validator scenarios on the deterministic runtime.

mod epochs;

use alx_sim::{Crash, Outcome, Partition, Scenario, run};
use alx_types::{Amount, Height};
use std::time::Duration;

fn base(seed: u64) -> Scenario {
    Scenario::new(seed)
}

pub(crate) fn assert_agreement(outcome: &Outcome, validators: usize, target: u64) {
    assert_eq!(outcome.chains.len(), validators);
    for chain in &outcome.chains {
        assert_eq!(chain.len() as u64, target);
        assert_eq!(chain, &outcome.chains[0], "validators committed different chains");
    }
}

#[test]
fn four_validators_finalize_the_same_blocks_and_roots() {
    let outcome = run(&base(1));
    assert_agreement(&outcome, 4, 12);
    assert_eq!(outcome.views_skipped, 0, "an honest network skips no view");
    assert_eq!(outcome.recipient_balance, Amount(200));
    // The engine's certificates, signed by several of the four, verify with the light client.
    let (held, verified) = outcome.certificates;
    assert!(held >= 6, "only {held} of 12 heights have their own certificate");
    assert_eq!(verified, held, "the light client refused a certificate the engine made");
}

#[test]
fn same_seed_same_run() {
    let a = run(&base(7));
    let b = run(&base(7));
    assert_eq!(a.auditor, b.auditor);
    assert_eq!(a.chains, b.chains);
}

#[test]
fn partitioned_validator_catches_up_after_healing() {
    let scenario = Scenario {
        partition: Some(Partition {
            validator: 3,
            from_height: Height(3),
            until_height: Height(10),
        }),
        target_height: Height(14),
        ..base(3)
    };
    assert_agreement(&run(&scenario), 4, 14);
}

#[test]
fn crashed_validator_restarts_and_rejoins() {
    let scenario = Scenario {
        crash: Some(Crash { validator: 2, at_height: Height(4), down_for: Duration::from_secs(5) }),
        target_height: Height(14),
        ..base(5)
    };
    assert_agreement(&run(&scenario), 4, 14);
}

#[test]
fn transactions_sent_to_one_validator_reach_the_others_by_gossip() {
    // Each transfer has its own nonce, so they spread over several blocks and leaders.
    let scenario =
        Scenario { submit_to: Some(3), transfers: 4000, target_height: Height(16), ..base(11) };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 4, 16);
    assert_eq!(outcome.recipient_balance, Amount(40_000));
    assert!(
        outcome.proposers_with_txs.iter().any(|&p| p != 3),
        "only the validator that received the transactions included them: {:?}",
        outcome.proposers_with_txs
    );
}

/// A Byzantine validator answers every vote with conflicting notarize and finalize votes. The
/// three honest ones (a quorum of four) keep finalizing the same chain, report the
/// equivocation from what simplex showed them, and the chain slashes the equivocator's own
/// stake; the run is as deterministic as any other.
#[test]
fn an_equivocator_is_slashed_and_the_honest_keep_finalizing() {
    let scenario = Scenario { equivocator: Some(3), target_height: Height(16), ..base(21) };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 3, 16);
    assert!(outcome.equivocations_reported >= 1, "no equivocation was reported");
    assert_eq!(outcome.own_stake[3], Amount::ZERO, "the equivocator keeps its stake");
    for honest in 0..3 {
        assert!(!outcome.own_stake[honest].is_zero(), "validator {honest} was slashed");
    }
    let again = run(&scenario);
    assert_eq!(again.auditor, outcome.auditor, "same seed, same run");
}

/// A Byzantine validator proposes blocks whose state root is not their execution's. The
/// others refuse every one (their execution gives another root), skip its views, and keep
/// finalizing the same chain; it follows that chain itself, and no block of its own is ever
/// finalized.
#[test]
fn an_invalid_proposer_never_gets_a_block_finalized() {
    let scenario = Scenario { invalid_proposer: Some(1), target_height: Height(16), ..base(23) };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 4, 16);
    let liar = outcome.addresses[1];
    assert!(
        outcome.headers.iter().all(|(_, proposer)| *proposer != liar),
        "a block of the invalid proposer was finalized"
    );
    assert_eq!(outcome.recipient_balance, Amount(200), "every transfer still applied");
    assert!(outcome.views_skipped >= 2, "its turns to lead were not refused: {outcome:?}");
    let again = run(&scenario);
    assert_eq!(again.auditor, outcome.auditor, "same seed, same run");
}

/// A validator that never starts (neither proposes nor votes): the other three are a quorum of
/// four and keep finalizing, skipping its views.
#[test]
fn a_silent_validator_does_not_stop_the_others() {
    let scenario = Scenario { silent: Some(2), target_height: Height(16), ..base(25) };
    let outcome = run(&scenario);
    assert_agreement(&outcome, 3, 16);
    let silent = outcome.addresses[2];
    assert!(outcome.headers.iter().all(|(_, proposer)| *proposer != silent));
    assert!(outcome.views_skipped >= 2, "its turns to lead were not skipped: {outcome:?}");
    let again = run(&scenario);
    assert_eq!(again.auditor, outcome.auditor, "same seed, same run");
}
