//! Disputes: claims against a settled receipt that only the data can decide, judged by the
//! validators, who hold every datanet version and can run the models.
//!
//! A challenge (`crate::challenge`) is evidence the chain checks by itself: sums, prices,
//! positions. Two wrongs need more than the chain holds:
//!
//! - **Attribution**: the receipt credits contributions the rule does not give for its answer
//!   (the retrieval re-run over the datanet versions, the spans of the output found in them,
//!   combined by `alx_attribution::rule`), or more than the rule gives.
//! - **Generation**: the answer of a greedy request is not what the model produces: some
//!   output token is not the most likely one after the prompt and the tokens before it (see
//!   [`REPLAY_TOLERANCE_MILLI`]).
//!
//! ```text
//! Dispute { provider, first receipt, leaf, proof, signed receipt, claim }
//!   the settlement is in its challenge window, the proof opens its root at the leaf, the leaf
//!   is numbered by its position, the receipt is signed by the provider and is the leaf's
//!   (same id and number), and a generation claim names a greedy receipt with tokens
//!   → DISPUTE_BOND moves from the challenger into escrow, the provider's bond is locked
//!     until the vote ends, and the dispute is open for DISPUTE_VOTING_BLOCKS
//!   anything else → dispute_rejected, nothing moves
//! Verdicts [{ dispute, guilty }], sender in the active set, one vote per dispute each:
//!   guilty votes reach the quorum of the active set → the provider's bond is slashed (half to
//!     the challenger, half to the protection fund) and the challenge bond returned
//!   innocent votes reach (set − quorum + 1), so guilt can no longer reach the quorum → the
//!     challenge bond goes to the protection fund
//! deadline with neither → the challenge bond returns to the challenger, nothing else moves
//! ```
//!
//! A validator votes only on what it could decide: a juror without the model's weights or a
//! datanet version abstains. A false dispute costs its challenger the bond; a true one pays it
//! half the provider's bond. Both the rule a juror applies and the tolerance are here and in
//! `docs/design/disputes.md`, so anyone can recompute a verdict.

use crate::{
    Address, Amount,
    datanet::{read_str, write_str},
    settled::{LeafProof, SettledReceipt},
    usage_api::UsageReceipt,
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// What a challenger escrows to open a dispute (100 ALX): lost to the protection fund if the
/// validators find the provider innocent, so that disputes are not free to spam.
pub const DISPUTE_BOND: Amount = Amount(100 * crate::amount::BASE_UNITS_PER_ALX);

/// Blocks the validators have to decide a dispute.
pub const DISPUTE_VOTING_BLOCKS: u64 = 300;

/// The longest signed receipt (JSON) a dispute may carry: what fits a challenge transaction.
pub const DISPUTE_RECEIPT_BYTES_MAX: usize = 60 << 10;

/// Verdicts one transaction may carry.
pub const VERDICTS_PER_TX_MAX: usize = 64;

/// Most disputes open at once: what validators judge each block stays bounded.
pub const DISPUTES_OPEN_MAX: usize = 256;

/// How far below the most likely token's logit a replayed output token may be, in thousandths
/// of a logit (1.0): the serving engine batches and the juror replays in one pass, so the two
/// sum in different orders and differ by far less than this; an answer edited after the fact
/// puts tokens many logits below the best.
pub const REPLAY_TOLERANCE_MILLI: u32 = 1_000;

/// How much of a flagged contribution (in bytes of its text, basis points) the original its
/// flag names must cover, in spans of the original, for the flag to hold.
pub const FLAG_COVERAGE_MIN_BPS: u16 = 5_000;

/// What a dispute claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// The receipt's credits are not those the attribution rule gives its answer.
    Attribution,
    /// The receipt's greedy answer is not what the model produces for its prompt.
    Generation,
    /// A near-duplicate flag does not hold: the original it names covers less than
    /// [`FLAG_COVERAGE_MIN_BPS`] of the contribution.
    Flag,
}

impl Claim {
    const fn tag(self) -> u8 {
        match self {
            Self::Attribution => 0,
            Self::Generation => 1,
            Self::Flag => 2,
        }
    }

    /// A stable lowercase name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Attribution => "attribution",
            Self::Generation => "generation",
            Self::Flag => "flag",
        }
    }
}

/// A claim against one settled receipt, for the validators to decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The settling provider.
    pub provider: Address,
    /// The settlement's first receipt.
    pub first_receipt: u64,
    /// The receipt's leaf under the settlement's root.
    pub leaf: SettledReceipt,
    /// Its path to the root.
    pub proof: LeafProof,
    /// The signed receipt, as the provider published it (JSON).
    pub receipt: String,
    /// What is claimed.
    pub claim: Claim,
}

/// Why a dispute cannot be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DisputeError {
    /// The proof does not open the root at the leaf, or the leaf is not numbered by its place.
    #[error("the proof does not open the settlement's root at this leaf")]
    NotUnderRoot,
    /// The receipt is not JSON of a signed receipt, or its signature does not verify.
    #[error("the receipt is not a signed receipt whose signature verifies")]
    BadReceipt,
    /// The receipt is signed by another provider, or is not the leaf's.
    #[error("the receipt is not the leaf's (provider, number or id differ)")]
    NotTheLeafs,
    /// A generation claim on a receipt that was not greedy or has no tokens to replay.
    #[error("only a greedy receipt with its output tokens can be replayed")]
    NotReplayable,
    /// A flag claim on a receipt (a flag is disputed with `DatanetOp::DisputeFlag`).
    #[error("a near-duplicate flag is disputed on its contribution, not on a receipt")]
    NotAReceiptClaim,
}

impl Dispute {
    /// Checks everything the chain can (see the module docs) against the settlement with
    /// receipt root `root`, covering `receipts` receipts from `first`, and returns the
    /// receipt.
    ///
    /// # Errors
    /// What does not hold.
    pub fn admissible(
        &self,
        root: &crate::Hash,
        first: u64,
        receipts: u32,
    ) -> Result<UsageReceipt, DisputeError> {
        if !self.proof.opens(root, &self.leaf, first, receipts) {
            return Err(DisputeError::NotUnderRoot);
        }
        let receipt = UsageReceipt::parse_signed(&self.receipt, &self.provider, self.leaf.number)
            .ok_or(DisputeError::BadReceipt)?;
        // A leaf that settles what its receipt does not record is a challenge (the chain
        // slashes it at once), not a dispute.
        if receipt.id != self.leaf.id
            || crate::settled_batch::leaf_agrees(&self.leaf, &receipt).is_err()
        {
            return Err(DisputeError::NotTheLeafs);
        }
        if self.claim == Claim::Flag {
            return Err(DisputeError::NotAReceiptClaim);
        }
        if self.claim == Claim::Generation
            && (!receipt.body.greedy || receipt.body.output_tokens.is_empty())
        {
            return Err(DisputeError::NotReplayable);
        }
        Ok(receipt)
    }
}

/// One validator's vote on an open dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The dispute's id.
    pub dispute: u64,
    /// Whether the provider is guilty of what is claimed.
    pub guilty: bool,
}

/// A leaf, its proof and a signed receipt's JSON, as disputes, answers to demands and receipt
/// evidence carry them.
pub(crate) fn write_opened(
    leaf: &SettledReceipt,
    proof: &LeafProof,
    receipt: &str,
    buf: &mut impl BufMut,
) {
    leaf.write(buf);
    proof.write(buf);
    write_str(receipt, buf);
}

/// The size [`write_opened`] writes.
pub(crate) fn opened_size(leaf: &SettledReceipt, proof: &LeafProof, receipt: &str) -> usize {
    leaf.encode_size() + proof.encode_size() + 2 + crate::datanet::str_bytes(receipt).len()
}

/// Reads what [`write_opened`] wrote.
pub(crate) fn read_opened(
    buf: &mut impl Buf,
) -> Result<(SettledReceipt, LeafProof, String), CodecError> {
    Ok((
        SettledReceipt::read(buf)?,
        LeafProof::read(buf)?,
        read_str(buf, DISPUTE_RECEIPT_BYTES_MAX)?,
    ))
}

impl Write for Dispute {
    fn write(&self, buf: &mut impl BufMut) {
        self.provider.write(buf);
        self.first_receipt.write(buf);
        write_opened(&self.leaf, &self.proof, &self.receipt, buf);
        buf.put_u8(self.claim.tag());
    }
}

impl EncodeSize for Dispute {
    fn encode_size(&self) -> usize {
        Address::SIZE + 8 + opened_size(&self.leaf, &self.proof, &self.receipt) + 1
    }
}

impl Read for Dispute {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let provider = Address::read(buf)?;
        let first_receipt = u64::read(buf)?;
        let (leaf, proof, receipt) = read_opened(buf)?;
        Ok(Self {
            provider,
            first_receipt,
            leaf,
            proof,
            receipt,
            claim: match u8::read(buf)? {
                0 => Claim::Attribution,
                1 => Claim::Generation,
                tag => return Err(CodecError::InvalidEnum(tag)),
            },
        })
    }
}

impl Write for Verdict {
    fn write(&self, buf: &mut impl BufMut) {
        self.dispute.write(buf);
        buf.put_u8(u8::from(self.guilty));
    }
}

impl commonware_codec::FixedSize for Verdict {
    const SIZE: usize = 9;
}

impl Read for Verdict {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            dispute: u64::read(buf)?,
            guilty: match u8::read(buf)? {
                0 => false,
                1 => true,
                tag => return Err(CodecError::InvalidEnum(tag)),
            },
        })
    }
}

/// A juror's decision, as `POST /api/disputes/judge` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeResponse {
    /// `guilty`, `innocent` or `abstain`.
    pub verdict: String,
    /// Why (what breaks the rule, or why the node cannot decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl JudgeResponse {
    /// Whether the juror found the provider guilty.
    #[must_use]
    pub fn is_guilty(&self) -> bool {
        self.verdict == "guilty"
    }
}

/// An open dispute, as `GET /api/disputes` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeJson {
    /// Its id (what verdicts name).
    pub id: u64,
    /// Who filed it.
    pub challenger: Address,
    /// What is claimed.
    pub claim: Claim,
    /// A receipt claim: the settling provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Address>,
    /// A receipt claim: the settlement's first receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_receipt: Option<u64>,
    /// A receipt claim: the disputed receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<u64>,
    /// A flag claim: the datanet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datanet: Option<crate::datanet::DatanetId>,
    /// A flag claim: the flagged contribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution: Option<crate::datanet::ContributionId>,
    /// The last block votes count at.
    pub deadline: u64,
    /// Validators that found the claim true (the provider, or the flag, wrong).
    pub guilty: Vec<Address>,
    /// Validators that found it false.
    pub innocent: Vec<Address>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        Transaction,
        challenge::tests::leaves,
        limits::{CHALLENGE_TX_SIZE_MAX, TX_SIZE_MAX},
    };
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    /// A dispute of the last of `n` leaves, carrying a receipt of the largest size.
    pub(crate) fn dispute(n: u64) -> Dispute {
        let l = leaves(n, 62);
        let last = l.len() - 1;
        Dispute {
            provider: Address([3; 32]),
            first_receipt: 0,
            leaf: l[last].clone(),
            proof: LeafProof::of(&l, last).unwrap(),
            receipt: "r".repeat(DISPUTE_RECEIPT_BYTES_MAX),
            claim: Claim::Generation,
        }
    }

    /// The deepest leaf of the widest settlement, with the largest receipt, fits one dispute
    /// transaction; a longer receipt does not decode.
    #[test]
    fn the_largest_dispute_fits_a_transaction() {
        let key = PrivateKey::from_seed(1);
        let tx = |d: Dispute| {
            Transaction {
                chain_id: "x".repeat(crate::limits::CHAIN_ID_LEN_MAX).parse().unwrap(),
                sender: Address::from_public_key(&key.public_key()),
                nonce: u64::MAX,
                fee: Amount(u128::MAX),
                payload: crate::Payload::Usage(crate::usage::UsageOp::Dispute(Box::new(d))),
            }
            .sign(&key)
        };
        let signed = tx(dispute(1_024));
        let bytes = signed.to_bytes();
        assert!(
            bytes.len() > TX_SIZE_MAX && bytes.len() <= CHALLENGE_TX_SIZE_MAX,
            "{}",
            bytes.len()
        );
        assert_eq!(crate::SignedTx::decode_bytes(&bytes).unwrap(), signed);
        let mut long = dispute(2);
        long.receipt.push('r');
        assert!(crate::SignedTx::decode_bytes(&tx(long).to_bytes()).is_err());
    }

    #[test]
    fn an_unsigned_or_unparsable_receipt_is_refused_before_anything_else() {
        let d = dispute(4);
        let r = crate::settled::root(&leaves(4, 62)).unwrap();
        assert_eq!(d.admissible(&r.digest, 0, 4), Err(DisputeError::BadReceipt));
        assert_eq!(d.admissible(&r.digest, 1, 4), Err(DisputeError::NotUnderRoot));
        assert_eq!(d.admissible(&crate::hash::ZERO, 0, 4), Err(DisputeError::NotUnderRoot));
    }
}
