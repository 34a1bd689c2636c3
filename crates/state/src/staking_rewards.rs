//! Staking rewards distributed lazily, as Cosmos SDK's F1 fee distribution does: a validator's
//! [`Pool`] keeps a cumulative reward per unit of stake (`index`, fixed point with 64 fraction
//! bits); a delegation remembers the index when its stake last changed and is owed
//! `⌊stake × (index − start) / 2^64⌋`. A reward costs one division whatever the number of
//! delegators, and a delegation is settled only when it changes or claims.
//!
//! **Exactness.** Each deposit adds `⌊(amount · 2^64 + carry) / stake⌋` to the index and keeps
//! the remainder as the next `carry`, so over a period of unchanged stake the index is the
//! exact reward per unit of stake rounded down by less than 2^-64; a stake change ends the
//! period and forfeits the carry. What a delegation is owed is then its exact rational share of
//! every deposit it was staked for, rounded down, less at most one base unit per period it
//! spans (the index's rounding, times a stake below 2^64 base units, is under one unit).
//!
//! **Dust rule.** What rounding leaves in a pool (deposits minus everything owed) stays in the
//! pool's balance and is never owed to anyone; a deposit into a pool without stake is returned
//! to the caller, who sends it elsewhere (the chain: the protection fund). So the pool's balance
//! is always at least what its delegations are owed: supply is conserved.
//!
//! **Wrapping.** The index wraps modulo 2^128 and only differences are used: exact as long as a
//! delegation accrues less than 2^64 base units per unit of stake, far beyond any supply.
//!
//! Not yet wired into the chain (issue 18): the next step stores a pool per validator, a start
//! index per delegation, and deposits the chain-validator class and block fees into the pools
//! of the active set by stake, after each validator's commission.

/// The index's fixed-point scale: 64 fraction bits.
pub const INDEX_ONE: u128 = 1 << 64;

/// One validator's pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// Cumulative reward per unit of stake, × 2^64, wrapping.
    pub index: u128,
    /// The stake the index is per (the validator's delegations, its own included).
    pub stake: u128,
    /// The last division's remainder, in units of `1 / (2^64 · stake)` base units.
    pub carry: u128,
}

impl Pool {
    /// Adds `amount` for the current stake. Returns what could not be distributed: all of it
    /// when there is no stake (the caller sends it elsewhere), else zero.
    pub fn deposit(&mut self, amount: u128) -> u128 {
        if self.stake == 0 || amount == 0 {
            return if self.stake == 0 { amount } else { 0 };
        }
        let (q, r) = mul_div_rem(amount, INDEX_ONE, self.stake);
        // (amount · 2^64 + carry) / stake: both remainders are below the stake.
        let (q, r) = if r >= self.stake - self.carry {
            (q.wrapping_add(1), r - (self.stake - self.carry))
        } else {
            (q, r + self.carry)
        };
        self.index = self.index.wrapping_add(q);
        self.carry = r;
        0
    }

    /// The stake changes (a delegation joins, grows, shrinks or leaves): every delegation must
    /// be settled against the index first. Forfeits the carry.
    pub const fn set_stake(&mut self, stake: u128) {
        self.stake = stake;
        self.carry = 0;
    }

    /// What a delegation of `stake` that started at index `start` is owed now.
    #[must_use]
    pub fn owed(&self, stake: u128, start: u128) -> u128 {
        mul_div_rem(stake, self.index.wrapping_sub(start), INDEX_ONE).0
    }
}

/// `⌊a · b / c⌋` and the remainder, exact through a 256-bit product; `(u128::MAX, 0)` when the
/// quotient does not fit (never for the pool's uses) and `(0, 0)` when `c` is zero.
#[must_use]
pub fn mul_div_rem(a: u128, b: u128, c: u128) -> (u128, u128) {
    if c == 0 {
        return (0, 0);
    }
    let (hi, lo) = mul_wide(a, b);
    if hi >= c {
        return (u128::MAX, 0);
    }
    // Long division of hi·2^128 + lo by c, one bit at a time: the remainder stays below c.
    let (mut q, mut r) = (0u128, hi);
    for bit in (0..128).rev() {
        let top = r >> 127;
        r = (r << 1) | ((lo >> bit) & 1);
        q <<= 1;
        if top == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1;
        }
    }
    (q, r)
}

/// The 256-bit product of `a` and `b` as (high, low) 128-bit halves.
const fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = (1 << 64) - 1;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let lo = (cross << 64) | (lo_lo & MASK);
    let hi = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (cross >> 64);
    (hi, lo)
}

#[cfg(test)]
mod tests;
