//! An in-memory subnet behind [`Chain`], with the chain's rules for what a neuron does
//! (registration, permits, commit-reveal epochs), for deterministic tests of the loops: every
//! pause is one empty block, every transaction lands in the next block.

use crate::{
    NeuronError,
    chain::{Chain, Landed},
    miner::{self, MinerConfig, MinerEvent},
    score::{Score, Scorer},
    store::{PendingWeights, WeightsStore},
    validator::{self, ValidatorConfig, ValidatorEvent},
};
use alx_types::{
    Address, Amount, ErrorCode, Height,
    model::{FeeSplit, ModelId, ModelSpec},
    model_api::ModelJson,
    subnet::{SubnetId, SubnetOp, SubnetSpec, Uid, weights_commit},
    subnet_api::{MetagraphJson, NeuronJson, NeuronRole, PendingCommitJson, SubnetJson},
    tx::Payload,
};
use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

mod evaluator;

/// Most blocks a test may take: a loop that never ends fails instead of hanging.
const BLOCKS_MAX: u64 = 2_000;

const ALICE: Address = Address([1; 32]);
const VAL: Address = Address([2; 32]);
const RIVAL: Address = Address([3; 32]);
const CHAIN_VALIDATOR: Address = Address([9; 32]);

/// The subnet's state.
struct World {
    height: Height,
    subnet: SubnetJson,
    neurons: Vec<NeuronJson>,
    bonded: BTreeMap<Address, Amount>,
    commits: BTreeMap<Uid, PendingCommitJson>,
    rows: BTreeMap<Uid, Vec<(Uid, u16)>>,
    /// Kinds of the transactions sent, in order.
    sent: Vec<&'static str>,
    /// Stop the caller at its first pause after a commit landed (a crash).
    crash_after_commit: bool,
}

impl World {
    /// Subnet 0, owned by alice, tempo 10, created at height 0, with alice's miner at uid 0.
    fn new() -> Self {
        let spec = SubnetSpec {
            name: "move-qa".into(),
            task: "answer Move questions".into(),
            datanets: vec![],
            tempo: 10,
            max_uids: 8,
            max_validators: 4,
            registration_burn: Amount(1),
            immunity_blocks: 0,
            yuma3: false,
        };
        let subnet = SubnetJson {
            id: SubnetId(0),
            owner: ALICE,
            spec,
            created_at: Height(0),
            neurons: 0,
            pending: Amount::ZERO,
            epochs: 0,
            last_epoch_block: Height(0),
            next_epoch_block: Height(10),
            liquid_alpha: alx_types::subnet::LiquidAlpha::OFF,
        };
        let mut world = Self {
            height: Height(1),
            subnet,
            neurons: vec![],
            bonded: BTreeMap::new(),
            commits: BTreeMap::new(),
            rows: BTreeMap::new(),
            sent: vec![],
            crash_after_commit: false,
        };
        world.push(ALICE, NeuronRole::Miner);
        world
    }

    fn push(&mut self, address: Address, kind: NeuronRole) -> Uid {
        let uid = self.neurons.len() as Uid;
        self.neurons.push(NeuronJson {
            uid,
            address,
            kind,
            model: (kind == NeuronRole::Miner).then_some(ModelId(0)),
            endpoint: None,
            stake: Amount::ZERO,
            validator_permit: false,
            registered_at: self.height,
            last_update: self.height,
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            last_emission: Amount::ZERO,
        });
        self.subnet.neurons = self.neurons.len() as u16;
        uid
    }

    fn stake(&self, n: &NeuronJson) -> Amount {
        match n.kind {
            NeuronRole::Validator => self.bonded.get(&n.address).copied().unwrap_or(Amount::ZERO),
            NeuronRole::Miner => Amount::ZERO,
        }
    }

    /// The chain's permit rule: the last epoch's, or before the first epoch the staked
    /// validators (top `max_validators`); the owner's uid always.
    fn view(&self) -> Vec<NeuronJson> {
        let first = self.subnet.epochs == 0;
        let top = self.top_staked();
        self.neurons
            .iter()
            .map(|n| NeuronJson {
                stake: self.stake(n),
                validator_permit: n.validator_permit
                    || (first && top.contains(&n.uid))
                    || n.address == self.subnet.owner,
                ..n.clone()
            })
            .collect()
    }

    fn top_staked(&self) -> Vec<Uid> {
        let mut ranked: Vec<(Amount, Uid)> = self
            .neurons
            .iter()
            .map(|n| (self.stake(n), n.uid))
            .filter(|(s, _)| !s.is_zero())
            .collect();
        ranked.sort_by(|a, b| b.cmp(a));
        ranked.into_iter().take(usize::from(self.subnet.spec.max_validators)).map(|r| r.1).collect()
    }

    /// One block, and the subnet's epoch when it is due.
    fn block(&mut self) {
        self.height = self.height.next();
        assert!(self.height.0 < BLOCKS_MAX, "the loop ran {BLOCKS_MAX} blocks");
        if self.height != self.subnet.next_epoch_block {
            return;
        }
        let top = self.top_staked();
        let view = self.view();
        // A miner earns when a staked validator with a permit weighted it.
        let weighted = |uid: Uid| {
            view.iter().any(|v| {
                v.validator_permit
                    && !v.stake.is_zero()
                    && self
                        .rows
                        .get(&v.uid)
                        .is_some_and(|r| r.iter().any(|&(d, w)| d == uid && w > 0))
            })
        };
        let incentive: Vec<u16> =
            self.neurons.iter().map(|n| if weighted(n.uid) { 65_535 } else { 0 }).collect();
        for (n, i) in self.neurons.iter_mut().zip(incentive) {
            n.validator_permit = top.contains(&n.uid);
            n.incentive = i;
        }
        self.subnet.epochs += 1;
        self.subnet.last_epoch_block = self.height;
        self.subnet.next_epoch_block = self.subnet.schedule().next_epoch_after(self.height);
    }

    fn uid_of(&self, who: &Address) -> Option<Uid> {
        self.neurons.iter().find(|n| n.address == *who).map(|n| n.uid)
    }

    /// Applies `payload` from `who` at the current height.
    fn apply(&mut self, who: Address, payload: &Payload) -> Result<(), ErrorCode> {
        let height = self.height;
        let epoch = self.subnet.schedule().epoch_of(height);
        let op = match payload {
            Payload::Bond { amount, .. } => {
                let bonded = self.bonded.entry(who).or_insert(Amount::ZERO);
                *bonded = Amount(bonded.0 + amount.0);
                return Ok(());
            }
            Payload::Subnet(op) => op,
            _ => unreachable!("neurons send bonds and subnet operations only"),
        };
        let uid = self.uid_of(&who);
        match op {
            SubnetOp::RegisterValidator { .. } | SubnetOp::RegisterMiner { .. } => {
                if uid.is_some() {
                    return Err(ErrorCode::AlreadyRegistered);
                }
                let kind = match op {
                    SubnetOp::RegisterMiner { .. } => NeuronRole::Miner,
                    _ => NeuronRole::Validator,
                };
                self.push(who, kind);
            }
            SubnetOp::CommitWeights { commit, .. } => {
                let uid = uid.ok_or(ErrorCode::NotRegistered)?;
                if !self.view()[usize::from(uid)].validator_permit {
                    return Err(ErrorCode::NoValidatorPermit);
                }
                let c = PendingCommitJson {
                    subnet: SubnetId(0),
                    uid,
                    commit: *commit,
                    block: height,
                    epoch,
                };
                self.commits.insert(uid, c);
            }
            SubnetOp::RevealWeights { dests, values, salt, .. } => {
                let uid = uid.ok_or(ErrorCode::NotRegistered)?;
                let c = self.commits.get(&uid).ok_or(ErrorCode::NoCommit)?;
                if epoch <= c.epoch {
                    return Err(ErrorCode::RevealTooEarly);
                }
                if epoch > c.epoch + 1 {
                    return Err(ErrorCode::RevealExpired);
                }
                if weights_commit(SubnetId(0), uid, dests, values, salt) != c.commit {
                    return Err(ErrorCode::RevealMismatch);
                }
                self.commits.remove(&uid);
                self.rows.insert(uid, dests.iter().copied().zip(values.iter().copied()).collect());
            }
            SubnetOp::Create(_)
            | SubnetOp::SetLiquidAlpha { .. }
            | SubnetOp::SealEval { .. }
            | SubnetOp::RevealEval { .. } => {
                unreachable!("neurons create no subnets, set no hyperparameters, seal no sets")
            }
        }
        Ok(())
    }
}

/// One process's view of the world: its key, over the shared state.
struct FakeChain {
    me: Address,
    world: Rc<RefCell<World>>,
}

impl Chain for FakeChain {
    fn signer(&self) -> Address {
        self.me
    }

    fn height(&self) -> Result<Height, NeuronError> {
        Ok(self.world.borrow().height)
    }

    fn subnet(&self, _id: &str) -> Result<SubnetJson, NeuronError> {
        Ok(self.world.borrow().subnet.clone())
    }

    fn metagraph(&self, subnet: SubnetId) -> Result<MetagraphJson, NeuronError> {
        let w = self.world.borrow();
        Ok(MetagraphJson { subnet, height: w.height, neurons: w.view() })
    }

    fn bonded(&self, who: &Address) -> Result<Amount, NeuronError> {
        Ok(self.world.borrow().bonded.get(who).copied().unwrap_or(Amount::ZERO))
    }

    fn validators(&self) -> Result<Vec<Address>, NeuronError> {
        Ok(vec![CHAIN_VALIDATOR])
    }

    fn pending_commit(
        &self,
        _subnet: SubnetId,
        uid: Uid,
    ) -> Result<Option<PendingCommitJson>, NeuronError> {
        Ok(self.world.borrow().commits.get(&uid).cloned())
    }

    fn send(&self, payload: Payload) -> Result<Landed, NeuronError> {
        let mut w = self.world.borrow_mut();
        let before = w.height;
        let height = before.next();
        w.height = height;
        let result = w.apply(self.me, &payload);
        w.height = before;
        w.block();
        w.sent.push(match &payload {
            Payload::Subnet(op) => op.kind(),
            _ => "bond",
        });
        let error = result.err();
        let hash = format!("tx{height}");
        Ok(Landed { hash, height, failed: error.is_some(), error, committed: None })
    }

    fn pause(&self) -> Result<(), NeuronError> {
        let mut w = self.world.borrow_mut();
        if w.crash_after_commit && w.sent.contains(&"subnet_commit_weights") {
            return Err(NeuronError::Stopped);
        }
        w.block();
        Ok(())
    }
}

/// Scores uid `u` with `1 + u` nats per byte: the lowest uid is the best.
struct FakeScorer;

impl Scorer for FakeScorer {
    fn prepare(&mut self, _subnet: &SubnetJson) -> Result<(), NeuronError> {
        Ok(())
    }

    fn score(&mut self, miner: &NeuronJson) -> Result<Score, NeuronError> {
        let nats_per_byte = 1.0 + f64::from(miner.uid);
        Ok(Score { nats_per_byte, tokens: 10, bytes: 40, accuracy: None })
    }
}

fn config(epochs: Option<u64>) -> ValidatorConfig {
    ValidatorConfig {
        subnet: "move-qa".into(),
        key: "val".into(),
        stake: None,
        stake_to: None,
        permit_wait_epochs: 3,
        epochs,
    }
}

/// Runs a validator as `me` until it returns; its events and result.
fn validate(
    world: &Rc<RefCell<World>>,
    store: &WeightsStore,
    me: Address,
    config: &ValidatorConfig,
) -> (Vec<ValidatorEvent>, Result<(), NeuronError>) {
    let chain = FakeChain { me, world: world.clone() };
    let mut events = Vec::new();
    let result = validator::run(&chain, store, &mut FakeScorer, config, &mut |e| {
        events.push(e.clone());
    });
    (events, result)
}

fn kinds(events: &[ValidatorEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            ValidatorEvent::Bonded { .. } => "bonded",
            ValidatorEvent::Registered { .. } => "registered",
            ValidatorEvent::Joined { .. } => "joined",
            ValidatorEvent::WaitingForPermit { .. } => "waiting_for_permit",
            ValidatorEvent::Permitted { .. } => "permitted",
            ValidatorEvent::Revealed { .. } => "revealed",
            ValidatorEvent::Discarded { .. } => "discarded",
            ValidatorEvent::Scored { .. } => "scored",
            ValidatorEvent::NotScored { .. } => "not_scored",
            ValidatorEvent::NoMiners { .. } => "no_miners",
            ValidatorEvent::Committed { .. } => "committed",
        })
        .collect()
}

fn world_with_staked_val() -> Rc<RefCell<World>> {
    let mut w = World::new();
    w.bonded.insert(VAL, Amount(1_000));
    Rc::new(RefCell::new(w))
}

#[test]
fn a_validator_killed_between_commit_and_reveal_reveals_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let world = world_with_staked_val();
    world.borrow_mut().crash_after_commit = true;
    let (events, result) = validate(&world, &WeightsStore::new(dir.path()), VAL, &config(None));
    assert_eq!(result.unwrap_err().code(), "stopped");
    assert_eq!(kinds(&events), ["registered", "joined", "scored", "committed"]);
    // The salt is on disk, and it is the one behind the commit on chain.
    let store = WeightsStore::new(dir.path());
    let saved: PendingWeights =
        store.load(SubnetId(0), &VAL).unwrap().expect("the commit's weights saved");
    let on_chain = world.borrow().commits.get(&1).cloned().expect("the commit is on chain");
    assert_eq!(saved.commit(), on_chain.commit);
    assert_eq!((saved.uid, &saved.dests, &saved.values), (1, &vec![0], &vec![65_535]));
    assert!(world.borrow().rows.is_empty());

    // A new process, a new store value over the same directory, nothing carried in memory.
    world.borrow_mut().crash_after_commit = false;
    let (events, result) = validate(&world, &WeightsStore::new(dir.path()), VAL, &config(Some(1)));
    result.unwrap();
    assert_eq!(kinds(&events), ["joined", "revealed"], "{events:?}");
    assert_eq!(
        events[1],
        ValidatorEvent::Revealed { epoch: 1, committed_epoch: 0, hash: events_hash(&events[1]) }
    );
    assert_eq!(world.borrow().rows.get(&1), Some(&vec![(0, 65_535)]));
    assert_eq!(store.load(SubnetId(0), &VAL).unwrap(), None, "a revealed commit leaves no file");
    // The reveal counts at the end of its epoch: alice's miner earns.
    let chain = FakeChain { me: VAL, world: world.clone() };
    while world.borrow().subnet.epochs < 2 {
        chain.pause().unwrap();
    }
    assert_eq!(world.borrow().neurons[0].incentive, 65_535);
}

fn events_hash(e: &ValidatorEvent) -> String {
    match e {
        ValidatorEvent::Revealed { hash, .. } | ValidatorEvent::Committed { hash, .. } => {
            hash.clone()
        }
        other => panic!("no hash in {other:?}"),
    }
}

#[test]
fn a_miners_key_is_refused_as_validator_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let world = world_with_staked_val();
    world.borrow_mut().bonded.insert(ALICE, Amount(1_000));
    let (events, result) =
        validate(&world, &WeightsStore::new(dir.path()), ALICE, &config(Some(1)));
    let err = result.unwrap_err();
    assert_eq!(err.code(), "uid_is_miner");
    assert!(err.to_string().contains("holds uid 0 in subnet 0 as a miner"), "{err}");
    assert!(err.hint().unwrap().contains("alx keys new"), "{:?}", err.hint());
    assert!(events.is_empty() && world.borrow().sent.is_empty(), "{events:?}");
}

#[test]
fn a_key_without_stake_is_told_how_to_bond_and_stake_bonds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = WeightsStore::new(dir.path());
    let world = Rc::new(RefCell::new(World::new()));
    let (_, result) = validate(&world, &store, VAL, &config(Some(1)));
    let err = result.unwrap_err();
    assert_eq!(err.code(), "no_stake");
    assert!(err.hint().unwrap().contains("--stake"), "{:?}", err.hint());
    assert!(world.borrow().sent.is_empty(), "nothing is sent without stake");

    let staked = ValidatorConfig { stake: Some(Amount(1_000)), ..config(Some(1)) };
    let (events, result) = validate(&world, &store, VAL, &staked);
    result.unwrap();
    assert_eq!(
        kinds(&events),
        ["bonded", "registered", "joined", "scored", "committed", "revealed"]
    );
    assert_eq!(world.borrow().bonded[&VAL], Amount(1_000));
    assert_eq!(
        events[0],
        ValidatorEvent::Bonded {
            amount: Amount(1_000),
            validator: CHAIN_VALIDATOR,
            hash: "tx2".into()
        }
    );
}

#[test]
fn a_validator_without_a_permit_waits_for_the_next_epoch_then_proceeds() {
    let dir = tempfile::tempdir().unwrap();
    let world = world_with_staked_val();
    // The subnet's first epoch has run: a new validator's permit comes at the next one.
    let chain = FakeChain { me: VAL, world: world.clone() };
    while world.borrow().height < Height(12) {
        chain.pause().unwrap();
    }
    assert_eq!(world.borrow().subnet.epochs, 1);
    let (events, result) = validate(&world, &WeightsStore::new(dir.path()), VAL, &config(Some(1)));
    result.unwrap();
    assert_eq!(
        kinds(&events),
        [
            "registered",
            "joined",
            "waiting_for_permit",
            "permitted",
            "scored",
            "committed",
            "revealed"
        ],
        "{events:?}"
    );
    let waiting = ValidatorEvent::WaitingForPermit {
        uid: 1,
        epoch: 1,
        next_epoch_block: Height(20),
        stake: Amount(1_000),
    };
    assert_eq!(events[2], waiting);
    assert_eq!(
        events[2].to_string(),
        "epoch 1: uid 1 (stake 0.000001 ALX) has no validator permit yet; waiting for the subnet epoch at block 20"
    );
    assert!(matches!(events[5], ValidatorEvent::Committed { epoch: 2, .. }), "{events:?}");
    assert!(
        matches!(events[6], ValidatorEvent::Revealed { epoch: 3, committed_epoch: 2, .. }),
        "{events:?}"
    );
}

#[test]
fn an_outranked_validator_gives_up_after_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let world = world_with_staked_val();
    {
        let mut w = world.borrow_mut();
        w.subnet.spec.max_validators = 1;
        w.bonded.insert(RIVAL, Amount(5_000));
        w.push(RIVAL, NeuronRole::Validator);
    }
    let chain = FakeChain { me: VAL, world: world.clone() };
    while world.borrow().subnet.epochs < 1 {
        chain.pause().unwrap();
    }
    let (events, result) = validate(&world, &WeightsStore::new(dir.path()), VAL, &config(Some(1)));
    let err = result.unwrap_err();
    assert_eq!(err.code(), "no_validator_permit");
    assert!(err.hint().unwrap().contains("top 1 validators by bonded stake"), "{:?}", err.hint());
    let waits = kinds(&events).iter().filter(|k| **k == "waiting_for_permit").count();
    assert_eq!(waits, 4, "one line per epoch waited: {events:?}");
    assert!(!world.borrow().sent.contains(&"subnet_commit_weights"));
}

#[test]
fn saved_weights_the_chain_never_saw_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = WeightsStore::new(dir.path());
    let world = world_with_staked_val();
    world.borrow_mut().push(VAL, NeuronRole::Validator);
    // Saved, then the process died before the commit was sent.
    let lost = PendingWeights {
        subnet: SubnetId(0),
        uid: 1,
        dests: vec![0],
        values: vec![7],
        salt: [4; 32],
    };
    store.save(&VAL, &lost).unwrap();
    let (events, result) = validate(&world, &store, VAL, &config(Some(1)));
    result.unwrap();
    assert_eq!(kinds(&events), ["joined", "discarded", "scored", "committed", "revealed"]);
    assert_eq!(world.borrow().rows.get(&1), Some(&vec![(0, 65_535)]));
}

#[test]
fn a_validators_key_cannot_mine_and_a_miner_reports_each_epoch() {
    let world = world_with_staked_val();
    world.borrow_mut().push(VAL, NeuronRole::Validator);
    let model = |owner| ModelJson {
        id: ModelId(0),
        owner,
        spec: ModelSpec {
            name: "smollm2-move".into(),
            base_model: alx_types::hash::from_bytes([0; 32]),
            adapter: None,
            datanets: vec![],
            price_input_per_1k: Amount::ZERO,
            price_output_per_1k: Amount::ZERO,
            split: FeeSplit::DEFAULT,
        },
        registered_at: Height(1),
        retired: false,
    };
    let cfg = MinerConfig {
        subnet: "0".into(),
        key: "val".into(),
        endpoint: "http://127.0.0.1:9/v1".into(),
        epochs: Some(1),
    };
    let chain = FakeChain { me: VAL, world: world.clone() };
    let err = miner::run(&chain, &model(VAL), &cfg, &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "uid_is_validator");
    let err = miner::run(&chain, &model(ALICE), &cfg, &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "not_model_owner");
    let alice = FakeChain { me: ALICE, world };
    let mut events = Vec::new();
    miner::run(&alice, &model(ALICE), &cfg, &mut |e| events.push(e.clone())).unwrap();
    assert!(matches!(events[0], MinerEvent::Joined { uid: 0, .. }), "{events:?}");
    assert!(matches!(events[1], MinerEvent::Epoch { epoch: 1, uid: 0, .. }), "{events:?}");
}
