//! Withheld receipts: anyone may demand that a provider open one settled receipt on chain, and
//! a provider that does not is slashed. Publication off chain (`GET /api/settlements/…`) is
//! the provider's word; this makes it answerable.
//!
//! ```text
//! Demand { provider, first receipt, number }
//!   the settlement is in its challenge window, the number is in its range, and no demand for
//!   it is open → DEMAND_BOND moves from the challenger into escrow, the provider's bond is
//!   locked until the deadline (DEMAND_ANSWER_BLOCKS later)
//! Answer { provider, first receipt, leaf, proof, signed receipt } from anyone
//!   an open demand names it, the proof opens the settlement's root at the leaf, the leaf is
//!   the demanded number at its place, and the receipt is the provider's signed receipt of
//!   that leaf (a leaf whose id is zero, written off without its receipt, needs none)
//!   → the demand closes, its escrow pays the provider for its answer
//! deadline with no answer → the provider's bond is slashed (half to the challenger, half to
//!   the protection fund), the escrow returns, the settlement's window closes
//! ```
//!
//! An answer puts the receipt on chain, where anyone can read it and dispute it
//! (`crate::dispute`). A demand reveals one receipt: an auditor wanting a whole batch demands
//! as many as it doubts, each for its bond.

use crate::{
    Address, Amount, Hash,
    settled::{LeafProof, SettledReceipt},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// What a demand escrows (10 ALX): it pays the provider for answering, so demands are not a
/// free way to make honest providers spend fees.
pub const DEMAND_BOND: Amount = Amount(10 * crate::amount::BASE_UNITS_PER_ALX);

/// Blocks a provider has to answer a demand.
pub const DEMAND_ANSWER_BLOCKS: u64 = 50;

/// Most demands open on one provider at once: a flood of demands cannot outrun what it can
/// answer in the window.
pub const DEMANDS_OPEN_PER_PROVIDER_MAX: usize = 64;

/// A demand that `provider` open receipt `number` of its settlement from `first_receipt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// The settling provider.
    pub provider: Address,
    /// The settlement's first receipt.
    pub first_receipt: u64,
    /// The receipt to open.
    pub number: u64,
}

/// A demanded receipt, opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The settling provider.
    pub provider: Address,
    /// The settlement's first receipt.
    pub first_receipt: u64,
    /// The receipt's leaf.
    pub leaf: SettledReceipt,
    /// Its path to the settlement's root.
    pub proof: LeafProof,
    /// The signed receipt (JSON; empty for a leaf written off without its receipt).
    pub receipt: String,
}

impl Answer {
    /// Whether this answers the demand for receipt `number` of the settlement with receipt
    /// root `root`, covering `receipts` receipts from `first`.
    #[must_use]
    pub fn answers(&self, root: &Hash, first: u64, receipts: u32, number: u64) -> bool {
        if self.first_receipt != first
            || self.leaf.number != number
            || !self.proof.opens(root, &self.leaf, first, receipts)
        {
            return false;
        }
        if self.leaf.id == crate::hash::ZERO {
            return true;
        }
        crate::usage_api::UsageReceipt::parse_signed(&self.receipt, &self.provider, number)
            .is_some_and(|r| r.id == self.leaf.id)
    }
}

/// An open demand, as `GET /api/demands` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandJson {
    /// What is demanded.
    #[serde(flatten)]
    pub demand: Demand,
    /// Who demanded it.
    pub challenger: Address,
    /// The last block an answer counts at.
    pub deadline: u64,
}

impl Write for Demand {
    fn write(&self, buf: &mut impl BufMut) {
        self.provider.write(buf);
        self.first_receipt.write(buf);
        self.number.write(buf);
    }
}

impl commonware_codec::FixedSize for Demand {
    const SIZE: usize = Address::SIZE + 16;
}

impl Read for Demand {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            provider: Address::read(buf)?,
            first_receipt: u64::read(buf)?,
            number: u64::read(buf)?,
        })
    }
}

impl Write for Answer {
    fn write(&self, buf: &mut impl BufMut) {
        self.provider.write(buf);
        self.first_receipt.write(buf);
        crate::dispute::write_opened(&self.leaf, &self.proof, &self.receipt, buf);
    }
}

impl EncodeSize for Answer {
    fn encode_size(&self) -> usize {
        Address::SIZE + 8 + crate::dispute::opened_size(&self.leaf, &self.proof, &self.receipt)
    }
}

impl Read for Answer {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let provider = Address::read(buf)?;
        let first_receipt = u64::read(buf)?;
        let (leaf, proof, receipt) = crate::dispute::read_opened(buf)?;
        Ok(Self { provider, first_receipt, leaf, proof, receipt })
    }
}
