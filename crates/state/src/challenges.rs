//! Provider bonds, the record each settlement leaves for its challenge window, and challenges
//! (the rules: `alx_types::challenge`).
//!
//! ```text
//! 0x21 ‖ provider ‖ first receipt (BE) → SettlementRecord   until its window closes (due queue)
//! 0x22 ‖ provider                      → ProviderBond
//! 0x23 ‖ model (BE)                    → PriceCap            a model's highest recent price
//! 0x26 ‖ provider ‖ first receipt (BE) → empty               the settlement was slashed
//! 0x05 ‖ "provider_bonds"              → Amount              every bond (the supply audit)
//! ```
//!
//! A bond caps the fees at risk: those of its provider's settlements still in their window. A
//! settlement's record keeps its receipt root, its fees and, per model it charged, the highest price
//! the model had in the window before (its price then, or an earlier one changed within
//! [`CHALLENGE_WINDOW_BLOCKS`]): a provider that charged a request at the price of its time is
//! never slashed because the owner changed the price before the settlement's block.

use crate::{
    due::Due,
    execute::{PayloadResult, overflow},
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, ErrorCode, Hash, Height,
    challenge::{CHALLENGE_WINDOW_BLOCKS, CHALLENGER_SHARE_BPS, Challenge},
    model::{BPS, ModelId},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_SETTLEMENT: u8 = 0x21;
const PREFIX_PROVIDER_BOND: u8 = 0x22;
const PREFIX_PRICE_CAP: u8 = 0x23;
const PREFIX_SLASHED: u8 = 0x26;
const GLOBAL_PROVIDER_BONDS: &str = "provider_bonds";

/// A provider's bond, and the fees it settled that are still challengeable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderBond {
    /// Bonded.
    pub amount: Amount,
    /// Fees of its settlements still in their challenge window: never more than `amount`, so
    /// one slash always covers everything a provider could have taken unchallenged.
    pub at_risk: Amount,
    /// The bond cannot be withdrawn before this height (past its last settlement's window).
    pub locked_until: Height,
}

/// What a settlement leaves for its challenge window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    /// Receipts settled.
    pub receipts: u32,
    /// Fees it charged (at risk on the bond until the window closes).
    pub charged: Amount,
    /// The receipt root.
    pub root: Hash,
    /// Per model charged: the highest price in the window before (input, output per 1,000).
    pub prices: Vec<(ModelId, Amount, Amount)>,
}

/// A model's highest price in a window: (input, output) per 1,000 tokens, until a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PriceCap {
    input: Amount,
    output: Amount,
    until: Height,
}

fn settlement_key(provider: &Address, first: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(PREFIX_SETTLEMENT);
    k.extend_from_slice(provider.as_bytes());
    k.extend_from_slice(&first.to_be_bytes());
    k
}

fn bond_key(provider: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(PREFIX_PROVIDER_BOND);
    k.extend_from_slice(provider.as_bytes());
    k
}

fn price_cap_key(model: ModelId) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(PREFIX_PRICE_CAP);
    k.extend_from_slice(&model.0.to_be_bytes());
    k
}

impl State {
    /// A provider's bond (zero if it never bonded).
    pub fn provider_bond(&self, provider: &Address) -> Result<ProviderBond, CorruptState> {
        Ok(self.get(&bond_key(provider))?.unwrap_or_default())
    }

    /// Every provider bond together.
    pub fn provider_bonds_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_PROVIDER_BONDS)
    }

    /// The record of a settlement still in its challenge window.
    pub fn settlement_record(
        &self,
        provider: &Address,
        first: u64,
    ) -> Result<Option<SettlementRecord>, CorruptState> {
        self.get(&settlement_key(provider, first))
    }

    fn put_bond(&mut self, provider: &Address, bond: &ProviderBond) {
        self.put(bond_key(provider), bond);
    }

    /// Moves `amount` between `provider`'s bond and the bond total: what genesis and
    /// [`Self::bond_provider`] add.
    pub(crate) fn add_provider_bond(
        &mut self,
        provider: &Address,
        amount: Amount,
    ) -> Result<(), CorruptState> {
        let mut bond = self.provider_bond(provider)?;
        bond.amount = bond.amount.checked_add(amount).ok_or_else(overflow)?;
        let total = self.provider_bonds_total()?.checked_add(amount).ok_or_else(overflow)?;
        self.put_bond(provider, &bond);
        self.put_amount_global_named(GLOBAL_PROVIDER_BONDS, total);
        Ok(())
    }

    pub(crate) fn bond_provider(&mut self, who: &Address, amount: Amount) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut account = self.existing_account(who)?;
        account.balance =
            account.balance.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
        self.put_account(who, &account);
        Ok(self.add_provider_bond(who, amount)?)
    }

    pub(crate) fn unbond_provider(
        &mut self,
        height: Height,
        who: &Address,
        amount: Amount,
    ) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let mut bond = self.provider_bond(who)?;
        if height < bond.locked_until {
            return Err(ErrorCode::BondLocked.into());
        }
        bond.amount = bond.amount.checked_sub(amount).ok_or(ErrorCode::BondLocked)?;
        let total = self.provider_bonds_total()?.checked_sub(amount).ok_or_else(overflow)?;
        self.put_bond(who, &bond);
        self.put_amount_global_named(GLOBAL_PROVIDER_BONDS, total);
        self.credit(who, amount)?;
        Ok(())
    }

    /// Refuses a key naming a provider without a bond.
    pub(crate) fn require_bonded(&self, provider: &Address) -> PayloadResult {
        if self.provider_bond(provider)?.amount.is_zero() {
            return Err(ErrorCode::ProviderNotBonded.into());
        }
        Ok(())
    }

    /// Puts `charged` at risk on the provider's bond until the settlement's window closes, or
    /// refuses it if the fees at risk would pass the bond. The bond stays locked one block past
    /// the window, so no unbonding can run ahead of a challenge in the window's last block.
    pub(crate) fn take_bond_capacity(
        &mut self,
        height: Height,
        provider: &Address,
        charged: Amount,
    ) -> PayloadResult {
        let mut bond = self.provider_bond(provider)?;
        bond.at_risk = bond.at_risk.checked_add(charged).ok_or(ErrorCode::OverBondCap)?;
        if bond.at_risk > bond.amount {
            return Err(ErrorCode::OverBondCap.into());
        }
        bond.locked_until = height.checked_add(CHALLENGE_WINDOW_BLOCKS + 1).ok_or_else(overflow)?;
        self.put_bond(provider, &bond);
        Ok(())
    }

    /// Keeps a settlement's record for its window, with each charged model's price cap.
    pub(crate) fn record_settlement(
        &mut self,
        height: Height,
        provider: &Address,
        (first, receipts, root): (u64, u32, Hash),
        charged: Amount,
        models: impl Iterator<Item = (ModelId, Amount, Amount)>,
    ) -> Result<(), CorruptState> {
        let mut prices = Vec::new();
        for (model, input, output) in models {
            let (mut i, mut o) = (input, output);
            if let Some(cap) = self.get::<PriceCap>(&price_cap_key(model))?
                && height <= cap.until
            {
                i = i.max(cap.input);
                o = o.max(cap.output);
            }
            prices.push((model, i, o));
        }
        let record = SettlementRecord { receipts, charged, root, prices };
        self.put(settlement_key(provider, first), &record);
        let until = height.checked_add(CHALLENGE_WINDOW_BLOCKS).ok_or_else(overflow)?;
        self.schedule(until, &Due::SettlementWindow(*provider, first));
        Ok(())
    }

    /// A price change: the old prices stay the cap for a window, so receipts served at them
    /// can still settle at them.
    pub(crate) fn note_price_change(
        &mut self,
        height: Height,
        model: ModelId,
        old_input: Amount,
        old_output: Amount,
    ) -> Result<(), CorruptState> {
        let key = price_cap_key(model);
        let (mut input, mut output) = (old_input, old_output);
        if let Some(cap) = self.get::<PriceCap>(&key)?
            && height <= cap.until
        {
            input = input.max(cap.input);
            output = output.max(cap.output);
        }
        let until = height.checked_add(CHALLENGE_WINDOW_BLOCKS).ok_or_else(overflow)?;
        self.put(key, &PriceCap { input, output, until });
        Ok(())
    }

    /// The window of a settlement closed (or it was slashed): it can no longer be challenged,
    /// and its fees are no longer at risk on the bond.
    pub(crate) fn close_settlement_window(
        &mut self,
        provider: &Address,
        first: u64,
    ) -> Result<(), CorruptState> {
        let Some(record) = self.settlement_record(provider, first)? else { return Ok(()) };
        let mut bond = self.provider_bond(provider)?;
        bond.at_risk = Amount(bond.at_risk.0.saturating_sub(record.charged.0));
        self.put_bond(provider, &bond);
        self.auth_mut().delete(&settlement_key(provider, first));
        Ok(())
    }

    pub(crate) fn challenge(&mut self, challenger: &Address, c: &Challenge) -> PayloadResult {
        let record = self
            .settlement_record(&c.provider, c.first_receipt)?
            .ok_or(ErrorCode::NoSuchSettlement)?;
        let prices =
            |model: ModelId| record.prices.iter().find(|p| p.0 == model).map(|&(_, i, o)| (i, o));
        if !c.evidence.holds(&c.provider, &record.root, c.first_receipt, record.receipts, prices) {
            return Err(ErrorCode::ChallengeRejected.into());
        }
        self.slash_settlement(&c.provider, c.first_receipt, challenger)?;
        Ok(())
    }

    /// Slashes `provider` for its settlement from `first`, once: a settlement already slashed
    /// (by a challenge, a dispute or a demand) is never slashed again, so a bond posted since
    /// is not taken for an old wrong. The settlement's window closes (its due entry then
    /// finds nothing). Returns whether it slashed.
    pub(crate) fn slash_settlement(
        &mut self,
        provider: &Address,
        first: u64,
        challenger: &Address,
    ) -> Result<bool, CorruptState> {
        let mut marker = vec![PREFIX_SLASHED];
        marker.extend_from_slice(provider.as_bytes());
        marker.extend_from_slice(&first.to_be_bytes());
        if self.auth().get(&marker).is_some() {
            return Ok(false);
        }
        self.slash_provider(provider, challenger)?;
        self.auth_mut().put(marker, Vec::new());
        self.close_settlement_window(provider, first)?;
        Ok(true)
    }
}

impl State {
    /// Takes `provider`'s whole bond: [`CHALLENGER_SHARE_BPS`] of it to `challenger`, the rest
    /// to the protection fund. Returns what was taken.
    pub(crate) fn slash_provider(
        &mut self,
        provider: &Address,
        challenger: &Address,
    ) -> Result<Amount, CorruptState> {
        let mut bond = self.provider_bond(provider)?;
        let slashed = std::mem::take(&mut bond.amount);
        let share =
            crate::usage::mul_div(slashed.0, u128::from(CHALLENGER_SHARE_BPS), u128::from(BPS));
        let total = self.provider_bonds_total()?.checked_sub(slashed).ok_or_else(overflow)?;
        let fund = self
            .amount_global(crate::emission::PROTECTION_FUND)?
            .checked_add(Amount(slashed.0 - share))
            .ok_or_else(overflow)?;
        self.put_bond(provider, &bond);
        self.put_amount_global_named(GLOBAL_PROVIDER_BONDS, total);
        self.put_amount_global_named(crate::emission::PROTECTION_FUND, fund);
        let source = alx_types::staking::RewardSource::Reporter;
        self.earn(challenger, source, Amount(share), crate::reward_ledger::PaidTo::Balance)?;
        Ok(slashed)
    }

    /// Keeps `provider`'s bond locked until `height` at least.
    pub(crate) fn lock_bond_until(
        &mut self,
        provider: &Address,
        height: Height,
    ) -> Result<(), CorruptState> {
        let mut bond = self.provider_bond(provider)?;
        bond.locked_until = bond.locked_until.max(height);
        self.put_bond(provider, &bond);
        Ok(())
    }
}

impl Write for ProviderBond {
    fn write(&self, buf: &mut impl BufMut) {
        self.amount.write(buf);
        self.at_risk.write(buf);
        self.locked_until.0.write(buf);
    }
}

impl EncodeSize for ProviderBond {
    fn encode_size(&self) -> usize {
        16 + 16 + 8
    }
}

impl Read for ProviderBond {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            amount: Amount::read(buf)?,
            at_risk: Amount::read(buf)?,
            locked_until: Height(u64::read(buf)?),
        })
    }
}

impl Write for SettlementRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.receipts.write(buf);
        self.charged.write(buf);
        self.root.write(buf);
        buf.put_u8(self.prices.len().min(255) as u8);
        for (model, i, o) in self.prices.iter().take(255) {
            model.write(buf);
            i.write(buf);
            o.write(buf);
        }
    }
}

impl EncodeSize for SettlementRecord {
    fn encode_size(&self) -> usize {
        4 + 16 + 32 + 1 + self.prices.len().min(255) * (8 + 16 + 16)
    }
}

impl Read for SettlementRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let receipts = u32::read(buf)?;
        let charged = Amount::read(buf)?;
        let root = Hash::read(buf)?;
        let n = usize::from(u8::read(buf)?);
        let prices = (0..n)
            .map(|_| Ok((ModelId::read(buf)?, Amount::read(buf)?, Amount::read(buf)?)))
            .collect::<Result<_, CodecError>>()?;
        Ok(Self { receipts, charged, root, prices })
    }
}

impl Write for PriceCap {
    fn write(&self, buf: &mut impl BufMut) {
        self.input.write(buf);
        self.output.write(buf);
        self.until.0.write(buf);
    }
}

impl EncodeSize for PriceCap {
    fn encode_size(&self) -> usize {
        16 + 16 + 8
    }
}

impl Read for PriceCap {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            input: Amount::read(buf)?,
            output: Amount::read(buf)?,
            until: Height(u64::read(buf)?),
        })
    }
}
