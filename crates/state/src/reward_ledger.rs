//! Every earning the chain pays, with where it came from ([`RewardSource`]), so anyone can
//! explain an account's rewards line by line from proven state.
//!
//! ```text
//! 0x2D ‖ who ‖ source                  → SourceRecord   earned in all, and since the last claim
//! 0x2E ‖ who                           → u64            claims made (marks `since_claim` stale)
//! 0x2F ‖ who ‖ epoch (BE) ‖ source     → Amount         earned in that epoch, kept for
//!                                                       REWARD_EPOCHS_KEPT epochs
//! ```
//!
//! An earning is paid either to the account's balance (model-owner and provider shares,
//! subnet emission, contribution fees, reporters' shares) or to its claimable rewards (data
//! credits, staking, commission, the emission pools). A claim takes every claimable source at
//! once; it bumps the account's claim counter instead of rewriting each source, and a source
//! whose counter is behind reads as nothing claimable. So
//! `Σ since_claim over the claimable sources = Rewards::claimable` at every height.

use crate::{
    execute::overflow,
    keys,
    model_records::{GLOBAL_CLAIMABLE_TOTAL, Rewards},
    state::{CorruptState, State, hex_key},
};
use alx_types::{Address, Amount, staking::RewardSource};
use commonware_codec::{Encode as _, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_SOURCE: u8 = 0x2D;
const PREFIX_CLAIMS: u8 = 0x2E;
const PREFIX_EPOCH_EARNED: u8 = 0x2F;

/// Epochs of per-epoch earnings kept per account (older ones are pruned as new ones come).
pub const REWARD_EPOCHS_KEPT: u64 = 64;

/// Where an earning is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PaidTo {
    /// The account's spendable balance, at once.
    Balance,
    /// The account's claimable rewards.
    Claimable,
}

/// One account's earnings from one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceRecord {
    /// Earned in all.
    pub earned: Amount,
    /// Earned into claimable rewards since the claim numbered `claims`.
    pub since_claim: Amount,
    /// The account's claim count when `since_claim` was last written.
    pub claims: u64,
}

impl Write for SourceRecord {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.earned.write(buf);
        self.since_claim.write(buf);
        self.claims.write(buf);
    }
}

impl EncodeSize for SourceRecord {
    fn encode_size(&self) -> usize {
        16 + 16 + 8
    }
}

impl Read for SourceRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            earned: Amount::read(buf)?,
            since_claim: Amount::read(buf)?,
            claims: u64::read(buf)?,
        })
    }
}

/// One line of an account's explained rewards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// Where it came from.
    pub source: RewardSource,
    /// Earned in all.
    pub earned: Amount,
    /// Of it, claimable now.
    pub claimable: Amount,
}

fn who_key(prefix: u8, who: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(80);
    k.push(prefix);
    k.extend_from_slice(who.as_bytes());
    k
}

fn source_key(who: &Address, source: &RewardSource) -> Vec<u8> {
    let mut k = who_key(PREFIX_SOURCE, who);
    k.extend_from_slice(&source.encode());
    k
}

fn epoch_prefix(who: &Address, epoch: u64) -> Vec<u8> {
    let mut k = who_key(PREFIX_EPOCH_EARNED, who);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

fn decode_source(key: &[u8], at: usize) -> Result<RewardSource, CorruptState> {
    let bytes = key.get(at..).unwrap_or_default();
    keys::decode(bytes).map_err(|source| CorruptState { key: hex_key(key), source })
}

impl State {
    /// Pays `amount` to `who` from `source`, where `to` says, and records it in the epoch of
    /// the block being executed (the state's height plus one).
    pub(crate) fn earn(
        &mut self,
        who: &Address,
        source: RewardSource,
        amount: Amount,
        to: PaidTo,
    ) -> Result<(), CorruptState> {
        if amount.is_zero() {
            return Ok(());
        }
        let add = |a: Amount| a.checked_add(amount).ok_or_else(overflow);
        match to {
            PaidTo::Balance => self.credit(who, amount)?,
            PaidTo::Claimable => {
                let old = self.rewards(who)?;
                let new = Rewards { claimable: add(old.claimable)?, earned: add(old.earned)? };
                self.put_rewards(who, &new);
                let total = add(self.claimable_total()?)?;
                self.put_amount_global_named(GLOBAL_CLAIMABLE_TOTAL, total);
            }
        }
        let claims = self.claims_made(who)?;
        let key = source_key(who, &source);
        let mut record: SourceRecord = self.get(&key)?.unwrap_or_default();
        if record.claims != claims {
            record = SourceRecord { since_claim: Amount::ZERO, claims, ..record };
        }
        record.earned = add(record.earned)?;
        if to == PaidTo::Claimable {
            record.since_claim = add(record.since_claim)?;
        }
        self.put(key, &record);

        let epoch = self.height()?.next().0 / self.params.epoch_length;
        let mut key = epoch_prefix(who, epoch);
        key.extend_from_slice(&source.encode());
        let old: Amount = self.get(&key)?.unwrap_or_default();
        self.put(key, &add(old)?);
        // Drop what fell out of the window: one seek when there is nothing to drop.
        if let Some(oldest) = epoch.checked_sub(REWARD_EPOCHS_KEPT - 1) {
            let stale: Vec<Vec<u8>> = self
                .auth()
                .range(epoch_prefix(who, 0), epoch_prefix(who, oldest))
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                self.auth_mut().delete(&k);
            }
        }
        Ok(())
    }

    /// Claims `who` made so far.
    pub(crate) fn claims_made(&self, who: &Address) -> Result<u64, CorruptState> {
        self.get(&who_key(PREFIX_CLAIMS, who)).map(Option::unwrap_or_default)
    }

    /// A claim took every claimable source of `who`.
    pub(crate) fn mark_claimed(&mut self, who: &Address) -> Result<(), CorruptState> {
        let next = self.claims_made(who)?.saturating_add(1);
        self.put(who_key(PREFIX_CLAIMS, who), &next);
        Ok(())
    }

    /// What `who` earned, source by source, in the sources' order.
    pub fn reward_sources(&self, who: &Address) -> Result<Vec<SourceLine>, CorruptState> {
        let claims = self.claims_made(who)?;
        let prefix = who_key(PREFIX_SOURCE, who);
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let record: SourceRecord =
                    keys::decode(v).map_err(|source| CorruptState { key: hex_key(k), source })?;
                let claimable =
                    if record.claims == claims { record.since_claim } else { Amount::ZERO };
                Ok(SourceLine {
                    source: decode_source(k, prefix.len())?,
                    earned: record.earned,
                    claimable,
                })
            })
            .collect()
    }

    /// What `who` earned in each of the last [`REWARD_EPOCHS_KEPT`] epochs, by source, oldest
    /// first.
    pub fn reward_epochs(
        &self,
        who: &Address,
    ) -> Result<Vec<(u64, RewardSource, Amount)>, CorruptState> {
        let prefix = who_key(PREFIX_EPOCH_EARNED, who);
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let corrupt = |source| CorruptState { key: hex_key(k), source };
                let epoch = k
                    .get(prefix.len()..prefix.len() + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                let amount: Amount = keys::decode(v).map_err(corrupt)?;
                Ok((epoch, decode_source(k, prefix.len() + 8)?, amount))
            })
            .collect()
    }
}
