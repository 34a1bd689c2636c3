//! Staking rewards: the refusals (each moves nothing), the commission's notice, and random
//! sequences of bond, unbond, redelegate, commission change, slash and claim against a naive
//! distribution that pays every delegation its exact rational share of every block: the lazy
//! scheme pays the same, short by at most one base unit per settlement (the floor, and the
//! index's rounding of under stake / 2^64 per period), with the supply exact throughout and
//! every account's explained rewards adding up to its claimable total.

use crate::{subnets::Chain, *};
use alx_state::{apportion, staking_pools::STAKING_POOL};
use alx_types::{
    ErrorCode,
    staking::{RewardSource, StakingOp},
    usage::UsageOp,
};
use num_bigint::BigInt;
use num_rational::BigRational;
use proptest::prelude::*;
use std::collections::BTreeMap;

const ALX: u128 = crate::subnets::ALX;

fn bond(to: u64, amount: u128) -> Payload {
    Payload::Bond { validator: addr(to), amount: Amount(amount) }
}

fn unbond(from: u64, amount: u128) -> Payload {
    Payload::Unbond { validator: addr(from), amount: Amount(amount) }
}

fn redelegate(from: u64, to: u64, amount: u128) -> Payload {
    Payload::Staking(StakingOp::Redelegate {
        from: addr(from),
        to: addr(to),
        amount: Amount(amount),
    })
}

fn commission(bps: u16) -> Payload {
    Payload::Staking(StakingOp::SetCommission { bps })
}

const CLAIM: Payload = Payload::Usage(UsageOp::Claim);

/// A chain with emission where 5 and 6 are validators bonded to themselves.
fn chain() -> Chain {
    let mut c = Chain::new(true);
    c.block(vec![(5, register()), (6, register())]);
    c.block(vec![(5, bond(5, 1_000 * ALX)), (6, bond(6, 2_000 * ALX))]);
    c
}

#[test]
fn bad_staking_moves_nothing() {
    let mut c = chain();
    c.refused(3, commission(100), ErrorCode::NotValidator);
    c.refused(5, commission(5_001), ErrorCode::CommissionTooHigh);
    c.refused(3, bond(7, ALX), ErrorCode::UnknownValidator);
    c.refused(3, redelegate(0, 0, 1), ErrorCode::RedelegateToSelf);
    c.refused(3, redelegate(0, 5, 0), ErrorCode::ZeroAmount);
    c.refused(3, redelegate(0, 5, 1), ErrorCode::InsufficientStake);
    c.ok(3, bond(0, 10 * ALX));
    c.refused(3, redelegate(0, 7, ALX), ErrorCode::UnknownValidator);
    c.refused(3, redelegate(0, 5, 11 * ALX), ErrorCode::InsufficientStake);
    // A hop, then no second hop of the same stake, back or onwards.
    c.ok(3, redelegate(0, 5, 4 * ALX));
    c.refused(3, redelegate(5, 0, ALX), ErrorCode::RedelegationLocked);
    c.refused(3, redelegate(5, 6, ALX), ErrorCode::RedelegationLocked);
    // Stake that did not hop moves freely.
    c.ok(3, redelegate(0, 6, ALX));
    c.refused(9, CLAIM, ErrorCode::NothingToClaim);
    // At most 16 validators per delegator: 7..=19 register; 3 delegates to 0, 5, 6 already.
    c.block((7..20).map(|v| (v, register())).collect());
    c.block((7..20).map(|v| (3, bond(v, ALX))).collect());
    assert_eq!(c.state.delegations_of(&addr(3)).unwrap().len(), 16);
    c.block(vec![(4, register())]);
    c.refused(3, bond(4, ALX), ErrorCode::TooManyDelegations);
    c.refused(3, redelegate(0, 4, ALX), ErrorCode::TooManyDelegations);
    // Moving a whole delegation swaps one validator for another: allowed at the limit.
    c.ok(3, redelegate(7, 4, ALX));
    assert_eq!(c.state.delegations_of(&addr(3)).unwrap().len(), 16);
    // A validator's own stake stays where equivocation can slash it.
    c.refused(5, redelegate(5, 6, ALX), ErrorCode::SelfStakeNotRedelegable);
}

#[test]
fn a_commission_change_waits_for_the_epoch_after_next() {
    let mut c = chain();
    let epoch_length = 5;
    let pool = |c: &Chain| c.state.staking_pool(&addr(5)).unwrap();
    assert_eq!(pool(&c).commission_at(0), alx_types::staking::COMMISSION_DEFAULT_BPS);
    c.ok(5, commission(2_500));
    let epoch = c.height() / epoch_length;
    assert_eq!(pool(&c).commission_at(epoch), 1_000);
    assert_eq!(pool(&c).commission_at(epoch + 1), 1_000);
    assert_eq!(pool(&c).commission_at(epoch + 2), 2_500);
    // A second change before the first applies replaces it, with a fresh notice.
    c.advance_to((epoch + 1) * epoch_length);
    c.ok(5, commission(0));
    assert_eq!(pool(&c).commission_at(epoch + 2), 1_000);
    assert_eq!(pool(&c).commission_at(epoch + 3), 0);
}

#[derive(Clone, Debug)]
enum Op {
    Bond(u64, u64, u128),
    Unbond(u64, u64, u128),
    Redelegate(u64, u64, u64, u128),
    Commission(u64, u16),
    Claim(u64),
    Slash(u64),
}

const DELEGATORS: [u64; 3] = [1, 2, 3];
const VALIDATORS: [u64; 3] = [0, 5, 6];

fn op() -> impl Strategy<Value = Op> {
    let d = proptest::sample::select(DELEGATORS.to_vec());
    let v = || proptest::sample::select(VALIDATORS.to_vec());
    let amount = 1u128..5_000;
    prop_oneof![
        4 => (d.clone(), v(), amount.clone()).prop_map(|(d, v, a)| Op::Bond(d, v, a * ALX)),
        2 => (d.clone(), v(), amount.clone()).prop_map(|(d, v, a)| Op::Unbond(d, v, a * ALX)),
        2 => (d.clone(), v(), v(), amount).prop_map(|(d, f, t, a)| Op::Redelegate(d, f, t, a * ALX)),
        1 => (v(), 0u16..6_000).prop_map(|(v, bps)| Op::Commission(v, bps)),
        2 => d.prop_map(Op::Claim),
        1 => proptest::sample::select(vec![5u64, 6]).prop_map(Op::Slash),
    ]
}

/// The naive distribution: every block, each delegation's exact rational share.
#[derive(Default)]
struct Naive {
    exact: BTreeMap<(u64, u64), BigRational>,
    commission: BTreeMap<u64, u128>,
    /// Settlements each delegation went through (each may round down by one unit).
    settlements: BTreeMap<(u64, u64), u64>,
}

impl Naive {
    fn block(&mut self, before: &State, after: &State, fees: u128) {
        let height = before.height().unwrap().next();
        let class = before.emission_params().unwrap().map_or(Amount::ZERO, |p| {
            p.block(height, before.minted().unwrap()).allocation.chain_validators
        });
        let set = before.active_set().unwrap();
        let stakes: Vec<u128> =
            set.iter().map(|v| after.validator(v).unwrap().map_or(0, |r| r.stake.0)).collect();
        let epoch = height.0 / 5;
        for ((v, stake), part) in set.iter().zip(&stakes).zip(apportion(fees + class.0, &stakes)) {
            let v = index_of(v);
            let bps = after.staking_pool(&addr(v)).unwrap().commission_at(epoch);
            let cut = part / 10_000 * u128::from(bps) + part % 10_000 * u128::from(bps) / 10_000;
            *self.commission.entry(v).or_default() += cut;
            for d in 0..7 {
                let s = after.delegation(&addr(d), &addr(v)).unwrap().0;
                if s == 0 {
                    continue;
                }
                let share = BigRational::new(
                    BigInt::from(part - cut) * BigInt::from(s),
                    BigInt::from(*stake),
                );
                *self.exact.entry((d, v)).or_insert_with(|| BigRational::from_integer(0.into())) +=
                    share;
            }
        }
    }

    fn settled(&mut self, d: u64, v: u64) {
        *self.settlements.entry((d, v)).or_default() += 1;
    }
}

fn index_of(a: &Address) -> u64 {
    (0..20).find(|i| addr(*i) == *a).expect("a test account")
}

fn evidence(v: u64, view: u64) -> Payload {
    use alx_types::equivocation::{Equivocation, Proposal, SignedVote, VoteKind};
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;
    let vote = |payload: &[u8]| {
        let proposal = Proposal {
            epoch: 0,
            view,
            parent_view: view - 1,
            payload: alx_types::hash::sha256(&[payload]),
        }
        .encode();
        let signature = key(v).sign(&VoteKind::Finalize.namespace(), &proposal).encode().to_vec();
        SignedVote { proposal, signature }
    };
    Payload::ReportEquivocation(Box::new(Equivocation {
        validator: addr(v),
        kind: VoteKind::Finalize,
        a: vote(b"a"),
        b: vote(b"b"),
    }))
}

/// What `d`'s delegation to `v` was paid when settled.
fn settled(state: &State, d: u64, v: u64) -> u128 {
    let source = RewardSource::Staking { validator: addr(v) };
    state
        .reward_sources(&addr(d))
        .unwrap()
        .into_iter()
        .find(|l| l.source == source)
        .map_or(0, |l| l.earned.0)
}

/// What `d`'s delegation to `v` has earned: settled, plus owed and not settled yet.
fn lazy(state: &State, d: u64, v: u64) -> u128 {
    let settled = settled(state, d, v);
    let owed = state
        .staking_accrued(&addr(d))
        .unwrap()
        .into_iter()
        .find(|a| a.validator == addr(v))
        .map_or(0, |a| a.owed.0);
    settled + owed
}

/// `v`'s commission paid.
fn commission_paid(state: &State, v: u64) -> u128 {
    state
        .reward_sources(&addr(v))
        .unwrap()
        .into_iter()
        .find(|l| l.source == RewardSource::Commission)
        .map_or(0, |l| l.earned.0)
}

/// `v`'s commission: paid, plus earned and not paid yet.
fn commission_of(state: &State, v: u64) -> u128 {
    commission_paid(state, v) + state.staking_pool(&addr(v)).unwrap().commission_unpaid.0
}

/// Every account's explained claimable rewards add up to its claimable total.
fn check_explained(state: &State) {
    for who in 0..20 {
        let lines = state.reward_sources(&addr(who)).unwrap();
        let explained: u128 = lines.iter().map(|l| l.claimable.0).sum();
        assert_eq!(explained, state.rewards(&addr(who)).unwrap().claimable.0, "account {who}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn lazy_staking_rewards_match_the_exact_distribution(ops in proptest::collection::vec(op(), 1..40)) {
        let mut c = chain();
        let mut naive = Naive::default();
        // Everyone bonded settles first, so each delegation starts a clean period here: what
        // it earned before (the setup's blocks) is its settled amount, and no fraction of it
        // carries into what the naive counts from this block on.
        let before = c.state.clone();
        // (5 and 6 joined the active set at the last block: they have earned nothing yet.)
        prop_assert!(c.state.staking_unsettled(&addr(5)).unwrap().is_zero());
        prop_assert_eq!(c.block(vec![(0, CLAIM)]), vec![None]);
        naive.block(&before, &c.state, MIN_FEE);
        let baseline: BTreeMap<(u64, u64), u128> = (0..7)
            .flat_map(|d| VALIDATORS.map(|v| (d, v)))
            .map(|(d, v)| ((d, v), settled(&c.state, d, v)))
            .collect();
        let commissions: BTreeMap<u64, u128> =
            VALIDATORS.iter().map(|v| (*v, commission_paid(&c.state, *v))).collect();
        for (view, op) in (1u64..).zip(ops) {
            let (from, payload, touched): (u64, Payload, Vec<(u64, u64)>) = match op {
                Op::Bond(d, v, a) => (d, bond(v, a), vec![(d, v)]),
                Op::Unbond(d, v, a) => (d, unbond(v, a), vec![(d, v)]),
                Op::Redelegate(d, f, t, a) => (d, redelegate(f, t, a), vec![(d, f), (d, t)]),
                Op::Commission(v, bps) => (v, commission(bps), vec![]),
                Op::Claim(d) => (d, CLAIM, VALIDATORS.iter().map(|v| (d, *v)).chain([(d, d)]).collect()),
                Op::Slash(v) => (4, evidence(v, view + 1), vec![(v, v)]),
            };
            let before = c.state.clone();
            let result = c.block(vec![(from, payload)]);
            naive.block(&before, &c.state, MIN_FEE);
            if result == vec![None] {
                touched.into_iter().for_each(|(d, v)| naive.settled(d, v));
            }
            check_explained(&c.state);
            // An empty block between operations, so rewards accrue at every stake.
            let before = c.state.clone();
            c.block(vec![]);
            naive.block(&before, &c.state, 0);
        }
        for (&(d, v), exact) in &naive.exact {
            // What it earned before the sequence (from the setup's blocks) is not the naive's.
            let earned = lazy(&c.state, d, v) - baseline.get(&(d, v)).copied().unwrap_or(0);
            let earned = BigRational::from_integer(BigInt::from(earned));
            let slack = naive.settlements.get(&(d, v)).copied().unwrap_or(0) + 1;
            prop_assert!(earned <= *exact, "({d}, {v}): paid more than its share: {earned} > {exact}");
            let short = exact - earned;
            prop_assert!(
                short <= BigRational::from_integer(BigInt::from(slack)),
                "({d}, {v}): {short} short after {slack} roundings"
            );
        }
        for (&v, &cut) in &naive.commission {
            let earned = commission_of(&c.state, v) - commissions[&v];
            prop_assert_eq!(earned, cut, "validator {}'s commission", v);
        }
        // The staking pool holds at least what everyone is owed.
        let owed: u128 = (0..20).map(|w| c.state.staking_unsettled(&addr(w)).unwrap().0).sum();
        prop_assert!(c.state.amount_global(STAKING_POOL).unwrap().0 >= owed);
    }
}
