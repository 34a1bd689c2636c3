//! Model and usage records in the authenticated map, with their typed reads and writes.
//!
//! ```text
//! 0x0C ‖ model (BE)                     → Model
//! 0x0D ‖ name                           → model id (names are unique)
//! 0x0E ‖ address                        → Amount (prepaid deposit)
//! 0x0F ‖ key hash                       → ApiKey
//! 0x10 ‖ provider                       → u64 (next unsettled receipt number)
//! 0x11 ‖ address                        → Rewards (claimable and lifetime earnings)
//! 0x12 ‖ datanet (BE) ‖ contribution (BE) → Amount (lifetime earnings of a contribution)
//! 0x05 ‖ "model_next" / "prepaid_total" / "claimable_total" / "treasury"
//! ```

use crate::{
    keys::global_key,
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, Hash, Height,
    datanet::{ContributionId, DatanetId},
    model::{ModelId, ModelSpec},
};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};

const PREFIX_MODEL: u8 = 0x0C;
const PREFIX_MODEL_NAME: u8 = 0x0D;
const PREFIX_PREPAID: u8 = 0x0E;
const PREFIX_API_KEY: u8 = 0x0F;
const PREFIX_RECEIPT_NEXT: u8 = 0x10;
const PREFIX_REWARDS: u8 = 0x11;
const PREFIX_CONTRIBUTION_EARNED: u8 = 0x12;
const GLOBAL_MODEL_NEXT: &str = "model_next";
pub(crate) const GLOBAL_PREPAID_TOTAL: &str = "prepaid_total";
pub(crate) const GLOBAL_CLAIMABLE_TOTAL: &str = "claimable_total";
pub(crate) const GLOBAL_TREASURY: &str = "treasury";

/// The state key of an account's rewards record ([`Rewards`]), for proofs.
#[must_use]
pub fn rewards_key(who: &Address) -> Vec<u8> {
    key(PREFIX_REWARDS, &[who.as_bytes()])
}

/// The state key of an account's prepaid deposit (an `Amount`), for proofs.
#[must_use]
pub fn prepaid_key(who: &Address) -> Vec<u8> {
    key(PREFIX_PREPAID, &[who.as_bytes()])
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// Who registered it (and receives the owner share).
    pub owner: Address,
    /// What it is, its prices and split.
    pub spec: ModelSpec,
    /// Height of registration.
    pub registered_at: Height,
    /// No longer settled against.
    pub retired: bool,
}

/// An API key's on-chain half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// Who pays for its requests.
    pub payer: Address,
    /// The only node that may charge it.
    pub provider: Address,
    /// What is left to charge: moved out of the payer's deposit, drawn only by the provider.
    pub allowance: Amount,
    /// Charged so far.
    pub spent: Amount,
    /// Closed: no more charges, and its allowance went back to the payer's deposit.
    pub revoked: bool,
    /// The height at which a payer's revocation closes the key (0: not revoked). Until then
    /// the provider may still settle what it served, but serves no more.
    pub closes_at: Height,
}

impl ApiKey {
    /// True if a provider may serve requests on it now: neither closed nor being revoked.
    #[must_use]
    pub const fn is_open(&self) -> bool {
        !self.revoked && self.closes_at.0 == 0
    }
}

/// An account's rewards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewards {
    /// Earned and not yet claimed.
    pub claimable: Amount,
    /// Earned in total.
    pub earned: Amount,
}

impl Write for Model {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.owner.write(buf);
        self.spec.write(buf);
        self.registered_at.write(buf);
        buf.put_u8(u8::from(self.retired));
    }
}

impl EncodeSize for Model {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.spec.encode_size() + u64::SIZE + 1
    }
}

pub(crate) fn read_bool(buf: &mut impl Buf) -> Result<bool, CodecError> {
    match u8::read(buf)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

impl Read for Model {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            owner: Address::read(buf)?,
            spec: ModelSpec::read(buf)?,
            registered_at: Height::read(buf)?,
            retired: read_bool(buf)?,
        })
    }
}

impl Write for ApiKey {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.payer.write(buf);
        self.provider.write(buf);
        self.allowance.write(buf);
        self.spent.write(buf);
        buf.put_u8(u8::from(self.revoked));
        self.closes_at.write(buf);
    }
}

impl EncodeSize for ApiKey {
    fn encode_size(&self) -> usize {
        2 * Address::SIZE + 2 * Amount::SIZE + 1 + u64::SIZE
    }
}

impl Read for ApiKey {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            payer: Address::read(buf)?,
            provider: Address::read(buf)?,
            allowance: Amount::read(buf)?,
            spent: Amount::read(buf)?,
            revoked: read_bool(buf)?,
            closes_at: Height::read(buf)?,
        })
    }
}

impl Write for Rewards {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.claimable.write(buf);
        self.earned.write(buf);
    }
}

impl EncodeSize for Rewards {
    fn encode_size(&self) -> usize {
        2 * Amount::SIZE
    }
}

impl Read for Rewards {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { claimable: Amount::read(buf)?, earned: Amount::read(buf)? })
    }
}

impl State {
    /// A model, if registered.
    pub fn model(&self, id: ModelId) -> Result<Option<Model>, CorruptState> {
        self.get(&key(PREFIX_MODEL, &[&id.0.to_be_bytes()]))
    }

    /// The id of the model with this name.
    pub fn model_by_name(&self, name: &str) -> Result<Option<ModelId>, CorruptState> {
        self.get(&key(PREFIX_MODEL_NAME, &[name.as_bytes()]))
    }

    /// Models registered so far (ids are `0..count`).
    pub fn model_count(&self) -> Result<u64, CorruptState> {
        self.get(&global_key(GLOBAL_MODEL_NEXT)).map(Option::unwrap_or_default)
    }

    /// The adapter manifests live models register, each with the model's base (a retired
    /// model's adapter is no longer kept: a dispute over its receipts finds no adapter and is
    /// not judged).
    pub fn registered_adapters(&self) -> std::collections::BTreeSet<(Hash, Hash)> {
        self.auth()
            .scan_prefix(&[PREFIX_MODEL])
            .filter_map(|(_, v)| {
                let model = crate::keys::decode::<Model>(v).ok()?;
                (!model.retired).then_some((model.spec.adapter?, model.spec.base_model))
            })
            .collect()
    }

    /// An account's prepaid deposit.
    pub fn prepaid(&self, who: &Address) -> Result<Amount, CorruptState> {
        self.get(&key(PREFIX_PREPAID, &[who.as_bytes()])).map(Option::unwrap_or_default)
    }

    /// An API key by the hash of its secret.
    pub fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKey>, CorruptState> {
        self.get(&key(PREFIX_API_KEY, &[&key_hash.0]))
    }

    /// A provider's next unsettled receipt number.
    pub fn next_receipt(&self, provider: &Address) -> Result<u64, CorruptState> {
        self.get(&key(PREFIX_RECEIPT_NEXT, &[provider.as_bytes()])).map(Option::unwrap_or_default)
    }

    /// An account's rewards.
    pub fn rewards(&self, who: &Address) -> Result<Rewards, CorruptState> {
        self.get(&key(PREFIX_REWARDS, &[who.as_bytes()])).map(Option::unwrap_or_default)
    }

    /// What a contribution has earned in total.
    pub fn contribution_earned(
        &self,
        datanet: DatanetId,
        contribution: ContributionId,
    ) -> Result<Amount, CorruptState> {
        let k = key(
            PREFIX_CONTRIBUTION_EARNED,
            &[&datanet.0.to_be_bytes(), &contribution.0.to_be_bytes()],
        );
        self.get(&k).map(Option::unwrap_or_default)
    }

    /// A chain-wide amount (prepaid and claimable totals, the treasury).
    pub fn amount_global(&self, name: &str) -> Result<Amount, CorruptState> {
        self.get(&global_key(name)).map(Option::unwrap_or_default)
    }

    /// The protocol treasury.
    pub fn treasury(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_TREASURY)
    }

    /// All prepaid deposits together, API key allowances included.
    pub fn prepaid_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_PREPAID_TOTAL)
    }

    /// All claimable rewards together.
    pub fn claimable_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_CLAIMABLE_TOTAL)
    }

    pub(crate) fn put_model(&mut self, id: ModelId, model: &Model) {
        self.put(key(PREFIX_MODEL, &[&id.0.to_be_bytes()]), model);
    }

    pub(crate) fn put_model_name(&mut self, name: &str, id: ModelId) {
        self.put(key(PREFIX_MODEL_NAME, &[name.as_bytes()]), &id);
    }

    pub(crate) fn put_model_count(&mut self, next: u64) {
        self.put(global_key(GLOBAL_MODEL_NEXT), &next);
    }

    pub(crate) fn put_prepaid(&mut self, who: &Address, amount: Amount) {
        self.put(key(PREFIX_PREPAID, &[who.as_bytes()]), &amount);
    }

    pub(crate) fn put_api_key(&mut self, key_hash: &Hash, api_key: &ApiKey) {
        self.put(key(PREFIX_API_KEY, &[&key_hash.0]), api_key);
    }

    pub(crate) fn put_next_receipt(&mut self, provider: &Address, next: u64) {
        self.put(key(PREFIX_RECEIPT_NEXT, &[provider.as_bytes()]), &next);
    }

    pub(crate) fn put_rewards(&mut self, who: &Address, rewards: &Rewards) {
        self.put(key(PREFIX_REWARDS, &[who.as_bytes()]), rewards);
    }

    pub(crate) fn put_contribution_earned(
        &mut self,
        datanet: DatanetId,
        contribution: ContributionId,
        amount: Amount,
    ) {
        let k = key(
            PREFIX_CONTRIBUTION_EARNED,
            &[&datanet.0.to_be_bytes(), &contribution.0.to_be_bytes()],
        );
        self.put(k, &amount);
    }

    /// Adds `amount` to a chain-wide amount.
    pub(crate) fn add_to_global(&mut self, name: &str, amount: Amount) -> Result<(), CorruptState> {
        let held =
            self.amount_global(name)?.checked_add(amount).ok_or_else(crate::execute::overflow)?;
        self.put_amount_global_named(name, held);
        Ok(())
    }

    pub(crate) fn put_amount_global_named(&mut self, name: &str, amount: Amount) {
        self.put(global_key(name), &amount);
    }
}
