//! Staking: validator registration, bonding (delegation), unbonding with a waiting period, the
//! choice of the active set at epoch boundaries (top `validators_max` candidates by stake;
//! every member gets one equal vote, as simplex counts participants, not weight), and slashing
//! a validator's own stake on equivocation evidence.

use crate::{
    execute::{PayloadResult, overflow},
    keys::{self, PREFIX_UNBONDING, Unbonding, Validator, unbonding_key},
    state::{CorruptState, State, hex_key},
};
use alx_types::{
    Address, Amount, ErrorCode,
    block::Height,
    limits::{UNBONDING_PERIOD_BLOCKS, UNBONDINGS_PER_ACCOUNT_MAX},
};
use std::net::SocketAddr;

impl State {
    pub(crate) fn register_validator(
        &mut self,
        height: Height,
        who: &Address,
        p2p_addr: SocketAddr,
    ) -> PayloadResult {
        if self.validator(who)?.is_some() {
            return Err(ErrorCode::AlreadyValidator.into());
        }
        if !alx_types::tx::is_dialable(&p2p_addr) {
            return Err(ErrorCode::BadP2pAddr.into());
        }
        self.put_validator(who, &Validator { stake: Amount::ZERO, registered_at: height });
        self.put_p2p_addr(who, p2p_addr);
        Ok(())
    }

    pub(crate) fn bond(&mut self, who: &Address, to: &Address, amount: Amount) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut validator = self.validator(to)?.ok_or(ErrorCode::UnknownValidator)?;
        self.check_new_delegation(who, to)?;
        let mut account = self.existing_account(who)?;
        account.balance =
            account.balance.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
        account.bonded = account.bonded.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;
        validator.stake = validator.stake.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;
        let before = self.delegation(who, to)?;
        let delegation = before.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;
        // What the delegation earned at its old stake is settled before the stake changes.
        self.rebase_delegation(who, to, before, delegation)?;
        self.put_account(who, &account);
        self.put_validator(to, &validator);
        self.put_delegation(who, to, delegation);
        Ok(())
    }

    pub(crate) fn unbond(
        &mut self,
        height: Height,
        who: &Address,
        nonce: u64,
        from: &Address,
        amount: Amount,
    ) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut validator = self.validator(from)?.ok_or(ErrorCode::UnknownValidator)?;
        let delegation =
            self.delegation(who, from)?.checked_sub(amount).ok_or(ErrorCode::InsufficientStake)?;
        let mut account = self.existing_account(who)?;
        if account.unbonding_count as usize >= UNBONDINGS_PER_ACCOUNT_MAX {
            return Err(ErrorCode::TooManyUnbondings.into());
        }
        // The delegation covers `amount`, and the validator's and account's totals include it.
        validator.stake = validator.stake.checked_sub(amount).ok_or_else(overflow)?;
        account.bonded = account.bonded.checked_sub(amount).ok_or_else(overflow)?;
        account.unbonding = account.unbonding.checked_add(amount).ok_or_else(overflow)?;
        account.unbonding_count += 1;
        let mature = height.saturating_add(UNBONDING_PERIOD_BLOCKS);
        let before = delegation.checked_add(amount).ok_or_else(overflow)?;
        self.rebase_delegation(who, from, before, delegation)?;
        self.put_account(who, &account);
        self.put_validator(from, &validator);
        self.put_delegation(who, from, delegation);
        let entry = Unbonding { validator: *from, amount };
        self.auth_mut().put(unbonding_key(mature, who, nonce), keys::encode(&entry));
        Ok(())
    }

    /// Returns every unbonding that matures at or before `height` to its owner's balance.
    pub(crate) fn mature_unbondings(&mut self, height: Height) -> Result<(), CorruptState> {
        let from = vec![PREFIX_UNBONDING];
        let mut to = vec![PREFIX_UNBONDING];
        to.extend_from_slice(&height.0.saturating_add(1).to_be_bytes());
        let due: Vec<(Vec<u8>, Vec<u8>)> =
            self.auth().range(from, to).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, value) in due {
            let entry: Unbonding = keys::decode(&value)
                .map_err(|source| CorruptState { key: hex_key(&key), source })?;
            let mut owner = [0u8; 32];
            owner.copy_from_slice(&key[9..41]);
            let owner = Address(owner);
            let mut account = self.existing_account(&owner)?;
            account.unbonding = account.unbonding.checked_sub(entry.amount).ok_or_else(overflow)?;
            account.balance = account.balance.checked_add(entry.amount).ok_or_else(overflow)?;
            account.unbonding_count = account.unbonding_count.saturating_sub(1);
            self.put_account(&owner, &account);
            self.auth_mut().delete(&key);
        }
        Ok(())
    }

    /// Chooses the next active set: the `validators_max` candidates with the most stake
    /// (ties broken by address), among those with any stake. Keeps the current set if no
    /// candidate has stake, so the chain can never be left without validators.
    pub(crate) fn rotate_active_set(&mut self) -> Result<(), CorruptState> {
        let mut candidates = self.ranked_candidates()?;
        if candidates.is_empty() {
            return Ok(());
        }
        candidates.truncate(self.params.validators_max as usize);
        let mut set: Vec<Address> = candidates.into_iter().map(|(a, _)| a).collect();
        set.sort();
        self.put_active_set(&set);
        Ok(())
    }
}

/// `0x24 ‖ validator ‖ epoch (BE) ‖ view (BE)` → empty: a round already punished.
const PREFIX_EQUIVOCATION: u8 = 0x24;

fn equivocation_key(validator: &Address, epoch: u64, view: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(49);
    k.push(PREFIX_EQUIVOCATION);
    k.extend_from_slice(validator.as_bytes());
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(&view.to_be_bytes());
    k
}

impl State {
    /// Evidence of two conflicting votes (checked by `Equivocation::verify`): the validator's
    /// own stake (its self-delegation) is slashed whole, half to the reporter and the rest to
    /// the protection fund, once per round. Delegators' stake is untouched; the validator,
    /// with less stake, may fall out of the next active set.
    pub(crate) fn report_equivocation(
        &mut self,
        reporter: &Address,
        e: &alx_types::equivocation::Equivocation,
    ) -> PayloadResult {
        let (epoch, view) = e.verify().map_err(|_| ErrorCode::BadEvidence)?;
        let key = equivocation_key(&e.validator, epoch, view);
        if self.auth().get(&key).is_some() {
            return Err(ErrorCode::BadEvidence.into());
        }
        let mut validator = self.validator(&e.validator)?.ok_or(ErrorCode::UnknownValidator)?;
        let own = self.delegation(&e.validator, &e.validator)?;
        if own.is_zero() {
            return Err(ErrorCode::BadEvidence.into());
        }
        let mut account = self.existing_account(&e.validator)?;
        account.bonded = account.bonded.checked_sub(own).ok_or_else(overflow)?;
        validator.stake = validator.stake.checked_sub(own).ok_or_else(overflow)?;
        let share = own.0 / 2;
        // The stake earned its rewards until now: they are its owner's, the slash is not.
        self.rebase_delegation(&e.validator, &e.validator, own, Amount::ZERO)?;
        let fund = self
            .amount_global(crate::emission::PROTECTION_FUND)?
            .checked_add(Amount(own.0 - share))
            .ok_or_else(overflow)?;
        self.put_account(&e.validator, &account);
        self.put_validator(&e.validator, &validator);
        self.put_delegation(&e.validator, &e.validator, Amount::ZERO);
        self.put_amount_global_named(crate::emission::PROTECTION_FUND, fund);
        self.auth_mut().put(key, Vec::new());
        let source = alx_types::staking::RewardSource::Reporter;
        self.earn(reporter, source, Amount(share), crate::reward_ledger::PaidTo::Balance)?;
        Ok(())
    }
}
