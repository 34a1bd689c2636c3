//! What a simulation does, and what it reports.

use alx_types::{Address, Amount, Hash, Height};
use std::{collections::BTreeSet, time::Duration};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Number of genesis validators.
    pub validators: usize,
    /// Seed of the runtime (scheduling, latency, jitter).
    pub seed: u64,
    /// Height every live node must commit.
    pub target_height: Height,
    /// Blocks per epoch (the validator set may change between epochs).
    pub epoch_length: u64,
    /// Transfers submitted at the start.
    pub transfers: u64,
    /// Submit them to this validator only (others learn them by gossip); `None`: to every one.
    pub submit_to: Option<usize>,
    /// Cut this validator off between two heights, then heal.
    pub partition: Option<Partition>,
    /// Crash this node (abort all its tasks) at a height and restart it later.
    pub crash: Option<Crash>,
    /// A node outside the genesis (index `validators`) that registers and bonds this much
    /// stake at the start, so it enters the set at the next epoch boundary.
    pub joiner: Option<Amount>,
    /// Stop these nodes for good once every live node reaches the height.
    pub stop: Option<Stop>,
    /// Abort every node once all reach this height, then restart them all.
    pub restart_all_at: Option<Height>,
    /// This genesis validator is Byzantine: it runs no node, and answers every vote with
    /// conflicting notarize and finalize votes (commonware's simplex `Conflicter`).
    pub equivocator: Option<usize>,
    /// This genesis validator proposes blocks whose state root is not their execution's.
    pub invalid_proposer: Option<usize>,
    /// This genesis validator never starts: it neither proposes nor votes.
    pub silent: Option<usize>,
}

impl Scenario {
    /// Four validators, epochs of 100 blocks (longer than any short run), 20 transfers.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self {
            validators: 4,
            seed,
            target_height: Height(12),
            epoch_length: 100,
            transfers: 20,
            submit_to: None,
            partition: None,
            crash: None,
            joiner: None,
            stop: None,
            restart_all_at: None,
            equivocator: None,
            invalid_proposer: None,
            silent: None,
        }
    }
}

/// A partition of one validator.
#[derive(Clone, Copy, Debug)]
pub struct Partition {
    /// The isolated validator (index in key order).
    pub validator: usize,
    /// Isolate when the others reach this height.
    pub from_height: Height,
    /// Heal when the others reach this height.
    pub until_height: Height,
}

/// An unclean shutdown of one node.
#[derive(Clone, Copy, Debug)]
pub struct Crash {
    /// The crashed node (index in key order; the joiner is `validators`).
    pub validator: usize,
    /// Crash when every other live node reaches this height.
    pub at_height: Height,
    /// Stay down for this long (simulated time).
    pub down_for: Duration,
}

/// Nodes stopped for good.
#[derive(Clone, Debug)]
pub struct Stop {
    /// Their indices.
    pub nodes: Vec<usize>,
    /// When every live node reaches this height.
    pub at_height: Height,
}

/// What every node committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Per live node, per height from 1 to the target: (block digest, state root).
    pub chains: Vec<Vec<(Hash, Hash)>>,
    /// Per height from 1 to the target, on the first live node: (epoch, proposer).
    pub headers: Vec<(u64, Address)>,
    /// The node addresses, by index (genesis validators in key order, then the joiner).
    pub addresses: Vec<Address>,
    /// The active set after the last committed block, on the first live node.
    pub active_set: Vec<Address>,
    /// Balance of the transfer recipient on the first live node at the end.
    pub recipient_balance: Amount,
    /// Indices of the validators that proposed blocks carrying transactions.
    pub proposers_with_txs: BTreeSet<usize>,
    /// Hash of every event of the run: equal for equal seeds.
    pub auditor: String,
    /// Of epoch 0's heights, how many finalization certificates the first live node holds, and
    /// how many of those the light client verifies against the genesis validators.
    pub certificates: (usize, usize),
    /// Each node's own stake (its self-delegation) at the end, by index, on the first live
    /// node: what a slash takes.
    pub own_stake: Vec<Amount>,
    /// Equivocation reports committed (transactions that applied), on the first live node.
    pub equivocations_reported: usize,
    /// Views that finalized no block (a leader's proposal refused or missing), over the
    /// committed chain of the first live node.
    pub views_skipped: u64,
}
