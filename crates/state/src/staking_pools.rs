//! Staking rewards on chain: each block's staking reward (the chain-validator class of emission
//! plus the block's fees) is divided among the active set by stake; each validator keeps its
//! commission and deposits the rest into its [`Pool`], which its delegations share lazily
//! (`staking_rewards` has the index and its exactness). docs/design/staking.md has the rule.
//!
//! ```text
//! 0x2A ‖ validator               → PoolRecord   index, carry, commission (and a pending change),
//!                                               commission earned and not yet paid
//! 0x2B ‖ delegator ‖ validator   → u128         the pool index the delegation last settled at
//! 0x2C ‖ delegator ‖ validator   → Height       stake arrived here by redelegation: it cannot
//!                                               be redelegated again before this height
//! 0x05 ‖ "staking_pool"          → Amount       deposited, less settled: what delegations and
//!                                               commissions are owed, plus the rounding dust
//! ```
//!
//! A block costs one pool update per active validator, whatever the number of delegators. A
//! delegation is settled (what it is owed moves to its owner's claimable rewards) only when its
//! stake changes (bond, unbond, redelegate, slash) or its owner claims.

use crate::{
    execute::{PayloadResult, overflow},
    keys::PREFIX_DELEGATION,
    reward_ledger::PaidTo,
    staking_rewards::{Pool, mul_div_rem},
    state::{CorruptState, State, hex_key},
};
use alx_types::{
    Address, Amount, ErrorCode, Height,
    limits::UNBONDING_PERIOD_BLOCKS,
    staking::{
        COMMISSION_DEFAULT_BPS, COMMISSION_MAX_BPS, COMMISSION_NOTICE_EPOCHS,
        DELEGATIONS_PER_ACCOUNT_MAX, RewardSource, StakingOp,
    },
};
use commonware_codec::{EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_POOL: u8 = 0x2A;
const PREFIX_START: u8 = 0x2B;
const PREFIX_REDELEGATED: u8 = 0x2C;
/// Deposited into pools and commissions, less what was settled.
pub const STAKING_POOL: &str = "staking_pool";

/// A validator's pool and commission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRecord {
    /// Cumulative reward per unit of stake, × 2^64 (wrapping).
    pub index: u128,
    /// The index's division remainder (see `Pool`).
    pub carry: u128,
    /// The commission in force, in basis points.
    pub commission_bps: u16,
    /// A change of commission, applying from epoch `pending_from` (0: none).
    pub pending_bps: u16,
    /// The epoch the pending change applies from.
    pub pending_from: u64,
    /// Commission earned and not yet paid (paid when the validator claims).
    pub commission_unpaid: Amount,
}

impl Default for PoolRecord {
    fn default() -> Self {
        Self {
            index: 0,
            carry: 0,
            commission_bps: COMMISSION_DEFAULT_BPS,
            pending_bps: 0,
            pending_from: 0,
            commission_unpaid: Amount::ZERO,
        }
    }
}

impl PoolRecord {
    /// The commission in force during `epoch`.
    #[must_use]
    pub const fn commission_at(&self, epoch: u64) -> u16 {
        if self.pending_from != 0 && epoch >= self.pending_from {
            self.pending_bps
        } else {
            self.commission_bps
        }
    }
}

impl PoolRecord {
    /// What a delegation of `stake` that last settled at index `start` is owed now.
    #[must_use]
    pub fn owed(&self, stake: Amount, start: u128) -> Amount {
        Amount(Pool { index: self.index, ..Pool::default() }.owed(stake.0, start))
    }
}

impl Write for PoolRecord {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.index.write(buf);
        self.carry.write(buf);
        self.commission_bps.write(buf);
        self.pending_bps.write(buf);
        self.pending_from.write(buf);
        self.commission_unpaid.write(buf);
    }
}

impl EncodeSize for PoolRecord {
    fn encode_size(&self) -> usize {
        16 + 16 + 2 + 2 + 8 + 16
    }
}

impl Read for PoolRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            index: u128::read(buf)?,
            carry: u128::read(buf)?,
            commission_bps: u16::read(buf)?,
            pending_bps: u16::read(buf)?,
            pending_from: u64::read(buf)?,
            commission_unpaid: Amount::read(buf)?,
        })
    }
}

/// One delegation and what it has accrued since it last settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accrued {
    /// The validator.
    pub validator: Address,
    /// The delegation's stake.
    pub stake: Amount,
    /// Owed and not yet settled.
    pub owed: Amount,
}

fn pair_key(prefix: u8, delegator: &Address, validator: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(prefix);
    k.extend_from_slice(delegator.as_bytes());
    k.extend_from_slice(validator.as_bytes());
    k
}

/// The state key of a validator's pool.
#[must_use]
pub fn pool_key(validator: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(PREFIX_POOL);
    k.extend_from_slice(validator.as_bytes());
    k
}

/// Divides `amount` among `stakes` pro rata, exactly: each gets the floor of its share, and
/// the units left (fewer than the number of shares) go one each to the largest remainders,
/// ties to the earlier entry. The rule anyone recomputes a block's staking rewards by.
#[must_use]
pub fn apportion(amount: u128, stakes: &[u128]) -> Vec<u128> {
    let total = stakes.iter().fold(0u128, |a, s| a.saturating_add(*s));
    if total == 0 {
        return vec![0; stakes.len()];
    }
    let mut parts: Vec<(u128, u128)> =
        stakes.iter().map(|s| mul_div_rem(amount, *s, total)).collect();
    let given: u128 = parts.iter().map(|(q, _)| *q).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Stable: equal remainders keep their order.
    order.sort_by(|a, b| parts[*b].1.cmp(&parts[*a].1));
    for i in order.into_iter().take(usize::try_from(amount - given).unwrap_or(usize::MAX)) {
        parts[i].0 += 1;
    }
    parts.into_iter().map(|(q, _)| q).collect()
}

impl State {
    /// A validator's pool (the default for one never paid).
    pub fn staking_pool(&self, validator: &Address) -> Result<PoolRecord, CorruptState> {
        self.get(&pool_key(validator)).map(Option::unwrap_or_default)
    }

    fn put_staking_pool(&mut self, validator: &Address, pool: &PoolRecord) {
        self.put(pool_key(validator), pool);
    }

    fn delegation_start(
        &self,
        delegator: &Address,
        validator: &Address,
    ) -> Result<u128, CorruptState> {
        self.get(&pair_key(PREFIX_START, delegator, validator)).map(Option::unwrap_or_default)
    }

    fn take_staking_pool(&mut self, amount: Amount) -> Result<(), CorruptState> {
        let held = self.amount_global(STAKING_POOL)?.checked_sub(amount).ok_or_else(overflow)?;
        self.put_amount_global_named(STAKING_POOL, held);
        Ok(())
    }

    /// Every validator `delegator` delegates to, with the stake, in address order.
    pub fn delegations_of(
        &self,
        delegator: &Address,
    ) -> Result<Vec<(Address, Amount)>, CorruptState> {
        let mut prefix = vec![PREFIX_DELEGATION];
        prefix.extend_from_slice(delegator.as_bytes());
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let corrupt = |source| CorruptState { key: hex_key(k), source };
                let validator = k
                    .get(33..65)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(Address)
                    .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                Ok((validator, crate::keys::decode(v).map_err(corrupt)?))
            })
            .collect()
    }

    /// Refuses a delegation to a validator the account does not delegate to yet, once it
    /// delegates to [`DELEGATIONS_PER_ACCOUNT_MAX`] validators.
    pub(crate) fn check_new_delegation(&self, who: &Address, to: &Address) -> PayloadResult {
        if self.delegation(who, to)?.is_zero()
            && self.delegations_of(who)?.len() >= DELEGATIONS_PER_ACCOUNT_MAX
        {
            return Err(ErrorCode::TooManyDelegations.into());
        }
        Ok(())
    }

    /// What each of `delegator`'s delegations has accrued and not settled.
    pub fn staking_accrued(&self, delegator: &Address) -> Result<Vec<Accrued>, CorruptState> {
        self.delegations_of(delegator)?
            .into_iter()
            .map(|(validator, stake)| {
                let start = self.delegation_start(delegator, &validator)?;
                let owed = self.staking_pool(&validator)?.owed(stake, start);
                Ok(Accrued { validator, stake, owed })
            })
            .collect()
    }

    /// Settles `delegator`'s delegation to `validator` (`before` is its stake now) ahead of a
    /// change to `after`: pays what it is owed to the delegator's claimable rewards and
    /// restarts it at the pool's index. A change of the validator's total stake ends the
    /// pool's period (`Pool::set_stake`).
    pub(crate) fn rebase_delegation(
        &mut self,
        delegator: &Address,
        validator: &Address,
        before: Amount,
        after: Amount,
    ) -> Result<(), CorruptState> {
        let mut pool = self.staking_pool(validator)?;
        let start = self.delegation_start(delegator, validator)?;
        let owed = pool.owed(before, start);
        if !owed.is_zero() {
            self.take_staking_pool(owed)?;
            let source = RewardSource::Staking { validator: *validator };
            self.earn(delegator, source, owed, PaidTo::Claimable)?;
        }
        let key = pair_key(PREFIX_START, delegator, validator);
        if after.is_zero() {
            self.auth_mut().delete(&key);
            self.auth_mut().delete(&pair_key(PREFIX_REDELEGATED, delegator, validator));
        } else {
            self.put(key, &pool.index);
        }
        if before != after && pool.carry != 0 {
            pool.carry = 0;
            self.put_staking_pool(validator, &pool);
        }
        Ok(())
    }

    /// Settles everything `who` is owed by staking (every delegation, and its commission if
    /// it is a validator) into its claimable rewards. Returns whether anything was owed.
    pub(crate) fn settle_staking(&mut self, who: &Address) -> Result<bool, CorruptState> {
        let mut any = false;
        for (validator, stake) in self.delegations_of(who)? {
            let index = self.staking_pool(&validator)?.index;
            if index != self.delegation_start(who, &validator)? {
                any = true;
                self.rebase_delegation(who, &validator, stake, stake)?;
            }
        }
        let mut pool = self.staking_pool(who)?;
        if !pool.commission_unpaid.is_zero() {
            any = true;
            let unpaid = std::mem::take(&mut pool.commission_unpaid);
            self.put_staking_pool(who, &pool);
            self.take_staking_pool(unpaid)?;
            self.earn(who, RewardSource::Commission, unpaid, PaidTo::Claimable)?;
        }
        Ok(any)
    }

    /// What settling `who`'s staking would pay, without settling.
    pub fn staking_unsettled(&self, who: &Address) -> Result<Amount, CorruptState> {
        let mut total = self.staking_pool(who)?.commission_unpaid;
        for a in self.staking_accrued(who)? {
            total = total.checked_add(a.owed).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    /// Pays a block's staking reward: among the active set by stake, each validator's
    /// commission first, the rest into its pool. With no stake in the set, to the protection
    /// fund.
    pub(crate) fn distribute_staking(
        &mut self,
        height: Height,
        amount: Amount,
    ) -> Result<(), CorruptState> {
        if amount.is_zero() {
            return Ok(());
        }
        let set = self.active_set()?;
        let mut stakes = Vec::with_capacity(set.len());
        for v in &set {
            stakes.push(self.validator(v)?.map_or(0, |r| r.stake.0));
        }
        if stakes.iter().all(|s| *s == 0) {
            return self.add_to_global(crate::emission::PROTECTION_FUND, amount);
        }
        let epoch = height.0 / self.params.epoch_length;
        for ((v, stake), part) in set.iter().zip(&stakes).zip(apportion(amount.0, &stakes)) {
            if part == 0 {
                continue;
            }
            let mut record = self.staking_pool(v)?;
            let commission = crate::usage::bps_of(Amount(part), record.commission_at(epoch));
            record.commission_unpaid =
                record.commission_unpaid.checked_add(commission).ok_or_else(overflow)?;
            let mut pool = Pool { index: record.index, stake: *stake, carry: record.carry };
            // `part` > 0 only with stake, so the pool takes all of it.
            let _ = pool.deposit(part - commission.0);
            record.index = pool.index;
            record.carry = pool.carry;
            self.put_staking_pool(v, &record);
        }
        self.add_to_global(STAKING_POOL, amount)
    }

    pub(crate) fn staking_op(
        &mut self,
        height: Height,
        who: &Address,
        op: StakingOp,
    ) -> PayloadResult {
        match op {
            StakingOp::SetCommission { bps } => self.set_commission(height, who, bps),
            StakingOp::Redelegate { from, to, amount } => {
                self.redelegate(height, who, &from, &to, amount)
            }
        }
    }

    /// `StakingOp::SetCommission`: from the start of the epoch after next.
    pub(crate) fn set_commission(
        &mut self,
        height: Height,
        who: &Address,
        bps: u16,
    ) -> PayloadResult {
        if self.validator(who)?.is_none() {
            return Err(ErrorCode::NotValidator.into());
        }
        if bps > COMMISSION_MAX_BPS {
            return Err(ErrorCode::CommissionTooHigh.into());
        }
        let epoch = height.0 / self.params.epoch_length;
        let mut pool = self.staking_pool(who)?;
        // A change that applies already becomes the commission in force; a later one is
        // replaced (its notice starts again).
        pool.commission_bps = pool.commission_at(epoch);
        pool.pending_bps = bps;
        pool.pending_from = epoch.saturating_add(COMMISSION_NOTICE_EPOCHS);
        self.put_staking_pool(who, &pool);
        Ok(())
    }

    /// `StakingOp::Redelegate`.
    pub(crate) fn redelegate(
        &mut self,
        height: Height,
        who: &Address,
        from: &Address,
        to: &Address,
        amount: Amount,
    ) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        if from == to {
            return Err(ErrorCode::RedelegateToSelf.into());
        }
        // A validator's own stake is what equivocation slashes: moving it away at once would
        // dodge the slash. It can only unbond, which takes the unbonding period.
        if who == from {
            return Err(ErrorCode::SelfStakeNotRedelegable.into());
        }
        let mut source = self.validator(from)?.ok_or(ErrorCode::UnknownValidator)?;
        let mut target = self.validator(to)?.ok_or(ErrorCode::UnknownValidator)?;
        let had = self.delegation(who, from)?;
        let left = had.checked_sub(amount).ok_or(ErrorCode::InsufficientStake)?;
        let locked: Option<Height> = self.get(&pair_key(PREFIX_REDELEGATED, who, from))?;
        if locked.is_some_and(|until| height < until) {
            return Err(ErrorCode::RedelegationLocked.into());
        }
        // Moving all of it swaps one validator for another: no new delegation in number.
        if !left.is_zero() {
            self.check_new_delegation(who, to)?;
        }
        let joined = self.delegation(who, to)?;
        let grown = joined.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;
        source.stake = source.stake.checked_sub(amount).ok_or_else(overflow)?;
        target.stake = target.stake.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;

        self.rebase_delegation(who, from, had, left)?;
        self.rebase_delegation(who, to, joined, grown)?;
        self.put_validator(from, &source);
        self.put_validator(to, &target);
        self.put_delegation(who, from, left);
        self.put_delegation(who, to, grown);
        let until = height.checked_add(UNBONDING_PERIOD_BLOCKS).ok_or_else(overflow)?;
        self.put(pair_key(PREFIX_REDELEGATED, who, to), &until);
        Ok(())
    }
}
