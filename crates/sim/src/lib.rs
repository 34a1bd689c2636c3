//! Deterministic multi-validator simulation: N full validators (ledger, marshal, simplex) on
//! commonware's deterministic runtime and simulated network, with seeded latency and jitter,
//! partitions and crash-restarts. The same seed gives the same run, event for event, which
//! [`Outcome::auditor`] proves.
//!
//! The ledgers' stores are redb files in a temporary directory: they survive a simulated crash
//! (the node's tasks are aborted mid-flight and the store reopened), exactly as after a process
//! kill, since redb commits are durable when they return.

#![forbid(unsafe_code)]

use alx_consensus::{
    AppConfig, Channels, Ledger, MempoolConfig, Running, Timeouts, ValidatorConfig, validator,
};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{Address, Amount, Hash, Transaction, block::Height, tx::Payload};
use commonware_cryptography::{
    Signer as _,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock as _, Quota, Runner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, probability};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Number of validators.
    pub validators: usize,
    /// Seed of the runtime (scheduling, latency, jitter).
    pub seed: u64,
    /// Height every validator must commit.
    pub target_height: u64,
    /// Transfers submitted at the start.
    pub transfers: u64,
    /// Submit them to this validator only (others learn them by gossip); `None`: to every one.
    pub submit_to: Option<usize>,
    /// Cut this validator off between two heights, then heal.
    pub partition: Option<Partition>,
    /// Crash this validator (abort all its tasks) at a height and restart it later.
    pub crash: Option<Crash>,
}

/// A partition of one validator.
#[derive(Clone, Copy, Debug)]
pub struct Partition {
    /// The isolated validator (index in key order).
    pub validator: usize,
    /// Isolate when the others reach this height.
    pub from_height: u64,
    /// Heal when the others reach this height.
    pub until_height: u64,
}

/// An unclean shutdown of one validator.
#[derive(Clone, Copy, Debug)]
pub struct Crash {
    /// The crashed validator (index in key order).
    pub validator: usize,
    /// Crash when validator 0 reaches this height.
    pub at_height: u64,
    /// Stay down for this long (simulated time).
    pub down_for: Duration,
}

/// What every validator committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Per validator, per height from 1 to the target: (block digest, state root).
    pub chains: Vec<Vec<(Hash, Hash)>>,
    /// Balance of the transfer recipient on validator 0 at the end.
    pub recipient_balance: Amount,
    /// Indices of the validators that proposed blocks carrying transactions.
    pub proposers_with_txs: std::collections::BTreeSet<usize>,
    /// Hash of every event of the run: equal for equal seeds.
    pub auditor: String,
}

const LINK: Link = Link {
    latency: Duration::from_millis(40),
    jitter: Duration::from_millis(10),
    success_rate: probability!(1.0),
};

/// Chain id of simulated networks.
pub const CHAIN_ID: &str = "alx-sim";

fn keys(n: usize) -> Vec<PrivateKey> {
    let mut keys: Vec<PrivateKey> = (0..n as u64).map(PrivateKey::from_seed).collect();
    keys.sort_by_key(|k| k.public_key());
    keys
}

/// The account that sends the scenario's transfers.
#[must_use]
pub fn sender_key() -> PrivateKey {
    PrivateKey::from_seed(1_000)
}

/// The account that receives them.
#[must_use]
pub fn recipient() -> Address {
    Address::from_public_key(&PrivateKey::from_seed(1_001).public_key())
}

fn genesis(validators: &[PrivateKey]) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.parse().expect("valid chain id"),
        params: Params { min_fee: Amount(1), epoch_length: 100, validators_max: 16 },
        accounts: vec![GenesisAccount {
            address: Address::from_public_key(&sender_key().public_key()),
            balance: Amount(1_000_000_000),
        }],
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                address: Address::from_public_key(&k.public_key()),
                stake: Amount(1_000_000),
                p2p_addr: SocketAddr::from(([127, 0, 0, 1], 30_000 + i as u16)),
            })
            .collect(),
    }
}

fn validator_config(key: &PrivateKey, participants: &[PublicKey], index: usize) -> ValidatorConfig {
    ValidatorConfig {
        signer: key.clone(),
        participants: participants.to_vec(),
        partition_prefix: format!("validator{index}"),
        app: AppConfig { empty_block_interval: Duration::from_millis(200), block_txs_max: 1000 },
        timeouts: Timeouts {
            leader: Duration::from_secs(1),
            certification: Duration::from_secs(2),
        },
    }
}

struct Node {
    ledger: Arc<Ledger>,
    running: Running,
}

async fn start_node(
    context: &mut deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    key: &PrivateKey,
    participants: &[PublicKey],
    index: usize,
    store: &Path,
    genesis: &Genesis,
) -> Node {
    let mempool = MempoolConfig { capacity: 100_000, per_sender_max: 10_000 };
    let ledger = Arc::new(Ledger::open(store, genesis, mempool).expect("ledger opens"));
    let me = key.public_key();
    let control = oracle.control(me.clone());
    let quota = Quota::per_second(NZU32!(1_000));
    let channel = |c| {
        let control = control.clone();
        async move { control.register(c, quota).await.expect("register channel") }
    };
    let channels = Channels {
        votes: channel(0).await,
        certificates: channel(1).await,
        resolver: channel(2).await,
        blocks: channel(3).await,
        backfill: channel(4).await,
        txs: channel(5).await,
    };
    let running = validator::start(
        context.child("validator").with_attribute("index", index),
        ledger.clone(),
        validator_config(key, participants, index),
        control.clone(),
        oracle.manager(),
        channels,
    )
    .await;
    Node { ledger, running }
}

async fn link_all(
    oracle: &Oracle<PublicKey, deterministic::Context>,
    peers: &[PublicKey],
    except: Option<usize>,
) {
    for (i, a) in peers.iter().enumerate() {
        for (j, b) in peers.iter().enumerate() {
            if i != j && except != Some(i) && except != Some(j) {
                // Already-present links are fine to re-add after a heal: ignore that error.
                let _ = oracle.add_link(a.clone(), b.clone(), LINK).await;
            }
        }
    }
}

async fn unlink(
    oracle: &Oracle<PublicKey, deterministic::Context>,
    peers: &[PublicKey],
    who: usize,
) {
    for (j, b) in peers.iter().enumerate() {
        if j != who {
            let _ = oracle.remove_link(peers[who].clone(), b.clone()).await;
            let _ = oracle.remove_link(b.clone(), peers[who].clone()).await;
        }
    }
}

async fn wait_height(
    context: &deterministic::Context,
    nodes: &[Option<Node>],
    who: &[usize],
    height: u64,
) {
    loop {
        let done = who.iter().all(|&i| {
            nodes[i].as_ref().is_some_and(|n| n.ledger.committed().block.height().0 >= height)
        });
        if done {
            return;
        }
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a scenario to completion. Panics (with the seed) if the target is not reached within
/// the simulated time limit or the validators disagree.
#[must_use]
pub fn run(scenario: &Scenario) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let stores: Vec<PathBuf> =
        (0..scenario.validators).map(|i| dir.path().join(format!("v{i}.redb"))).collect();
    let cfg = deterministic::Config::new()
        .with_seed(scenario.seed)
        .with_timeout(Some(Duration::from_secs(600)));
    let scenario = scenario.clone();
    deterministic::Runner::new(cfg).start(|mut context| async move {
        let keys = keys(scenario.validators);
        let participants: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let genesis = genesis(&keys);
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: 8 << 20,
                max_peers_per_set: NZUsize!(64),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(4),
            },
            participants.clone(),
        )
        .await;
        network.start();
        link_all(&oracle, &participants, None).await;

        let mut nodes: Vec<Option<Node>> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let node =
                start_node(&mut context, &oracle, key, &participants, i, &stores[i], &genesis)
                    .await;
            nodes.push(Some(node));
        }
        let all: Vec<usize> = (0..scenario.validators).collect();

        // Transfers from one account, submitted to every validator so whichever leads includes them.
        let sender = sender_key();
        let txs: Vec<_> = (0..scenario.transfers)
            .map(|nonce| {
                Transaction {
                    chain_id: CHAIN_ID.parse().expect("valid chain id"),
                    sender: Address::from_public_key(&sender.public_key()),
                    nonce,
                    fee: Amount(1),
                    payload: Payload::Transfer { to: recipient(), amount: Amount(10) },
                }
                .sign(&sender)
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if scenario.submit_to.is_some_and(|to| to != i) {
                continue;
            }
            for result in node.ledger.submit(txs.clone(), &mut context) {
                result.expect("transfer admitted");
            }
        }

        if let Some(p) = scenario.partition {
            let others: Vec<usize> = all.iter().copied().filter(|&i| i != p.validator).collect();
            wait_height(&context, &nodes, &others, p.from_height).await;
            unlink(&oracle, &participants, p.validator).await;
            wait_height(&context, &nodes, &others, p.until_height).await;
            link_all(&oracle, &participants, None).await;
        }
        if let Some(c) = scenario.crash {
            wait_height(&context, &nodes, &[0], c.at_height).await;
            if let Some(node) = nodes[c.validator].take() {
                node.running.abort();
            }
            context.sleep(c.down_for).await;
            let node = start_node(
                &mut context,
                &oracle,
                &keys[c.validator],
                &participants,
                c.validator,
                &stores[c.validator],
                &genesis,
            )
            .await;
            nodes[c.validator] = Some(node);
        }
        wait_height(&context, &nodes, &all, scenario.target_height).await;

        let chains = nodes
            .iter()
            .flatten()
            .map(|n| {
                (1..=scenario.target_height)
                    .map(|h| {
                        let block =
                            n.ledger.store().block(Height(h)).expect("store").expect("block");
                        (block.digest(), block.header.state_root)
                    })
                    .collect()
            })
            .collect();
        let recipient_balance = nodes[0]
            .as_ref()
            .and_then(|n| n.ledger.committed().state.account(&recipient()).ok().flatten())
            .map_or(Amount::ZERO, |a| a.balance);
        let addresses: Vec<Address> = participants.iter().map(Address::from_public_key).collect();
        let proposers_with_txs = nodes[0]
            .as_ref()
            .map(|n| {
                (1..=scenario.target_height)
                    .filter_map(|h| n.ledger.store().block(Height(h)).ok().flatten())
                    .filter(|b| !b.txs.is_empty())
                    .filter_map(|b| addresses.iter().position(|a| *a == b.header.proposer))
                    .collect()
            })
            .unwrap_or_default();
        for node in nodes.iter().flatten() {
            node.running.abort();
        }
        Outcome {
            chains,
            recipient_balance,
            proposers_with_txs,
            auditor: context.auditor().state(),
        }
    })
}
