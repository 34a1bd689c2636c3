//! The validator loop when its node cannot evaluate: a busy or lagging node skips the epoch
//! (nothing committed, no miner blamed) and the next epoch scores; a node that refuses this
//! validator stops it.

use super::{FakeChain, VAL, config, kinds, world_with_staked_val};
use crate::{
    NeuronError,
    score::{Score, Scorer},
    store::WeightsStore,
    validator,
};
use alx_types::subnet_api::{NeuronJson, SubnetJson};

/// Fails its first `fail_for` scores with `error`, then scores every miner alike.
struct Flaky {
    fail_for: usize,
    error: fn() -> NeuronError,
}

impl Scorer for Flaky {
    fn prepare(&mut self, _subnet: &SubnetJson) -> Result<(), NeuronError> {
        Ok(())
    }

    fn score(&mut self, _miner: &NeuronJson) -> Result<Score, NeuronError> {
        if self.fail_for > 0 {
            self.fail_for -= 1;
            return Err((self.error)());
        }
        Ok(Score { nats_per_byte: 1.0, tokens: 10, bytes: 40, accuracy: None })
    }
}

fn run(scorer: &mut Flaky, epochs: Option<u64>) -> (Vec<&'static str>, Result<(), NeuronError>) {
    let dir = tempfile::tempdir().unwrap();
    let world = world_with_staked_val();
    let chain = FakeChain { me: VAL, world };
    let mut events = Vec::new();
    let store = WeightsStore::new(dir.path());
    let result = validator::run(&chain, &store, scorer, &config(epochs), &mut |e| {
        events.push(e.clone());
    });
    (kinds(&events), result)
}

#[test]
fn a_node_that_cannot_evaluate_now_skips_the_epoch_and_blames_no_miner() {
    let busy = || NeuronError::EvaluatorUnavailable("the server is busy".into());
    let (events, result) = run(&mut Flaky { fail_for: 1, error: busy }, Some(1));
    result.unwrap();
    // The first epoch commits nothing; the next scores, commits and reveals.
    assert_eq!(
        events,
        ["registered", "joined", "not_scored", "scored", "committed", "revealed"],
        "the skipped epoch committed weights"
    );
}

#[test]
fn a_node_that_refuses_this_validator_stops_it_before_it_commits() {
    let refused = || NeuronError::EvaluatorRefused("loopback only".into());
    let (events, result) = run(&mut Flaky { fail_for: 1, error: refused }, Some(1));
    assert_eq!(result.unwrap_err().code(), "evaluator_refused");
    assert_eq!(events, ["registered", "joined"]);
}
