//! Paying for model use: prepaid deposits, API keys with their allowances, settlements and
//! reward claims.
//!
//! Money held for usage (`prepaid_total`, counted in the supply) sits in two places: each
//! payer's free deposit, and each API key's allowance. Creating or funding a key moves deposit
//! into its allowance; only the key's provider draws the allowance down, by settling; a
//! payer's revocation returns what is left to the deposit [`REVOKE_DELAY_BLOCKS`] later (the
//! due queue runs it), a provider's revocation at once. A withdrawal takes only free deposit,
//! so nothing a provider has served against can be pulled away before it settles.
//!
//! A settlement is checked whole before anything is written: the receipt range, its receipt
//! root against the totals it applies (`Settlement::commits_to_its_totals`), every key
//! (its provider, state and allowance), every model, every credit. Then, per model, the fees
//! charged are split exactly in base units:
//!
//! ```text
//! data     = total * data_bps / 10_000          (floor)
//! owner    = total * owner_bps / 10_000         (floor)   → the model owner's balance
//! provider = total * provider_bps / 10_000      (floor)   → the settling node's balance
//! protocol = total - data - owner - provider              → the treasury (gets the dust)
//! ```
//!
//! The data share pays the credited contributions (claimable rewards). A credit for a
//! flagged near-duplicate goes to the protection fund: never to whoever flagged it. Whatever
//! no credit claims goes to the owners of the model's
//! datanets pro rata to their versions' bytes (floor; the dust to the first datanet's owner),
//! or to the model owner's claimable rewards if it names no datanet. Nothing is created or
//! lost: the charges equal the payouts. The protocol part is the fee burned, and the only thing
//! a settlement earns emission weight by (`record_matched_weights`; `emission` has the rule).

use crate::{
    ContributionStatus,
    due::Due,
    emission::{COMPUTE_MATCH_BPS, DATA_MATCH_BPS},
    execute::{PayloadError, PayloadResult, overflow},
    model_records::{ApiKey, GLOBAL_CLAIMABLE_TOTAL, GLOBAL_PREPAID_TOTAL, GLOBAL_TREASURY, Model},
    reward_ledger::PaidTo,
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, ErrorCode, Hash, Height,
    datanet::{ContributionId, DatanetId},
    model::{BPS, ModelId},
    staking::RewardSource,
    usage::{REVOKE_DELAY_BLOCKS, Settlement, UsageOp},
};
use std::collections::BTreeMap;

fn add(a: Amount, b: Amount) -> Result<Amount, PayloadError> {
    a.checked_add(b).ok_or_else(|| ErrorCode::AmountOverflow.into())
}

pub(crate) fn bps_of(total: Amount, bps: u16) -> Amount {
    // total < 2^128 and bps ≤ 10^4: split to avoid overflow of total * bps.
    let (q, r) = (total.0 / u128::from(BPS), total.0 % u128::from(BPS));
    Amount(q * u128::from(bps) + r * u128::from(bps) / u128::from(BPS))
}

/// Everything a valid settlement writes, computed before any write.
#[derive(Default)]
struct Payouts {
    keys: BTreeMap<Hash, ApiKey>,
    balances: BTreeMap<(Address, RewardSource), Amount>,
    rewards: BTreeMap<(Address, RewardSource), Amount>,
    earned: BTreeMap<(DatanetId, ContributionId), Amount>,
    /// What each account was paid of each model's data share (emission weights follow it).
    data_paid: BTreeMap<(ModelId, Address), Amount>,
    /// What each model's fees gave the treasury: the part nobody can get back.
    burned: BTreeMap<ModelId, Amount>,
    /// Shares of flagged copies whose original cannot take them.
    protection: Amount,
    treasury: Amount,
    charged: Amount,
}

impl Payouts {
    /// Pays `amount` of `model`'s data share to `who`'s claimable rewards, from `source`.
    fn pay_data(
        &mut self,
        model: ModelId,
        who: Address,
        source: RewardSource,
        amount: Amount,
    ) -> PayloadResult {
        let r = self.rewards.entry((who, source)).or_default();
        *r = add(*r, amount)?;
        let d = self.data_paid.entry((model, who)).or_default();
        *d = add(*d, amount)?;
        Ok(())
    }
}

impl State {
    pub(crate) fn usage_op(
        &mut self,
        height: Height,
        who: &Address,
        op: &UsageOp,
    ) -> PayloadResult {
        match op {
            UsageOp::Deposit { amount } => self.deposit(who, *amount),
            UsageOp::Withdraw { amount } => self.withdraw_deposit(who, *amount),
            UsageOp::CreateApiKey { key_hash, provider, allowance } => {
                self.create_api_key(who, key_hash, provider, *allowance)
            }
            UsageOp::FundApiKey { key_hash, amount } => self.fund_api_key(who, key_hash, *amount),
            UsageOp::RevokeApiKey { key_hash } => self.revoke_api_key(height, who, key_hash),
            UsageOp::Settle(s) => self.settle(height, who, s),
            UsageOp::Claim => self.claim(who),
            UsageOp::BondProvider { amount } => self.bond_provider(who, *amount),
            UsageOp::UnbondProvider { amount } => self.unbond_provider(height, who, *amount),
            UsageOp::Challenge(c) => self.challenge(who, c),
            UsageOp::Dispute(d) => self.open_dispute(height, who, d),
            UsageOp::Verdicts(v) => self.vote_disputes(who, v),
            UsageOp::Demand(d) => self.open_demand(height, who, d),
            UsageOp::Answer(a) => self.answer_demand(a),
        }
    }

    fn deposit(&mut self, who: &Address, amount: Amount) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut account = self.existing_account(who)?;
        account.balance =
            account.balance.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
        let prepaid = add(self.prepaid(who)?, amount)?;
        let total = self.prepaid_total()?.checked_add(amount).ok_or_else(overflow)?;
        self.put_account(who, &account);
        self.put_prepaid(who, prepaid);
        self.put_amount_global_named(GLOBAL_PREPAID_TOTAL, total);
        Ok(())
    }

    fn withdraw_deposit(&mut self, who: &Address, amount: Amount) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let prepaid =
            self.prepaid(who)?.checked_sub(amount).ok_or(ErrorCode::InsufficientDeposit)?;
        let total = self.prepaid_total()?.checked_sub(amount).ok_or_else(overflow)?;
        self.put_prepaid(who, prepaid);
        self.put_amount_global_named(GLOBAL_PREPAID_TOTAL, total);
        self.credit(who, amount)?;
        Ok(())
    }

    fn create_api_key(
        &mut self,
        who: &Address,
        key_hash: &Hash,
        provider: &Address,
        allowance: Amount,
    ) -> PayloadResult {
        if self.api_key(key_hash)?.is_some() {
            return Err(ErrorCode::ApiKeyExists.into());
        }
        if !provider.is_strict_key() {
            return Err(ErrorCode::BadAddress.into());
        }
        self.require_bonded(provider)?;
        let deposit =
            self.prepaid(who)?.checked_sub(allowance).ok_or(ErrorCode::InsufficientDeposit)?;
        let key = ApiKey {
            payer: *who,
            provider: *provider,
            allowance,
            spent: Amount::ZERO,
            revoked: false,
            closes_at: Height(0),
        };
        self.put_prepaid(who, deposit);
        self.put_api_key(key_hash, &key);
        Ok(())
    }

    fn fund_api_key(&mut self, who: &Address, key_hash: &Hash, amount: Amount) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut key = self.api_key(key_hash)?.ok_or(ErrorCode::UnknownApiKey)?;
        if key.payer != *who {
            return Err(ErrorCode::NotKeyParty.into());
        }
        if !key.is_open() {
            return Err(ErrorCode::ApiKeyRevoked.into());
        }
        let deposit =
            self.prepaid(who)?.checked_sub(amount).ok_or(ErrorCode::InsufficientDeposit)?;
        key.allowance = add(key.allowance, amount)?;
        self.put_prepaid(who, deposit);
        self.put_api_key(key_hash, &key);
        Ok(())
    }

    /// The payer starts the revocation delay; the provider closes the key at once.
    fn revoke_api_key(&mut self, height: Height, who: &Address, key_hash: &Hash) -> PayloadResult {
        let mut key = self.api_key(key_hash)?.ok_or(ErrorCode::UnknownApiKey)?;
        if key.revoked {
            return Err(ErrorCode::ApiKeyRevoked.into());
        }
        if key.provider == *who {
            if key.closes_at != Height(0) {
                self.unschedule(key.closes_at, &Due::CloseApiKey(*key_hash));
            }
            return Ok(self.close_api_key(key_hash)?);
        }
        if key.payer != *who {
            return Err(ErrorCode::NotKeyParty.into());
        }
        if key.closes_at != Height(0) {
            return Err(ErrorCode::ApiKeyRevoked.into());
        }
        key.closes_at = height.checked_add(REVOKE_DELAY_BLOCKS).ok_or_else(overflow)?;
        self.schedule(key.closes_at, &Due::CloseApiKey(*key_hash));
        self.put_api_key(key_hash, &key);
        Ok(())
    }

    /// Closes a key: what is left of its allowance returns to the payer's deposit (both held
    /// for usage: `prepaid_total` does not move). A key already closed stays as it is.
    pub(crate) fn close_api_key(&mut self, key_hash: &Hash) -> Result<(), CorruptState> {
        let Some(mut key) = self.api_key(key_hash)? else { return Ok(()) };
        if key.revoked {
            return Ok(());
        }
        let deposit = self.prepaid(&key.payer)?.checked_add(key.allowance).ok_or_else(overflow)?;
        self.put_prepaid(&key.payer, deposit);
        key.allowance = Amount::ZERO;
        key.revoked = true;
        self.put_api_key(key_hash, &key);
        Ok(())
    }

    /// Pays `who`'s claimable rewards to its balance, staking settled first (every
    /// delegation's share and, for a validator, its commission).
    fn claim(&mut self, who: &Address) -> PayloadResult {
        if self.rewards(who)?.claimable.is_zero() && self.staking_unsettled(who)?.is_zero() {
            return Err(ErrorCode::NothingToClaim.into());
        }
        self.settle_staking(who)?;
        let mut rewards = self.rewards(who)?;
        let amount = std::mem::take(&mut rewards.claimable);
        let total = self.claimable_total()?.checked_sub(amount).ok_or_else(overflow)?;
        self.put_rewards(who, &rewards);
        self.put_amount_global_named(GLOBAL_CLAIMABLE_TOTAL, total);
        self.mark_claimed(who)?;
        self.credit(who, amount)?;
        Ok(())
    }

    fn settle(&mut self, height: Height, provider: &Address, s: &Settlement) -> PayloadResult {
        let next = self.next_receipt(provider)?;
        if s.receipts == 0
            || s.first_receipt != next
            || s.receipts as usize > alx_types::usage::SETTLEMENT_RECEIPTS_MAX
        {
            return Err(ErrorCode::BadReceiptRange.into());
        }
        let end = next.checked_add(u64::from(s.receipts)).ok_or(ErrorCode::BadReceiptRange)?;
        // The money moved below is exactly what the receipt root commits to.
        if !s.commits_to_its_totals() {
            return Err(ErrorCode::ReceiptRootMismatch.into());
        }
        let mut out = Payouts::default();
        let mut per_model: BTreeMap<ModelId, Amount> = BTreeMap::new();
        let mut models: BTreeMap<ModelId, Model> = BTreeMap::new();
        for charge in &s.charges {
            let key = match out.keys.get(&charge.key_hash) {
                Some(k) => *k,
                None => self.api_key(&charge.key_hash)?.ok_or(ErrorCode::UnknownApiKey)?,
            };
            if key.provider != *provider {
                return Err(ErrorCode::NotKeyParty.into());
            }
            // A key being revoked still settles: what it served before the revocation is owed.
            if key.revoked {
                return Err(ErrorCode::ApiKeyRevoked.into());
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = models.entry(charge.model) {
                let m = self.model(charge.model)?.ok_or(ErrorCode::UnknownModel)?;
                if m.retired {
                    return Err(ErrorCode::ModelRetired.into());
                }
                slot.insert(m);
            }
            let allowance = key.allowance.checked_sub(charge.amount).ok_or(ErrorCode::OverLimit)?;
            let spent = add(key.spent, charge.amount)?;
            out.keys.insert(charge.key_hash, ApiKey { spent, allowance, ..key });
            let total = per_model.entry(charge.model).or_default();
            *total = add(*total, charge.amount)?;
            out.charged = add(out.charged, charge.amount)?;
        }
        // Credits, checked against each model's datanet versions and data share.
        let mut credited: BTreeMap<ModelId, Amount> = BTreeMap::new();
        for c in &s.credits {
            let model = models.get(&c.model).ok_or(ErrorCode::BadCredit)?;
            let version = model
                .spec
                .datanets
                .iter()
                .find(|d| d.datanet == c.datanet)
                .ok_or(ErrorCode::BadCredit)?
                .version;
            let contribution =
                self.contribution(c.datanet, c.contribution)?.ok_or(ErrorCode::BadCredit)?;
            if contribution.status != ContributionStatus::Approved
                || !(1..=version).contains(&contribution.first_version)
            {
                return Err(ErrorCode::BadCredit.into());
            }
            let sum = credited.entry(c.model).or_default();
            *sum = add(*sum, c.amount)?;
            if contribution.near_duplicate {
                // A flagged copy's share goes to the protection fund: never to whoever flagged
                // it (the flag names the original it copies as evidence, `copy_of`, but a
                // curator could name an original of its own; paying originals waits for flags
                // that can be disputed).
                out.protection = add(out.protection, c.amount)?;
                continue;
            }
            let source = RewardSource::DataCredits { datanet: c.datanet };
            out.pay_data(c.model, contribution.contributor, source, c.amount)?;
            let e = out.earned.entry((c.datanet, c.contribution)).or_default();
            *e = add(*e, c.amount)?;
        }
        for (id, total) in &per_model {
            let model = &models[id];
            let split = model.spec.split;
            let data = bps_of(*total, split.data_bps);
            let owner = bps_of(*total, split.owner_bps);
            let provider_part = bps_of(*total, split.provider_bps);
            let protocol = Amount(total.0 - data.0 - owner.0 - provider_part.0);
            let paid = credited.get(id).copied().unwrap_or_default();
            let rest = data.checked_sub(paid).ok_or(ErrorCode::BadCredit)?;
            self.share_among_datanet_owners(*id, model, rest, &mut out)?;
            for (to, source, amount) in [
                (model.owner, RewardSource::ModelOwner { model: *id }, owner),
                (*provider, RewardSource::Provider { model: *id }, provider_part),
            ] {
                let b = out.balances.entry((to, source)).or_default();
                *b = add(*b, amount)?;
            }
            out.treasury = add(out.treasury, protocol)?;
            out.burned.insert(*id, protocol);
        }
        if credited.keys().any(|m| !per_model.contains_key(m)) {
            return Err(ErrorCode::BadCredit.into());
        }
        self.take_bond_capacity(height, provider, out.charged)?;
        self.record_matched_weights(height, provider, &out)?;
        let prices = models
            .iter()
            .map(|(id, m)| (*id, m.spec.price_input_per_1k, m.spec.price_output_per_1k));
        self.record_settlement(
            height,
            provider,
            (s.first_receipt, s.receipts, s.receipts_root),
            out.charged,
            prices,
        )?;
        self.apply_payouts(out)?;
        self.put_next_receipt(provider, end);
        Ok(())
    }

    /// Splits `amount` among the owners of the model's datanets, pro rata to the bytes of the
    /// versions it names; to the model owner if it names none.
    fn share_among_datanet_owners(
        &self,
        id: ModelId,
        model: &Model,
        amount: Amount,
        out: &mut Payouts,
    ) -> PayloadResult {
        if amount.is_zero() {
            return Ok(());
        }
        let mut owners = Vec::new();
        for d in &model.spec.datanets {
            let owner = self.datanet(d.datanet)?.map(|n| n.owner);
            let bytes = self.datanet_version(d.datanet, d.version)?.map_or(0, |v| v.bytes);
            if let Some(owner) = owner {
                owners.push((
                    owner,
                    RewardSource::DatanetOwner { datanet: d.datanet },
                    u128::from(bytes),
                ));
            }
        }
        let weight: u128 = owners.iter().map(|(_, _, b)| *b).sum();
        if owners.is_empty() || weight == 0 {
            return out.pay_data(id, model.owner, RewardSource::ModelOwner { model: id }, amount);
        }
        let mut given = 0u128;
        for (owner, source, bytes) in &owners {
            // amount * bytes / weight without overflow: bytes ≤ weight < 2^64·8.
            let part = mul_div(amount.0, *bytes, weight);
            given += part;
            out.pay_data(id, *owner, *source, Amount(part))?;
        }
        out.pay_data(id, owners[0].0, owners[0].1, Amount(amount.0 - given))
    }

    /// Records this settlement's emission weights: each model's burned part, matched at
    /// [`DATA_MATCH_BPS`] for the accounts paid its data share (pro rata to what each was
    /// paid, floor) and at [`COMPUTE_MATCH_BPS`] for the provider. No settlement can earn
    /// anyone, whoever they are, more weight than 90% of what it burned (see `emission`).
    fn record_matched_weights(
        &mut self,
        height: Height,
        provider: &Address,
        out: &Payouts,
    ) -> Result<(), CorruptState> {
        for (model, burned) in &out.burned {
            let paid: Vec<(&Address, &Amount)> = out
                .data_paid
                .range((*model, Address([0; 32]))..=(*model, Address([0xff; 32])))
                .map(|((_, who), amount)| (who, amount))
                .collect();
            let data_total: u128 = paid.iter().map(|(_, a)| a.0).sum();
            let budget = bps_of(*burned, DATA_MATCH_BPS);
            for (who, amount) in paid {
                let weight = Amount(mul_div(budget.0, amount.0, data_total));
                self.record_epoch_weight(height, true, who, weight)?;
            }
            self.record_epoch_weight(height, false, provider, bps_of(*burned, COMPUTE_MATCH_BPS))?;
        }
        Ok(())
    }

    fn apply_payouts(&mut self, out: Payouts) -> PayloadResult {
        for (hash, key) in &out.keys {
            self.put_api_key(hash, key);
        }
        let prepaid_total = self.prepaid_total()?.checked_sub(out.charged).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_PREPAID_TOTAL, prepaid_total);
        for ((to, source), amount) in &out.balances {
            self.earn(to, *source, *amount, PaidTo::Balance)?;
        }
        for ((to, source), amount) in &out.rewards {
            self.earn(to, *source, *amount, PaidTo::Claimable)?;
        }
        for ((datanet, contribution), amount) in &out.earned {
            let e = self.contribution_earned(*datanet, *contribution)?;
            self.put_contribution_earned(
                *datanet,
                *contribution,
                e.checked_add(*amount).ok_or_else(overflow)?,
            );
        }
        let treasury = self.treasury()?.checked_add(out.treasury).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_TREASURY, treasury);
        if !out.protection.is_zero() {
            let fund = self
                .amount_global(crate::emission::PROTECTION_FUND)?
                .checked_add(out.protection)
                .ok_or_else(overflow)?;
            self.put_amount_global_named(crate::emission::PROTECTION_FUND, fund);
        }
        Ok(())
    }
}

/// `a * b / c` rounded down, exact for `b ≤ c` (no intermediate overflow).
pub(crate) fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    let (q, r) = (a / c, a % c);
    // q * b ≤ a, and r * b < c * b ≤ c² fits while c < 2^64; weights are byte counts.
    q * b + r.saturating_mul(b) / c
}
