//! The lazy pool against a naive distribution that credits every delegator its exact rational
//! share of every deposit (reduced fractions), rounded down only when claimed: the lazy share
//! is that, or one base unit less; and never more goes out than came in.

use super::*;
use proptest::prelude::*;

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// An exact non-negative rational.
#[derive(Clone, Copy, Debug)]
struct Ratio(u128, u128);

impl Ratio {
    const ZERO: Self = Self(0, 1);

    fn add(self, n: u128, d: u128) -> Self {
        let l = self.1 / gcd(self.1, d) * d;
        let sum = self.0 * (l / self.1) + n * (l / d);
        let g = gcd(sum, l).max(1);
        Self(sum / g, l / g)
    }

    const fn floor(self) -> u128 {
        self.0 / self.1
    }
}

#[derive(Clone, Debug)]
enum Op {
    Deposit(u128),
    Stake(usize, u128),
    Claim(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u128..1_000_000).prop_map(Op::Deposit),
        (0usize..4, 0u128..1_000).prop_map(|(d, s)| Op::Stake(d, s)),
        (0usize..4).prop_map(Op::Claim),
    ]
}

/// Four delegators through `ops`; returns, per claim, (lazy, naive) and the conservation sums.
fn run(ops: &[Op]) -> (Vec<(u128, u128, u32)>, u128, u128) {
    let mut pool = Pool::default();
    let mut stake = [0u128; 4];
    let mut start = [0u128; 4];
    let mut exact = [Ratio::ZERO; 4];
    // Stake changes each delegation lived through since its last settlement.
    let mut changes = [0u32; 4];
    let (mut deposited, mut paid, mut returned) = (0u128, 0u128, 0u128);
    let mut claims = Vec::new();
    let settle = |d: usize, pool: &Pool, stake: &[u128; 4], start: &mut [u128; 4]| {
        let owed = pool.owed(stake[d], start[d]);
        start[d] = pool.index;
        owed
    };
    for op in ops {
        match *op {
            Op::Deposit(amount) => {
                deposited += amount;
                let total: u128 = stake.iter().sum();
                if total > 0 {
                    for d in 0..4 {
                        exact[d] = exact[d].add(amount * stake[d], total);
                    }
                }
                returned += pool.deposit(amount);
            }
            Op::Stake(d, s) => {
                // Every delegation is settled into its claimable balance first (the chain
                // settles only the one changing; the others' owed amounts are the same).
                let owed: Vec<u128> =
                    (0..4).map(|i| settle(i, &pool, &stake, &mut start)).collect();
                for i in 0..4 {
                    claims.push((owed[i], exact[i].floor(), changes[i]));
                    paid += owed[i];
                    exact[i] = Ratio::ZERO;
                    changes[i] = 0;
                }
                stake[d] = s;
                pool.set_stake(stake.iter().sum());
                for c in &mut changes {
                    *c += 1;
                }
            }
            Op::Claim(d) => {
                let owed = settle(d, &pool, &stake, &mut start);
                claims.push((owed, exact[d].floor(), changes[d]));
                paid += owed;
                exact[d] = Ratio::ZERO;
                changes[d] = 0;
            }
        }
    }
    (claims, deposited, paid + returned)
}

proptest! {
    #[test]
    fn the_lazy_pool_pays_each_delegator_its_exact_share_rounded_down(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let (claims, deposited, out) = run(&ops);
        for (lazy, naive, _) in &claims {
            // Stake changes settle everyone, so every claim covers one period of constant stake:
            // the carry keeps the index exact there, and the lazy share is the exact share
            // rounded down, less at most one base unit (the index's own rounding).
            prop_assert!(lazy <= naive && naive - lazy <= 1, "lazy {} against exact {}", lazy, naive);
        }
        prop_assert!(out <= deposited, "never more out than in: {} > {}", out, deposited);
    }
}

#[test]
fn a_pool_without_stake_returns_the_deposit_and_dust_stays() {
    let mut pool = Pool::default();
    assert_eq!(pool.deposit(7), 7);
    pool.set_stake(3);
    assert_eq!(pool.deposit(10), 0);
    // Three delegators of stake 1 are owed 3 each; 1 unit of dust stays in the pool. One
    // delegation of the whole stake is owed 9: the index rounds 10/3 down by under 2^-64, and
    // 3 × that is just under 10.
    assert_eq!(pool.owed(1, 0), 3);
    assert_eq!(pool.owed(3, 0), 9);
    assert_eq!(pool.deposit(2), 0);
    assert_eq!(pool.owed(1, 0), 4, "12 / 3, exactly: the carry made the index whole again");
    assert_eq!(pool.owed(3, 0), 12);
}

#[test]
fn the_index_wraps_and_differences_stay_exact() {
    let mut pool = Pool { index: u128::MAX - 5, stake: 1, carry: 0 };
    let start = pool.index;
    pool.deposit(3);
    assert_eq!(pool.owed(1, start), 3);
}

#[test]
fn wide_division_is_exact() {
    for (a, b, c) in [
        (u128::MAX, u128::MAX, u128::MAX),
        (u128::MAX, 2, 3),
        (1 << 100, 1 << 64, (1 << 90) + 7),
        (12_345, INDEX_ONE, 7),
    ] {
        let (q, r) = mul_div_rem(a, b, c);
        // q·c + r = a·b, checked in 256 bits.
        let (qc_hi, qc_lo) = mul_wide(q, c);
        let (lo, carry) = qc_lo.overflowing_add(r);
        assert_eq!((qc_hi + u128::from(carry), lo), mul_wide(a, b), "{a} × {b} / {c}");
        assert!(r < c);
    }
    assert_eq!(mul_div_rem(1, 1, 0), (0, 0));
}
