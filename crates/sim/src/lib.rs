//! Deterministic multi-validator simulation: N full validators (ledger, marshal, simplex) on
//! commonware's deterministic runtime and simulated network, with seeded latency and jitter,
//! partitions and crash-restarts. The same seed gives the same run, event for event, which
//! [`Outcome::auditor`] proves.
//!
//! The ledgers' stores are redb files in a temporary directory: they survive a simulated crash
//! (the node's tasks are aborted mid-flight and the store reopened), exactly as after a process
//! kill, since redb commits are durable when they return.

#![forbid(unsafe_code)]

use alx_consensus::{Channels, Ledger, Running, validator};
use alx_node::{NodeConfig, chain};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{Address, Amount, Transaction, block::Height, tx::Payload};
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

mod scenario;

pub use scenario::{Crash, Outcome, Partition, Scenario, Stop};

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

/// The key of the node that joins the set by bonding (see [`Scenario::joiner`]).
#[must_use]
pub fn joiner_key() -> PrivateKey {
    PrivateKey::from_seed(2_000)
}

fn p2p_addr(index: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 30_000 + index as u16))
}

fn genesis(scenario: &Scenario, validators: &[PrivateKey]) -> Genesis {
    let mut accounts = vec![GenesisAccount {
        address: Address::from_public_key(&sender_key().public_key()),
        balance: Amount(1_000_000_000),
    }];
    // Validators pay fees for their own transactions (equivocation reports).
    accounts.extend(validators.iter().map(|k| GenesisAccount {
        address: Address::from_public_key(&k.public_key()),
        balance: Amount(1_000_000),
    }));
    if let Some(stake) = scenario.joiner {
        accounts.push(GenesisAccount {
            address: Address::from_public_key(&joiner_key().public_key()),
            balance: Amount(stake.0 + 1_000_000),
        });
    }
    Genesis {
        chain_id: CHAIN_ID.parse().expect("valid chain id"),
        params: Params {
            min_fee: Amount(1),
            epoch_length: scenario.epoch_length,
            validators_max: scenario.validators as u32,
        },
        accounts,
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                address: Address::from_public_key(&k.public_key()),
                stake: Amount(1_000_000),
                p2p_addr: p2p_addr(i),
            })
            .collect(),
        // Every simulated block mints and splits, so the nodes must agree on emission too.
        emission: Some(alx_emission::EmissionParams {
            schedule: alx_emission::presets::morpheus(alx_types::datanet::BLOCKS_PER_DAY)
                .expect("the preset is valid"),
            split: alx_emission::Split::DEFAULT,
            subnet_split: alx_emission::SubnetSplit::DEFAULT,
        }),
        providers: vec![],
    }
}

/// The joiner's registration and bond.
fn joiner_txs(stake: Amount, index: usize) -> Vec<alx_types::SignedTx> {
    let key = joiner_key();
    let me = Address::from_public_key(&key.public_key());
    let payloads = [
        Payload::RegisterValidator { p2p_addr: p2p_addr(index) },
        Payload::Bond { validator: me, amount: stake },
    ];
    payloads
        .into_iter()
        .zip(0..)
        .map(|(payload, nonce)| {
            Transaction {
                chain_id: CHAIN_ID.parse().expect("valid chain id"),
                sender: me,
                nonce,
                fee: Amount(1),
                payload,
            }
            .sign(&key)
        })
        .collect()
}

/// The config of simulated node `index`: a local node's defaults with the consensus timings the
/// scenarios are tuned for (a proposal every 200 ms at most, views skipped after 1 s) and 1,000
/// transactions per block.
fn node_config(index: usize) -> NodeConfig {
    let mut cfg = NodeConfig::local(&format!("sim{index}"), p2p_addr(index), p2p_addr(index));
    cfg.consensus = alx_node::config::ConsensusSection {
        leader_timeout_ms: 1_000,
        certification_timeout_ms: 2_000,
        empty_block_interval_ms: 200,
        block_txs_max: 1_000,
    };
    cfg.validate().expect("the simulated node's config is valid");
    cfg
}

struct Node {
    ledger: Arc<Ledger>,
    running: Running,
}

async fn start_node(
    context: &mut deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    key: &PrivateKey,
    index: usize,
    store: &Path,
    genesis: &Genesis,
    proposals: alx_consensus::Proposals,
) -> Node {
    // The node's own wiring (see `alx_node::chain`): its config, its ledger, its validator
    // settings; only the runtime and the network are simulated.
    let cfg = node_config(index);
    let ledger = chain::open_ledger(&cfg, store, genesis).expect("ledger opens");
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
    let mut validator_config = cfg.validator_config(key.clone(), &format!("validator{index}"));
    validator_config.app.proposals = proposals;
    let running = validator::start(
        context.child("validator").with_attribute("index", index),
        ledger.clone(),
        validator_config,
        control.clone(),
        oracle.socket_manager(),
        channels,
    )
    .await
    .expect("validator starts");
    Node { ledger, running }
}

/// How validator `i` builds its proposals in `scenario`.
fn proposals(scenario: &Scenario, i: usize) -> alx_consensus::Proposals {
    if scenario.invalid_proposer == Some(i) {
        alx_consensus::Proposals::WrongStateRoot
    } else {
        alx_consensus::Proposals::Honest
    }
}

/// The genesis validators' public keys.
fn validators_of(keys: &[PrivateKey], scenario: &Scenario) -> Vec<PublicKey> {
    keys[..scenario.validators].iter().map(|k| k.public_key()).collect()
}

/// A Byzantine validator: only a vote channel, answering every vote with conflicting ones.
async fn start_equivocator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    key: &PrivateKey,
    validators: &[PublicKey],
) -> commonware_runtime::Handle<()> {
    let control = oracle.control(key.public_key());
    let votes = control.register(0, Quota::per_second(NZU32!(1_000))).await.expect("register");
    let participants =
        commonware_utils::ordered::Set::try_from(validators.to_vec()).expect("distinct validators");
    alx_consensus::byzantine::start_conflicter(
        context.child("equivocator"),
        key.clone(),
        participants,
        votes,
    )
    .await
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
    height: Height,
) {
    loop {
        let done = who.iter().all(|&i| {
            nodes[i].as_ref().is_some_and(|n| n.ledger.committed().block.height() >= height)
        });
        if done {
            return;
        }
        context.sleep(Duration::from_millis(50)).await;
    }
}

fn live(nodes: &[Option<Node>]) -> Vec<usize> {
    nodes.iter().enumerate().filter(|(_, n)| n.is_some()).map(|(i, _)| i).collect()
}

fn abort(nodes: &mut [Option<Node>], who: usize) {
    if let Some(node) = nodes[who].take() {
        node.running.abort();
    }
}

/// Runs a scenario to completion. Panics (with the seed) if the target is not reached within
/// the simulated time limit or the validators disagree.
#[must_use]
pub fn run(scenario: &Scenario) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let count = scenario.validators + usize::from(scenario.joiner.is_some());
    let stores: Vec<PathBuf> = (0..count).map(|i| dir.path().join(format!("v{i}.redb"))).collect();
    let cfg = deterministic::Config::new()
        .with_seed(scenario.seed)
        .with_timeout(Some(Duration::from_secs(600)));
    let scenario = scenario.clone();
    deterministic::Runner::new(cfg).start(|mut context| async move {
        let mut keys = keys(scenario.validators);
        let genesis = genesis(&scenario, &keys);
        let validators: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        if scenario.joiner.is_some() {
            keys.push(joiner_key());
        }
        let everyone: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        // Until the orchestrators track epoch sets, the genesis set drives and the joiner follows.
        let (network, oracle) = Network::new_with_split_peers(
            context.child("network"),
            simulated::Config {
                max_size: 8 << 20,
                max_peers_per_set: NZUsize!(64),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(4),
            },
            validators,
            everyone[scenario.validators..].iter().cloned(),
        )
        .await;
        network.start();
        link_all(&oracle, &everyone, None).await;

        let mut nodes: Vec<Option<Node>> = Vec::new();
        let mut byzantine = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if scenario.equivocator == Some(i) {
                byzantine.push(
                    start_equivocator(&context, &oracle, key, &validators_of(&keys, &scenario))
                        .await,
                );
                nodes.push(None);
                continue;
            }
            if scenario.silent == Some(i) {
                nodes.push(None);
                continue;
            }
            nodes.push(Some(
                start_node(
                    &mut context,
                    &oracle,
                    key,
                    i,
                    &stores[i],
                    &genesis,
                    proposals(&scenario, i),
                )
                .await,
            ));
        }

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
        let joining = scenario.joiner.map(|stake| joiner_txs(stake, scenario.validators));
        for (i, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if scenario.submit_to.is_none_or(|to| to == i) {
                for result in node.ledger.submit(txs.clone(), &mut context) {
                    result.expect("transfer admitted");
                }
            }
            if let Some(joining) = &joining {
                for result in node.ledger.submit(joining.clone(), &mut context) {
                    result.expect("registration admitted");
                }
            }
        }

        if let Some(p) = scenario.partition {
            let others: Vec<usize> =
                live(&nodes).into_iter().filter(|&i| i != p.validator).collect();
            wait_height(&context, &nodes, &others, p.from_height).await;
            unlink(&oracle, &everyone, p.validator).await;
            wait_height(&context, &nodes, &others, p.until_height).await;
            link_all(&oracle, &everyone, None).await;
        }
        if let Some(c) = scenario.crash {
            let others: Vec<usize> =
                live(&nodes).into_iter().filter(|&i| i != c.validator).collect();
            wait_height(&context, &nodes, &others, c.at_height).await;
            abort(&mut nodes, c.validator);
            context.sleep(c.down_for).await;
            let i = c.validator;
            nodes[i] = Some(
                start_node(
                    &mut context,
                    &oracle,
                    &keys[i],
                    i,
                    &stores[i],
                    &genesis,
                    proposals(&scenario, i),
                )
                .await,
            );
        }
        if let Some(stop) = &scenario.stop {
            wait_height(&context, &nodes, &live(&nodes), stop.at_height).await;
            for &i in &stop.nodes {
                abort(&mut nodes, i);
            }
        }
        if let Some(at) = scenario.restart_all_at {
            let all = live(&nodes);
            wait_height(&context, &nodes, &all, at).await;
            for &i in &all {
                abort(&mut nodes, i);
            }
            context.sleep(Duration::from_secs(1)).await;
            for &i in &all {
                nodes[i] = Some(
                    start_node(
                        &mut context,
                        &oracle,
                        &keys[i],
                        i,
                        &stores[i],
                        &genesis,
                        proposals(&scenario, i),
                    )
                    .await,
                );
            }
        }
        wait_height(&context, &nodes, &live(&nodes), scenario.target_height).await;
        let certificates = light_check(&scenario, &nodes, &keys).await;
        let outcome = Outcome { certificates, ..outcome(&scenario, &nodes, &keys) };
        for node in nodes.iter().flatten() {
            node.running.abort();
        }
        for handle in byzantine {
            handle.abort();
        }
        Outcome { auditor: context.auditor().state(), ..outcome }
    })
}

/// The finalization certificates of epoch 0 the first live node holds, and how many of them
/// the light client (`alx-light`: no node code) verifies against the genesis validators, with
/// the header the node committed at that height.
async fn light_check(
    scenario: &Scenario,
    nodes: &[Option<Node>],
    keys: &[PrivateKey],
) -> (usize, usize) {
    use commonware_codec::Encode as _;
    let Some(first) = nodes.iter().flatten().next() else { return (0, 0) };
    let genesis =
        keys[..scenario.validators].iter().map(|k| Address::from_public_key(&k.public_key()));
    let set = alx_light::ValidatorSet::new(0, genesis).expect("genesis validators are keys");
    let (mut held, mut verified) = (0, 0);
    for h in 1..=scenario.target_height.0 {
        let block = first.ledger.store().block(Height(h)).expect("store").expect("block");
        if block.header.epoch != 0 {
            break;
        }
        if let Some(certificate) = first.running.certificates.finalization(Height(h)).await {
            held += 1;
            let headers = [block.header.encode().to_vec()];
            if alx_light::verify_finalization(&set, &headers, &certificate).is_ok() {
                verified += 1;
            }
        }
    }
    (held, verified)
}

fn outcome(scenario: &Scenario, nodes: &[Option<Node>], keys: &[PrivateKey]) -> Outcome {
    let heights = 1..=scenario.target_height.0;
    let block =
        |n: &Node, h: u64| n.ledger.store().block(Height(h)).expect("store").expect("block");
    let chains = nodes
        .iter()
        .flatten()
        .map(|n| {
            heights
                .clone()
                .map(|h| {
                    let b = block(n, h);
                    (b.digest(), b.header.state_root)
                })
                .collect()
        })
        .collect();
    let first = nodes.iter().flatten().next().expect("a live node");
    let headers = heights
        .clone()
        .map(|h| {
            let b = block(first, h);
            (b.header.epoch, b.header.proposer)
        })
        .collect();
    let committed = first.ledger.committed();
    let recipient_balance =
        committed.state.account(&recipient()).ok().flatten().map_or(Amount::ZERO, |a| a.balance);
    let addresses: Vec<Address> =
        keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
    let proposers_with_txs = heights
        .map(|h| block(first, h))
        .filter(|b| !b.txs.is_empty())
        .filter_map(|b| addresses.iter().position(|a| *a == b.header.proposer))
        .collect();
    let views_skipped = (1..=scenario.target_height.0)
        .map(|h| {
            let b = block(first, h);
            b.header.view.saturating_sub(b.header.parent_view).saturating_sub(1)
        })
        .sum();
    let own_stake =
        addresses.iter().map(|a| committed.state.delegation(a, a).unwrap_or_default()).collect();
    let equivocations_reported = (1..=scenario.target_height.0)
        .map(|h| {
            let receipts = alx_consensus::ChainView::receipts(first.ledger.as_ref(), Height(h));
            (block(first, h), receipts.unwrap_or_default())
        })
        .map(|(b, receipts)| {
            b.txs
                .iter()
                .zip(receipts)
                .filter(|(t, r)| {
                    matches!(t.tx.payload, Payload::ReportEquivocation(_)) && r.error.is_none()
                })
                .count()
        })
        .sum();
    Outcome {
        own_stake,
        equivocations_reported,
        views_skipped,
        certificates: (0, 0),
        chains,
        headers,
        addresses,
        active_set: committed.state.active_set().expect("state"),
        recipient_balance,
        proposers_with_txs,
        auditor: String::new(),
    }
}
