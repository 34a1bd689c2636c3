//! Subnets: creation, registration, commit-reveal weights, Yuma epochs with exact emission
//! accounting, pruning, and a collusion scenario. Account 0 is the chain validator and
//! proposer (never a subnet participant), 1 owns the datanet and the subnets.

use crate::*;
use alx_emission::{Curve, EmissionParams, Schedule, ScheduleParams, Split, SubnetSplit};
use alx_state::emission::POOL_SUBNETS;
use alx_types::{
    ErrorCode, Hash, TxStatus,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec, MediaType, Policy},
    hash::sha256,
    limits::SUBNET_CREATION_LOCK,
    model::{DatanetVersionRef, FeeSplit, ModelId, ModelOp, ModelSpec},
    subnet::{SubnetId, SubnetOp, SubnetSpec, Uid, weights_commit},
    subnet_api::NeuronRole,
};
use std::collections::BTreeMap;

/// Minted per block; the subnet class is 40% of it.
pub(crate) const PER_BLOCK: u128 = 1_000_000_000;
pub(crate) const SUBNET_CLASS: u128 = PER_BLOCK * 4 / 10;
pub(crate) const BURN: u128 = 1_000_000;
/// One ALX of stake.
pub(crate) const ALX: u128 = 1_000_000_000;

pub(crate) struct Chain {
    pub(crate) state: State,
    nonces: BTreeMap<u64, u64>,
}

impl Chain {
    /// Accounts 0..20 funded with 10^6 ALX; a constant emission of `PER_BLOCK` if `emission`;
    /// datanet 0 with version 1 (owned by 1).
    pub(crate) fn new(emission: bool) -> Self {
        let mut g = genesis();
        g.accounts = (0..20)
            .map(|i| GenesisAccount { address: addr(i), balance: Amount(1_000_000 * ALX) })
            .collect();
        if emission {
            let curve =
                Curve::Halving { initial_per_block: Amount(PER_BLOCK), interval_blocks: 1 << 40 };
            g.emission = Some(EmissionParams {
                schedule: Schedule::new(ScheduleParams { curve, cap: Amount(10u128.pow(27)) })
                    .unwrap(),
                split: Split::DEFAULT,
                subnet_split: SubnetSplit::DEFAULT,
            });
        }
        let mut c = Self { state: State::from_genesis(&g).unwrap(), nonces: BTreeMap::new() };
        let spec = DatanetSpec {
            name: "move".into(),
            description: String::new(),
            tags: vec![],
            license: "MIT".into(),
            policy: Policy::Open,
            contribution_fee: Amount(0),
            contribution_stake: Amount(0),
            daily_byte_cap: 0,
            curators: vec![],
            duplicate_threshold_bps: 0,
        };
        let content =
            ContentRef { hash: sha256(&[b"held-out"]), size: 10, media_type: MediaType::Text };
        c.block(vec![
            (1, Payload::Datanet(DatanetOp::Create(Box::new(spec)))),
            (2, Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content })),
        ]);
        let report = held(&c.state, DatanetId(0), ContributionId(0));
        c.block(vec![
            (0, attest(vec![report])),
            (1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) })),
        ]);
        c
    }

    /// Runs one block of `txs` (signed with the next nonces) and checks the supply.
    pub(crate) fn block(&mut self, txs: Vec<(u64, Payload)>) -> Vec<Option<ErrorCode>> {
        let signed: Vec<SignedTx> = txs
            .into_iter()
            .map(|(from, payload)| {
                let nonce = self.nonces.entry(from).or_default();
                *nonce += 1;
                tx(from, *nonce - 1, MIN_FEE, payload)
            })
            .collect();
        let receipts = run(&mut self.state, &signed);
        self.check_supply();
        receipts
            .into_iter()
            .map(|r| {
                assert_eq!(r.status == TxStatus::Success, r.error.is_none());
                r.error
            })
            .collect()
    }

    pub(crate) fn check_supply(&self) {
        assert_eq!(total_held(&self.state), self.state.supply().unwrap().0, "supply moved");
        let pending: u128 = self.state.subnets().unwrap().iter().map(|s| s.pending.0).sum();
        assert_eq!(pending, self.state.subnet_pending_total().unwrap().0, "pending total");
    }

    pub(crate) fn ok(&mut self, from: u64, payload: Payload) {
        assert_eq!(self.block(vec![(from, payload)]), vec![None]);
    }

    /// Runs `payload` from `from` and checks it fails with `code` having changed nothing but
    /// the sender's fee and nonce: against a copy of the chain that ran an empty block, the
    /// failed block wrote the same entries, the sender's account and where its fee went (the
    /// validator's staking pool) aside, and the sender is exactly one fee and one nonce apart.
    pub(crate) fn refused(&mut self, from: u64, payload: Payload, code: ErrorCode) {
        assert_ne!(from, 0, "the validator's staking reward would hide the sender's fee");
        self.state.take_changes();
        let mut control = self.state.clone();
        run(&mut control, &[]);
        assert_eq!(self.block(vec![(from, payload)]), vec![Some(code)]);
        let skip = [
            alx_state::keys::account_key(&addr(from)),
            alx_state::keys::global_key(alx_state::staking_pools::STAKING_POOL),
        ];
        let pools = alx_state::staking_pools::pool_key(&addr(0))[0];
        let kept = |(k, _): &(Vec<u8>, _)| !skip.contains(k) && k.first() != Some(&pools);
        let changed: BTreeMap<_, _> = self.state.take_changes().into_iter().filter(kept).collect();
        let expected: BTreeMap<_, _> = control.take_changes().into_iter().filter(kept).collect();
        assert_eq!(changed, expected, "{code:?}: a failed transaction wrote state");
        let (now, then) = (self.account(from), control.account(&addr(from)).unwrap().unwrap());
        assert_eq!((now.balance.0, now.nonce), (then.balance.0 - MIN_FEE, then.nonce + 1));
    }

    pub(crate) fn account(&self, who: u64) -> alx_state::Account {
        self.state.account(&addr(who)).unwrap().unwrap_or_default()
    }

    pub(crate) fn balance(&self, who: u64) -> u128 {
        self.account(who).balance.0
    }

    pub(crate) fn height(&self) -> u64 {
        self.state.height().unwrap().0
    }

    /// Empty blocks up to and including `height`.
    pub(crate) fn advance_to(&mut self, height: u64) {
        while self.height() < height {
            self.block(vec![]);
        }
    }

    /// Registers a model owned by `owner`.
    pub(crate) fn model(&mut self, owner: u64, name: &str) -> ModelId {
        let spec = ModelSpec {
            name: name.into(),
            base_model: sha256(&[name.as_bytes()]),
            adapter: None,
            datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
            price_input_per_1k: Amount(1),
            price_output_per_1k: Amount(1),
            split: FeeSplit::DEFAULT,
        };
        self.ok(owner, Payload::Model(ModelOp::Register(Box::new(spec))));
        ModelId(self.state.model_count().unwrap() - 1)
    }

    /// Creates a subnet owned by 1; returns its id and creation height.
    pub(crate) fn subnet(&mut self, spec: SubnetSpec) -> (SubnetId, u64) {
        self.ok(1, subnet_op(SubnetOp::Create(Box::new(spec))));
        (SubnetId(self.state.subnet_count().unwrap() - 1), self.height())
    }

    pub(crate) fn uid(&self, subnet: SubnetId, who: u64) -> Uid {
        self.state.uid_of(subnet, &addr(who)).unwrap().unwrap()
    }

    pub(crate) fn miner(&mut self, subnet: SubnetId, who: u64) -> Uid {
        let model = self.model(who, &format!("model-{who}"));
        self.ok(who, miner_op(subnet, model));
        self.uid(subnet, who)
    }

    pub(crate) fn validator(&mut self, subnet: SubnetId, who: u64) -> Uid {
        self.ok(who, subnet_op(SubnetOp::RegisterValidator { subnet }));
        self.uid(subnet, who)
    }

    /// Commits `weights` as `who` (salt from `who`).
    pub(crate) fn commit(&mut self, subnet: SubnetId, who: u64, weights: &[(Uid, u16)]) {
        let commit = self.commit_of(subnet, who, weights);
        self.ok(who, subnet_op(SubnetOp::CommitWeights { subnet, commit }));
    }

    pub(crate) fn commit_of(&self, subnet: SubnetId, who: u64, weights: &[(Uid, u16)]) -> Hash {
        let (dests, values): (Vec<_>, Vec<_>) = weights.iter().copied().unzip();
        weights_commit(subnet, self.uid(subnet, who), &dests, &values, &salt(who))
    }
}

pub(crate) fn salt(who: u64) -> [u8; 32] {
    [who as u8; 32]
}

pub(crate) fn reveal_op(subnet: SubnetId, who: u64, weights: &[(Uid, u16)]) -> Payload {
    let (dests, values) = weights.iter().copied().unzip();
    subnet_op(SubnetOp::RevealWeights { subnet, dests, values, salt: salt(who) })
}

pub(crate) fn subnet_op(op: SubnetOp) -> Payload {
    Payload::Subnet(op)
}

pub(crate) fn miner_op(subnet: SubnetId, model: ModelId) -> Payload {
    subnet_op(SubnetOp::RegisterMiner {
        subnet,
        model,
        endpoint: "https://miner.example/v1".into(),
    })
}

pub(crate) fn bond(amount: u128) -> Payload {
    Payload::Bond { validator: addr(0), amount: Amount(amount) }
}

pub(crate) fn spec(name: &str) -> SubnetSpec {
    SubnetSpec {
        name: name.into(),
        task: "Answer Move questions".into(),
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        tempo: 10,
        max_uids: 16,
        max_validators: 8,
        registration_burn: Amount(BURN),
        immunity_blocks: 0,
        yuma3: false,
    }
}

fn owner_cut(pending: u128) -> u128 {
    pending * 1_800 / 10_000
}

#[test]
fn an_epoch_pays_owner_validators_and_miners_exactly() {
    let mut c = Chain::new(true);
    c.block(vec![(3, bond(300 * ALX)), (4, bond(100 * ALX))]);
    let pool_before = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    let (id, created) = c.subnet(spec("move-qa"));
    let s = c.state.subnet(id).unwrap().unwrap();
    assert_eq!((s.owner, s.created_at, s.neurons), (addr(1), Height(created), 0));
    // The lock, one block's class, and as much again from the backlog of the blocks before.
    let release = pool_before.min(SUBNET_CLASS);
    assert_eq!(s.pending.0, SUBNET_CREATION_LOCK.0 + SUBNET_CLASS + release);
    let pool_after = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    assert_eq!(pool_after, pool_before - release, "no dust with 1 subnet");
    assert_eq!(c.state.subnet_by_name("move-qa").unwrap(), Some(id));

    let (v1, v2) = (c.validator(id, 3), c.validator(id, 4));
    let (m1, m2) = (c.miner(id, 8), c.miner(id, 9));
    assert_eq!((v1, v2, m1, m2), (0, 1, 2, 3));
    let g = c.state.metagraph(id).unwrap().unwrap();
    assert_eq!(g.neurons[2].kind, NeuronRole::Miner);
    assert_eq!(g.neurons[2].endpoint.as_deref(), Some("https://miner.example/v1"));
    assert_eq!((g.neurons[0].stake.0, g.neurons[2].stake.0), (300 * ALX, 0));
    assert!(g.neurons[0].validator_permit && g.neurons[1].validator_permit);
    assert!(!g.neurons[2].validator_permit, "miners count no stake");

    // Epoch 0 (heights created+1 ..= created+10): commits, no weights yet.
    let w = [(m1, 48_000), (m2, 16_000)];
    c.commit(id, 3, &w);
    c.commit(id, 4, &w);
    let commit = c.state.pending_commit(id, v1).unwrap().unwrap();
    assert_eq!(commit.epoch, 0);
    let end0 = created + 10;
    c.advance_to(end0 - 1);
    // The epoch's block adds its class and what is left of the backlog, up to a class.
    let pool = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    let pending0 =
        c.state.subnet(id).unwrap().unwrap().pending.0 + SUBNET_CLASS + pool.min(SUBNET_CLASS);
    let backlog_paid = pool_before - pool + pool.min(SUBNET_CLASS);
    assert_eq!(pending0, SUBNET_CREATION_LOCK.0 + 4 * BURN + 11 * SUBNET_CLASS + backlog_paid);
    let before: Vec<u128> = [1, 3, 4, 8, 9].iter().map(|&w| c.balance(w)).collect();
    c.advance_to(end0);
    let epochs = c.state.subnet_epochs(id).unwrap();
    let e0 = &epochs[0];
    assert_eq!((epochs.len(), e0.epoch, e0.block), (1, 0, Height(end0)));
    assert_eq!(e0.owner_emission.0, owner_cut(pending0));
    assert_eq!(c.balance(1) - before[0], owner_cut(pending0));
    // No weights: validators are paid by stake (3:1), miners nothing.
    let paid: Vec<u128> =
        [3, 4, 8, 9].iter().zip(&before[1..]).map(|(&w, b)| c.balance(w) - b).collect();
    assert_eq!(paid, e0.emission.iter().map(|a| a.0).collect::<Vec<_>>());
    assert_eq!(paid.iter().sum::<u128>(), e0.total_emission.0);
    assert_eq!((paid[2], paid[3]), (0, 0));
    assert!(paid[0].abs_diff(3 * paid[1]) <= 3, "{paid:?}");
    let yuma0 = pending0 - owner_cut(pending0);
    assert!(yuma0 - e0.total_emission.0 <= 4, "only rounding stays");
    let left0 = pending0 - e0.owner_emission.0 - e0.total_emission.0;
    assert_eq!(c.state.subnet(id).unwrap().unwrap().pending.0, left0);

    // Epoch 1: the reveals count at its end; miners are paid 3:1 by the weights.
    c.block(vec![(3, reveal_op(id, 3, &w)), (4, reveal_op(id, 4, &w))]);
    assert_eq!(c.state.weights_row(id, v1).unwrap(), w.to_vec());
    assert!(c.state.pending_commit(id, v1).unwrap().is_none());
    assert_eq!(c.state.neuron(id, v1).unwrap().unwrap().last_update, Height(c.height()));
    let end1 = end0 + 10;
    c.advance_to(end1 - 1);
    let pending1 = c.state.subnet(id).unwrap().unwrap().pending.0 + SUBNET_CLASS;
    assert_eq!(pending1, left0 + 10 * SUBNET_CLASS);
    let before: Vec<u128> = [1, 3, 4, 8, 9].iter().map(|&w| c.balance(w)).collect();
    c.advance_to(end1);
    let e1 = c.state.subnet_epochs(id).unwrap()[1].clone();
    assert_eq!(c.balance(1) - before[0], owner_cut(pending1));
    let paid: Vec<u128> =
        [3, 4, 8, 9].iter().zip(&before[1..]).map(|(&w, b)| c.balance(w) - b).collect();
    assert_eq!(paid, e1.emission.iter().map(|a| a.0).collect::<Vec<_>>());
    let yuma1 = pending1 - owner_cut(pending1);
    assert!(yuma1 - e1.total_emission.0 <= 4);
    // Incentive and dividends each take half; miner 2 gets three times miner 3.
    assert!(paid[2].abs_diff(3 * paid[3]) <= 3, "{paid:?}");
    assert!((paid[2] + paid[3]).abs_diff(yuma1 / 2) <= 2, "{paid:?}");
    assert_eq!(
        c.state.subnet(id).unwrap().unwrap().pending.0,
        pending1 - e1.owner_emission.0 - e1.total_emission.0
    );
    let g = c.state.metagraph(id).unwrap().unwrap();
    assert_eq!(g.neurons[2].incentive, 49_151, "0.75 of 65535, floored");
    assert_eq!(g.neurons[2].last_emission.0, paid[2]);
    assert!(g.neurons[0].dividends > 0 && g.neurons[0].validator_trust > 0);
    let s = c.state.subnet(id).unwrap().unwrap();
    assert_eq!(
        (s.epochs, s.last_epoch_block, s.next_epoch_block),
        (2, Height(end1), Height(end1 + 10))
    );
}

#[test]
fn block_shares_split_equally_and_the_dust_stays_in_the_pool() {
    let mut c = Chain::new(true);
    c.subnet(spec("a"));
    c.subnet(spec("b"));
    let pool = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    let pending: Vec<u128> = c.state.subnets().unwrap().iter().map(|s| s.pending.0).collect();
    c.ok(1, subnet_op(SubnetOp::Create(Box::new(spec("c")))));
    // 400,000,000 over 3: 133,333,333 each, 1 left in the pool.
    let share = SUBNET_CLASS / 3;
    let now: Vec<u128> = c.state.subnets().unwrap().iter().map(|s| s.pending.0).collect();
    assert_eq!(now, vec![pending[0] + share, pending[1] + share, SUBNET_CREATION_LOCK.0 + share]);
    assert_eq!(c.state.amount_global(POOL_SUBNETS).unwrap().0, pool + SUBNET_CLASS - 3 * share);
}

#[test]
fn the_backlog_of_blocks_without_subnets_is_paid_out_at_the_class_rate() {
    let mut c = Chain::new(true);
    for _ in 0..3 {
        c.block(vec![]);
    }
    let backlog = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    assert!(backlog >= 3 * SUBNET_CLASS, "{backlog}");
    let (id, _) = c.subnet(spec("late"));
    let pending = |c: &Chain| c.state.subnet(id).unwrap().unwrap().pending.0;
    let mut last = pending(&c);
    let mut pool = c.state.amount_global(POOL_SUBNETS).unwrap().0;
    while pool > 0 {
        c.block(vec![]);
        let (now, pool_now) = (pending(&c), c.state.amount_global(POOL_SUBNETS).unwrap().0);
        let release = pool.min(SUBNET_CLASS);
        assert_eq!((now - last, pool_now), (SUBNET_CLASS + release, pool - release));
        (last, pool) = (now, pool_now);
    }
    c.block(vec![]);
    assert_eq!(pending(&c) - last, SUBNET_CLASS, "drained: back to the class alone");
}

#[test]
fn a_chain_without_emission_still_pays_out_locks_and_burns() {
    let mut c = Chain::new(false);
    c.block(vec![(3, bond(10 * ALX))]);
    let (id, created) = c.subnet(spec("quiet"));
    c.validator(id, 3);
    let before = (c.balance(1), c.balance(3));
    c.advance_to(created + 10);
    let pending = SUBNET_CREATION_LOCK.0 + BURN;
    assert_eq!(c.balance(1) - before.0, owner_cut(pending));
    let e = &c.state.subnet_epochs(id).unwrap()[0];
    assert_eq!(c.balance(3) - before.1, e.total_emission.0);
    assert!(pending - owner_cut(pending) - e.total_emission.0 <= 1, "the only validator");
}

#[test]
fn the_history_keeps_the_last_64_epochs() {
    let mut c = Chain::new(true);
    let (id, created) = c.subnet(spec("long"));
    c.advance_to(created + 66 * 10);
    let epochs = c.state.subnet_epochs(id).unwrap();
    assert_eq!(epochs.len(), 64);
    assert_eq!((epochs[0].epoch, epochs[63].epoch), (2, 65));
    assert_eq!(epochs[63].block, Height(created + 660));
    // No neuron: only the owner is paid; the rest waits.
    assert!(epochs.iter().all(|e| e.total_emission.0 == 0 && e.emission.is_empty()));
}

#[test]
fn pruning_replaces_the_weakest_with_yumas_replace_uid() {
    let mut c = Chain::new(true);
    c.block(vec![(3, bond(100 * ALX))]);
    let (id, created) = c.subnet(SubnetSpec {
        max_uids: 4,
        max_validators: 2,
        immunity_blocks: 5,
        ..spec("small")
    });
    let owner = c.miner(id, 1);
    let v = c.validator(id, 3);
    let (m1, m2) = (c.miner(id, 8), c.miner(id, 9));
    let w = [(m1, 60_000), (m2, 5_000)];
    c.commit(id, 3, &w);
    c.advance_to(created + 11);
    c.ok(3, reveal_op(id, 3, &w));
    c.advance_to(created + 20);
    let g = c.state.metagraph(id).unwrap().unwrap();
    let score: Vec<u128> = g.neurons.iter().map(|n| n.last_emission.0).collect();
    assert_eq!(score[usize::from(owner)], 0, "the owner earns nothing, yet is never pruned");
    assert!(score[usize::from(m2)] > 0 && score[usize::from(m2)] < score[usize::from(m1)]);
    assert!(score[usize::from(m2)] < score[usize::from(v)]);
    let bonds_on_m2 = c.state.bonds_row(id, v).unwrap();
    assert!(bonds_on_m2.iter().any(|&(j, b)| j == m2 && b > 0));

    // Full: the newcomer takes the weakest uid that is neither immune nor the owner's.
    let model = c.model(10, "newcomer");
    c.ok(10, miner_op(id, model));
    let h = c.height();
    assert_eq!(c.uid(id, 10), m2);
    assert_eq!(c.state.uid_of(id, &addr(9)).unwrap(), None);
    let n = c.state.neuron(id, m2).unwrap().unwrap();
    assert_eq!((n.address, n.registered_at, n.last_update), (addr(10), Height(h), Height(h)));
    assert_eq!((n.incentive, n.consensus, n.last_emission.0, n.validator_permit), (0, 0, 0, false));
    // Yuma's replace_uid: weights on the uid become 0 (kept), its own rows go, bonds others
    // hold on it stay.
    assert_eq!(c.state.weights_row(id, v).unwrap(), vec![(m1, 60_000), (m2, 0)]);
    assert!(c.state.bonds_row(id, m2).unwrap().is_empty());
    assert_eq!(c.state.bonds_row(id, v).unwrap(), bonds_on_m2);
    assert_eq!(c.state.subnet(id).unwrap().unwrap().neurons, 4);

    // The newcomer is immune for 5 blocks; the owner always: the next one takes m1 or the
    // validator, whichever earned less.
    let model = c.model(11, "second");
    c.ok(11, miner_op(id, model));
    let weakest = if score[usize::from(m1)] < score[usize::from(v)] { m1 } else { v };
    assert_eq!(c.uid(id, 11), weakest);
}

#[test]
fn equal_scores_prune_the_lower_uid_and_drop_its_commit() {
    let mut c = Chain::new(false);
    c.block(vec![(3, bond(ALX)), (4, bond(ALX))]);
    let (id, _) = c.subnet(SubnetSpec { max_uids: 2, max_validators: 2, ..spec("pair") });
    c.validator(id, 3);
    c.validator(id, 4);
    c.commit(id, 3, &[(1, 1)]);
    c.commit(id, 4, &[(0, 1)]);
    c.validator(id, 5);
    assert_eq!(c.uid(id, 5), 0);
    assert!(c.state.pending_commit(id, 0).unwrap().is_none(), "the replaced uid's commit");
    assert!(c.state.pending_commit(id, 1).unwrap().is_some());
    assert_eq!(c.state.uid_of(id, &addr(3)).unwrap(), None);
    // The replaced account may register again: equal scores again, so uid 0 again.
    c.validator(id, 3);
    assert_eq!((c.uid(id, 3), c.uid(id, 4)), (0, 1));
    assert_eq!(c.state.uid_of(id, &addr(5)).unwrap(), None);
}

/// 3 honest validators (700 of 1000 stake) weight the good miners; 2 colluders weight a bad
/// miner. Yuma clips the colluders' weights to the stake-weighted median: the bad miner earns
/// (almost) nothing and the colluders earn less per stake than the honest validators, the
/// 200-stake colluder less than the 200-stake honest ones.
fn collusion(yuma3: bool) {
    let mut c = Chain::new(true);
    let stakes: [(u64, u128); 5] = [(3, 300), (4, 200), (5, 200), (6, 200), (7, 100)];
    c.block(stakes.iter().map(|&(w, s)| (w, bond(s * ALX))).collect());
    let models: Vec<ModelId> = (8..11).map(|w| c.model(w, &format!("model-{w}"))).collect();
    let (id, created) = c.subnet(SubnetSpec { yuma3, ..spec("collusion") });
    let mut regs: Vec<(u64, Payload)> = stakes
        .iter()
        .map(|&(w, _)| (w, subnet_op(SubnetOp::RegisterValidator { subnet: id })))
        .collect();
    regs.extend((8..11).zip(&models).map(|(w, &m)| (w, miner_op(id, m))));
    assert_eq!(c.block(regs), vec![None; 8]);
    let (good1, good2, bad) = (c.uid(id, 8), c.uid(id, 9), c.uid(id, 10));
    let honest = [(good1, 40_000), (good2, 25_000)];
    let colluding = [(bad, 65_535)];
    let weights = |w: u64| if w <= 5 { honest.to_vec() } else { colluding.to_vec() };
    let commits: Vec<(u64, Payload)> = stakes
        .iter()
        .map(|&(w, _)| {
            let commit = c.commit_of(id, w, &weights(w));
            (w, subnet_op(SubnetOp::CommitWeights { subnet: id, commit }))
        })
        .collect();
    assert_eq!(c.block(commits), vec![None; 5]);
    c.advance_to(created + 11);
    let reveals = stakes.iter().map(|&(w, _)| (w, reveal_op(id, w, &weights(w)))).collect();
    assert_eq!(c.block(reveals), vec![None; 5]);
    c.advance_to(created + 60);

    let g = c.state.metagraph(id).unwrap().unwrap();
    let last = c.state.subnet_epochs(id).unwrap().pop().unwrap();
    let pay = |w: u64| last.emission[usize::from(c.uid(id, w))].0;
    let dividends = |w: u64| g.neurons[usize::from(c.uid(id, w))].dividends;
    for &(h, hs) in &stakes[..3] {
        for &(x, xs) in &stakes[3..] {
            // Per stake: pay(h) / hs > pay(x) / xs.
            assert!(pay(h) * xs > pay(x) * hs, "honest {h} vs colluder {x}: {last:?}");
            assert!(u128::from(dividends(h)) * xs > u128::from(dividends(x)) * hs);
        }
    }
    assert!(pay(6) < pay(4) && pay(6) < pay(5), "equal stake, less pay");
    assert!(dividends(6) < dividends(4));
    let bad_n = &g.neurons[usize::from(bad)];
    assert!(bad_n.incentive <= 655, "under 1%: {bad_n:?}");
    assert!(bad_n.last_emission.0 * 100 <= last.total_emission.0);
    assert!(g.neurons[usize::from(good1)].incentive > g.neurons[usize::from(good2)].incentive);
    let trust = |w: u64| g.neurons[usize::from(c.uid(id, w))].validator_trust;
    assert!(trust(6) < trust(4) && trust(7) < trust(5));
}

#[test]
fn colluding_validators_lose_with_legacy_bonds() {
    collusion(false);
}

#[test]
fn colluding_validators_lose_with_yuma3_bonds() {
    collusion(true);
}
