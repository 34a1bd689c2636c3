//! Provider bonds and challenges: keys name only bonded providers, a bond caps what its
//! provider settles per epoch and is locked while a settlement is challengeable, and a
//! challenge slashes only with evidence the chain checks against the settlement's root. Every
//! refusal moves nothing; supply is checked after every transaction.
//!
//! Account 1 owns a model without datanets (1 per prompt token, 2 per generated token); 4 pays
//! with a key for provider 2, bonded with `BOND`; 3 challenges.

use crate::*;
use alx_state::emission::PROTECTION_FUND;
use alx_types::{
    ErrorCode, Hash,
    challenge::{CHALLENGE_WINDOW_BLOCKS, Challenge, Evidence, Opened, Opening},
    hash::sha256,
    model::{FeeSplit, ModelId, ModelOp, ModelSpec},
    settled::{LeafProof, SettledReceipt, node_digest, root},
    usage::{Settlement, UsageOp},
};

pub(crate) const BOND: u128 = 1_000;
pub(crate) const PROVIDER: u64 = 2;

pub(crate) struct Market {
    pub(crate) state: State,
    nonces: [u64; 6],
}

impl Market {
    pub(crate) fn send(&mut self, from: u64, payload: Payload) -> Option<ErrorCode> {
        let i = usize::try_from(from).unwrap();
        self.nonces[i] += 1;
        let receipt =
            run(&mut self.state, &[tx(from, self.nonces[i] - 1, MIN_FEE, payload)]).remove(0);
        assert_eq!(total_held(&self.state), self.state.supply().unwrap().0, "supply moved");
        receipt.error
    }

    pub(crate) fn ok(&mut self, from: u64, payload: Payload) {
        assert_eq!(self.send(from, payload), None);
    }

    /// Refused with `code`, and nothing but the sender's fee moved.
    pub(crate) fn refused(&mut self, from: u64, payload: Payload, code: ErrorCode) {
        let before = self.state.clone();
        assert_eq!(self.send(from, payload), Some(code));
        for i in 0..6 {
            let a = addr(i);
            assert_eq!(
                self.state.provider_bond(&a).unwrap().amount,
                before.provider_bond(&a).unwrap().amount
            );
            if i != from && i != 0 {
                assert_eq!(self.state.account(&a).unwrap(), before.account(&a).unwrap());
            }
        }
        assert_eq!(
            self.state.amount_global(PROTECTION_FUND).unwrap(),
            before.amount_global(PROTECTION_FUND).unwrap()
        );
    }

    pub(crate) fn balance(&self, who: u64) -> u128 {
        self.state.account(&addr(who)).unwrap().unwrap_or_default().balance.0
    }

    pub(crate) fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            run(&mut self.state, &[]);
        }
    }
}

pub(crate) fn usage(op: UsageOp) -> Payload {
    Payload::Usage(op)
}

pub(crate) fn key() -> Hash {
    sha256(&[b"payer key"])
}

/// The model, provider 2 bonded with `BOND`, and 4's key for it.
fn market() -> Market {
    let mut g = genesis();
    g.accounts.push(alx_state::GenesisAccount { address: addr(4), balance: Amount(1_000_000) });
    market_from(&g)
}

/// [`market`] on genesis `g` (which funds account 4).
pub(crate) fn market_from(g: &alx_state::Genesis) -> Market {
    let mut m = Market { state: State::from_genesis(g).unwrap(), nonces: [0; 6] };
    let spec = ModelSpec {
        name: "plain".into(),
        base_model: sha256(&[b"w"]),
        adapter: None,
        datanets: vec![],
        price_input_per_1k: Amount(1_000),
        price_output_per_1k: Amount(2_000),
        split: FeeSplit::DEFAULT,
    };
    m.ok(1, Payload::Model(ModelOp::Register(Box::new(spec))));
    m.ok(4, usage(UsageOp::Deposit { amount: Amount(100_000) }));
    let create = UsageOp::CreateApiKey {
        key_hash: key(),
        provider: addr(PROVIDER),
        allowance: Amount(50_000),
    };
    m.refused(4, usage(create.clone()), ErrorCode::ProviderNotBonded);
    m.ok(PROVIDER, usage(UsageOp::BondProvider { amount: Amount(BOND) }));
    m.ok(4, usage(create));
    m
}

/// Receipt `number` as settled: 10 prompt and 5 generated tokens, charged `fee` (20 is right).
fn leaf(number: u64, fee: u128) -> SettledReceipt {
    SettledReceipt {
        number,
        id: sha256(&[&number.to_be_bytes()]),
        key_hash: key(),
        model: ModelId(0),
        prompt_tokens: 10,
        completion_tokens: 5,
        fee: Amount(fee),
        credits: vec![],
    }
}

fn settle(s: Settlement) -> Payload {
    usage(UsageOp::Settle(Box::new(s)))
}

pub(crate) fn settle_leaves(first: u64, leaves: &[SettledReceipt]) -> Payload {
    settle(Settlement::from_root(first, root(leaves).unwrap()))
}

fn challenge(first: u64, evidence: Evidence) -> Payload {
    usage(UsageOp::Challenge(Box::new(Challenge {
        provider: addr(PROVIDER),
        first_receipt: first,
        evidence,
    })))
}

fn leaf_evidence(leaves: &[SettledReceipt], i: usize) -> Evidence {
    Evidence::Leaf { leaf: leaves[i].clone(), proof: LeafProof::of(leaves, i).unwrap() }
}

#[test]
fn the_bond_caps_the_fees_at_risk_and_is_locked_while_challengeable() {
    let mut m = market();
    m.refused(3, usage(UsageOp::BondProvider { amount: Amount(0) }), ErrorCode::ZeroAmount);
    // 1,000 of bond: 50 receipts of 20 put it all at risk; one more waits for their window.
    let leaves: Vec<_> = (0..51).map(|n| leaf(n, 20)).collect();
    m.refused(PROVIDER, settle_leaves(0, &leaves), ErrorCode::OverBondCap);
    m.ok(PROVIDER, settle_leaves(0, &leaves[..50]));
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().at_risk, Amount(1_000));
    m.refused(PROVIDER, settle_leaves(50, &leaves[50..]), ErrorCode::OverBondCap);
    m.empty_blocks(CHALLENGE_WINDOW_BLOCKS);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().at_risk, Amount::ZERO);
    m.ok(PROVIDER, settle_leaves(50, &leaves[50..]));
    // Locked one block past the window of its last settlement, then free.
    let unbond = |amount| usage(UsageOp::UnbondProvider { amount: Amount(amount) });
    m.refused(PROVIDER, unbond(1), ErrorCode::BondLocked);
    // The window's last block (settled at h: refused at h + 1, then h + 300) is still locked.
    m.empty_blocks(CHALLENGE_WINDOW_BLOCKS - 2);
    m.refused(PROVIDER, unbond(1), ErrorCode::BondLocked);
    m.refused(
        PROVIDER,
        usage(UsageOp::UnbondProvider { amount: Amount(BOND + 1) }),
        ErrorCode::BondLocked,
    );
    let before = m.balance(PROVIDER);
    m.ok(PROVIDER, usage(UsageOp::UnbondProvider { amount: Amount(BOND) }));
    assert_eq!(m.balance(PROVIDER), before + BOND - MIN_FEE);
    assert_eq!(m.state.provider_bonds_total().unwrap(), Amount(2 << 80), "genesis bonds remain");
    // Unbonded, it can no longer be named on keys.
    let create = UsageOp::CreateApiKey {
        key_hash: sha256(&[b"k2"]),
        provider: addr(PROVIDER),
        allowance: Amount(1),
    };
    m.refused(4, usage(create), ErrorCode::ProviderNotBonded);
}

#[test]
fn an_honest_settlement_survives_every_challenge() {
    let mut m = market();
    let leaves: Vec<_> = (0..5).map(|n| leaf(n, 20)).collect();
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    for i in 0..leaves.len() {
        m.refused(3, challenge(0, leaf_evidence(&leaves, i)), ErrorCode::ChallengeRejected);
    }
    // The root's own sums add up.
    let r = root(&leaves).unwrap();
    let left = root(&leaves[..4]).unwrap();
    let opening = Opening { left: r.children[0], right: r.children[1], totals: r.totals };
    let inner = Opening { left: left.children[0], right: left.children[1], totals: left.totals };
    let children =
        Box::new([Opened::Node { opening: inner }, Opened::Leaf { leaf: leaves[4].clone() }]);
    m.refused(
        3,
        challenge(0, Evidence::Sums { path: vec![opening], children }),
        ErrorCode::ChallengeRejected,
    );
    // A leaf altered after the fact does not open the root; nor does a made-up settlement.
    let mut forged = leaves.clone();
    forged[2].fee = Amount(99);
    let proof = LeafProof::of(&leaves, 2).unwrap();
    m.refused(
        3,
        challenge(0, Evidence::Leaf { leaf: forged[2].clone(), proof }),
        ErrorCode::ChallengeRejected,
    );
    m.refused(3, challenge(7, leaf_evidence(&leaves, 0)), ErrorCode::NoSuchSettlement);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
}

/// A slash pays the challenger half the bond and the protection fund the rest, once.
fn assert_slashed(m: &mut Market, first: u64, evidence: Evidence) {
    let (challenger, fund) = (m.balance(3), m.state.amount_global(PROTECTION_FUND).unwrap().0);
    m.ok(3, challenge(first, evidence.clone()));
    assert_eq!(m.balance(3), challenger + BOND / 2 - MIN_FEE);
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + BOND / 2);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount::ZERO);
    m.refused(3, challenge(first, evidence), ErrorCode::NoSuchSettlement);
}

#[test]
fn an_overcharged_leaf_is_slashed() {
    let mut m = market();
    let mut leaves: Vec<_> = (0..3).map(|n| leaf(n, 20)).collect();
    leaves[1].fee = Amount(21);
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    assert_slashed(&mut m, 0, leaf_evidence(&leaves, 1));
    // With no bond left it cannot settle again.
    m.refused(PROVIDER, settle_leaves(3, &[leaf(3, 20)]), ErrorCode::OverBondCap);
}

#[test]
fn a_leaf_outside_the_range_is_slashed() {
    let mut m = market();
    let leaves = vec![leaf(0, 20), leaf(9, 20)];
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    assert_slashed(&mut m, 0, leaf_evidence(&leaves, 1));
}

#[test]
fn sums_that_do_not_add_up_are_slashed() {
    let mut m = market();
    // Two receipts of 20, but the root claims 40 + 60 = 100 charged: the chain sees a root
    // consistent with its totals, the leaves show it is not their sum.
    let leaves = vec![leaf(0, 20), leaf(1, 20)];
    let honest = root(&leaves).unwrap();
    let mut totals = honest.totals.clone();
    totals.charges[0].amount = Amount(100);
    let digest = node_digest(&honest.children[0], &honest.children[1], &totals);
    let lie =
        alx_types::settled::Root { digest, children: honest.children, totals: totals.clone() };
    m.ok(PROVIDER, settle(Settlement::from_root(0, lie)));
    let opening = Opening { left: honest.children[0], right: honest.children[1], totals };
    let children = Box::new([
        Opened::Leaf { leaf: leaves[0].clone() },
        Opened::Leaf { leaf: leaves[1].clone() },
    ]);
    assert_slashed(&mut m, 0, Evidence::Sums { path: vec![opening], children });
}

#[test]
fn challenges_close_with_the_window() {
    let mut m = market();
    let leaves = vec![leaf(0, 25)];
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    m.empty_blocks(CHALLENGE_WINDOW_BLOCKS);
    assert!(m.state.settlement_record(&addr(PROVIDER), 0).unwrap().is_none(), "pruned");
    m.refused(3, challenge(0, leaf_evidence(&leaves, 0)), ErrorCode::NoSuchSettlement);
}

#[test]
fn a_price_cut_before_the_settlement_does_not_slash_an_honest_provider() {
    let mut m = market();
    // Served at 20; the owner halves the prices before the settlement's block.
    let cut = ModelOp::SetPrices {
        model: ModelId(0),
        input_per_1k: Amount(500),
        output_per_1k: Amount(1_000),
    };
    m.ok(1, Payload::Model(cut));
    let leaves = vec![leaf(0, 20)];
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    m.refused(3, challenge(0, leaf_evidence(&leaves, 0)), ErrorCode::ChallengeRejected);
    // Long after the cut, the old price no longer covers a new settlement.
    m.empty_blocks(CHALLENGE_WINDOW_BLOCKS + 1);
    let late = vec![leaf(1, 20)];
    m.ok(PROVIDER, settle_leaves(1, &late));
    assert_slashed(&mut m, 1, leaf_evidence(&late, 0));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever is settled and challenged, a challenge slashes exactly when its leaf charged
    /// over its price, and the supply is the same after every transaction (`send` checks it).
    #[test]
    fn slashing_conserves_supply_and_needs_a_real_overcharge(
        fees in proptest::collection::vec(1u128..40, 1..12),
        pick in 0usize..12,
    ) {
        let mut m = market();
        let leaves: Vec<_> = fees.iter().enumerate().map(|(n, f)| leaf(n as u64, *f)).collect();
        m.ok(PROVIDER, settle_leaves(0, &leaves));
        let i = pick % leaves.len();
        let fund = m.state.amount_global(PROTECTION_FUND).unwrap().0;
        let got = m.send(3, challenge(0, leaf_evidence(&leaves, i)));
        let slashed = m.state.amount_global(PROTECTION_FUND).unwrap().0 - fund;
        if fees[i] > 20 {
            proptest::prop_assert_eq!(got, None);
            proptest::prop_assert_eq!(slashed, BOND / 2);
        } else {
            proptest::prop_assert_eq!(got, Some(ErrorCode::ChallengeRejected));
            proptest::prop_assert_eq!(slashed, 0);
        }
    }
}

#[test]
fn a_number_settled_twice_is_slashed() {
    let mut m = market();
    // Receipt 1 twice, receipt 2 dropped: every number is in range, but leaf 2 is not
    // `first + 2`.
    let leaves = vec![leaf(0, 20), leaf(1, 20), leaf(1, 20)];
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    m.refused(3, challenge(0, leaf_evidence(&leaves, 1)), ErrorCode::ChallengeRejected);
    assert_slashed(&mut m, 0, leaf_evidence(&leaves, 2));
}

#[test]
fn a_tree_of_another_shape_is_slashed_and_batches_are_bounded() {
    use alx_types::settled::Totals;
    let mut m = market();
    // Three leaves as (l0, (l1, l2)) instead of ((l0, l1), l2): sums right, shape wrong, the
    // way a deep tree would hide a node from evidence.
    let leaves: Vec<_> = (0..3).map(|n| leaf(n, 20)).collect();
    let t = |i: usize| leaves[i].totals().unwrap();
    let right: Totals = t(1).add(&t(2)).unwrap();
    let right_digest = node_digest(&leaves[1].digest(), &leaves[2].digest(), &right);
    let totals = t(0).add(&right).unwrap();
    let digest = node_digest(&leaves[0].digest(), &right_digest, &totals);
    let lie = alx_types::settled::Root {
        digest,
        children: [leaves[0].digest(), right_digest],
        totals: totals.clone(),
    };
    m.ok(PROVIDER, settle(Settlement::from_root(0, lie)));
    let opening = Opening { left: leaves[0].digest(), right: right_digest, totals };
    let inner = Opening { left: leaves[1].digest(), right: leaves[2].digest(), totals: right };
    let children =
        Box::new([Opened::Leaf { leaf: leaves[0].clone() }, Opened::Node { opening: inner }]);
    assert_slashed(&mut m, 0, Evidence::Sums { path: vec![opening], children });
    // More receipts than a settlement may hold are refused outright.
    let mut m = market();
    let many: Vec<_> = (0..1_025).map(|n| leaf(n, 0)).collect();
    m.refused(PROVIDER, settle_leaves(0, &many), ErrorCode::BadReceiptRange);
}

#[test]
fn an_equivocating_validator_loses_its_own_stake() {
    use alx_types::equivocation::{Equivocation, Proposal, SignedVote, VoteKind};
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;
    let mut m = market();
    let vote = |view: u64, payload: &[u8]| {
        let proposal =
            Proposal { epoch: 0, view, parent_view: view - 1, payload: sha256(&[payload]) }
                .encode();
        let signature =
            crate::key(0).sign(&VoteKind::Finalize.namespace(), &proposal).encode().to_vec();
        SignedVote { proposal, signature }
    };
    let evidence = Equivocation {
        validator: addr(0),
        kind: VoteKind::Finalize,
        a: vote(7, b"a"),
        b: vote(7, b"b"),
    };
    let report = |e: &Equivocation| Payload::ReportEquivocation(Box::new(e.clone()));
    // What does not hold moves nothing.
    let same = Equivocation { b: evidence.a.clone(), ..evidence.clone() };
    m.refused(3, report(&same), ErrorCode::BadEvidence);
    let other_round = Equivocation { b: vote(8, b"b"), ..evidence.clone() };
    m.refused(3, report(&other_round), ErrorCode::BadEvidence);
    let notarize = Equivocation { kind: VoteKind::Notarize, ..evidence.clone() };
    m.refused(3, report(&notarize), ErrorCode::BadEvidence);
    let framed = Equivocation { validator: addr(1), ..evidence.clone() };
    m.refused(3, report(&framed), ErrorCode::BadEvidence);
    // Evidence that holds: the validator's own 5,000 of stake, half to the reporter.
    let (reporter, fund) = (m.balance(3), m.state.amount_global(PROTECTION_FUND).unwrap().0);
    m.ok(3, report(&evidence));
    assert_eq!(m.balance(3), reporter + 2_500 - MIN_FEE);
    // With no stake left in the active set, the block's fee (its staking reward) goes to the
    // fund as well.
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + 2_500 + MIN_FEE);
    assert_eq!(m.state.validator(&addr(0)).unwrap().unwrap().stake, Amount::ZERO);
    assert_eq!(m.state.account(&addr(0)).unwrap().unwrap().bonded, Amount::ZERO);
    // Once per round (the validator bonds again, so block fees have stake to go to).
    m.ok(0, Payload::Bond { validator: addr(0), amount: Amount(1_000) });
    m.refused(3, report(&evidence), ErrorCode::BadEvidence);
}
