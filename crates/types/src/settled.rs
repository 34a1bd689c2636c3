//! What a settlement settles, receipt by receipt, and the Merkle sum tree that binds those
//! receipts to the totals the chain applies.
//!
//! Each receipt of a settled range is one leaf, a [`SettledReceipt`]: the signed receipt's id
//! and what is charged and credited for it. That is the receipt's fee, tokens and credits, or
//! nothing at all for a receipt written off. Every node of the tree also carries the sums of
//! its leaves ([`Totals`]: receipts, tokens, the charge per key and model, the credit per
//! contribution), and its digest commits to them:
//!
//! ```text
//! leaf digest  = SHA-256(0x00 ‖ leaf)                          (codec bytes)
//! node digest  = SHA-256(0x01 ‖ left digest ‖ right digest ‖ totals)
//! totals(node) = totals(left) + totals(right)                  (maps merged, amounts added)
//! tree(1 leaf) = the leaf; tree(n) = node(tree(first k), tree(rest)), k the largest power of two < n
//! root(n ≥ 2)  = tree(n);  root(1) = node(leaf, EMPTY)          (EMPTY: zero digest, zero totals)
//! ```
//!
//! A settlement carries the root's digest, the digests of its two children and the root's
//! totals (its charges, credits, tokens and receipt count). The chain recomputes the root
//! digest from those and refuses a settlement whose totals are not what the root commits to.
//! So the money a settlement moves is exactly the sum the root commits to. Anyone holding the
//! published leaves can rebuild the tree and check it against that root, and a
//! [`LeafProof`] shows one leaf's place under the root with a path of siblings and their
//! totals.

use crate::{
    Amount, Hash,
    datanet::{ContributionId, DatanetId, read_count},
    hash::{ZERO, sha256},
    model::ModelId,
    usage::{Charge, Credit, SETTLEMENT_CHARGES_MAX, SETTLEMENT_CREDITS_MAX},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod proof;

pub use proof::{LeafProof, ProofStep};

const TAG_LEAF: u8 = 0x00;
const TAG_NODE: u8 = 0x01;

/// Most nodes on the path from a leaf to the root (2^32 receipts).
pub const PROOF_DEPTH_MAX: usize = 33;

/// What a settlement settles for one receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledReceipt {
    /// The provider's receipt number.
    pub number: u64,
    /// The signed receipt's id (zero when the provider lost the receipt and writes it off).
    #[serde(with = "crate::hash::serde_hex")]
    pub id: Hash,
    /// The API key charged.
    #[serde(with = "crate::hash::serde_hex")]
    pub key_hash: Hash,
    /// The model used.
    pub model: ModelId,
    /// Prompt tokens charged (0 when written off).
    pub prompt_tokens: u32,
    /// Generated tokens charged (0 when written off).
    pub completion_tokens: u32,
    /// The fee charged (0 when written off).
    pub fee: Amount,
    /// The data share paid per contribution, all of `model`, in key order, none zero.
    pub credits: Vec<Credit>,
}

impl SettledReceipt {
    /// A receipt settled without a charge: nothing is charged or credited for it.
    #[must_use]
    pub const fn written_off(number: u64, id: Hash, key_hash: Hash, model: ModelId) -> Self {
        Self {
            number,
            id,
            key_hash,
            model,
            prompt_tokens: 0,
            completion_tokens: 0,
            fee: Amount::ZERO,
            credits: Vec::new(),
        }
    }

    /// Whether the leaf is well formed: credits of its own model only, in strictly increasing
    /// (datanet, contribution) order, none zero, at most [`SETTLEMENT_CREDITS_MAX`], and none
    /// at all without a fee.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        self.credits.len() <= SETTLEMENT_CREDITS_MAX
            && (self.credits.is_empty() || !self.fee.is_zero())
            && self.credits.iter().all(|c| c.model == self.model && !c.amount.is_zero())
            && self
                .credits
                .windows(2)
                .all(|w| (w[0].datanet, w[0].contribution) < (w[1].datanet, w[1].contribution))
    }

    /// The leaf's digest.
    #[must_use]
    pub fn digest(&self) -> Hash {
        use commonware_codec::Encode as _;
        sha256(&[&[TAG_LEAF], &self.encode()])
    }

    /// The sums of this one leaf (`None` if it is not canonical).
    #[must_use]
    pub fn totals(&self) -> Option<Totals> {
        if !self.is_canonical() {
            return None;
        }
        let charges = if self.fee.is_zero() {
            Vec::new()
        } else {
            vec![Charge { key_hash: self.key_hash, model: self.model, amount: self.fee }]
        };
        Some(Totals {
            receipts: 1,
            prompt_tokens: u64::from(self.prompt_tokens),
            completion_tokens: u64::from(self.completion_tokens),
            charges,
            credits: self.credits.clone(),
        })
    }
}

/// The sums a node of the tree commits to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Receipts below the node.
    pub receipts: u64,
    /// Prompt tokens charged.
    pub prompt_tokens: u64,
    /// Generated tokens charged.
    pub completion_tokens: u64,
    /// Charges per (key, model), in that order, none zero.
    pub charges: Vec<Charge>,
    /// Credits per (model, datanet, contribution), in that order, none zero.
    pub credits: Vec<Credit>,
}

impl Totals {
    /// Whether charges and credits are in strictly increasing key order, none zero, within a
    /// settlement's limits.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        let charge_key = |c: &Charge| (c.key_hash, c.model);
        let credit_key = |c: &Credit| (c.model, c.datanet, c.contribution);
        self.charges.len() <= SETTLEMENT_CHARGES_MAX
            && self.credits.len() <= SETTLEMENT_CREDITS_MAX
            && self.charges.iter().all(|c| !c.amount.is_zero())
            && self.credits.iter().all(|c| !c.amount.is_zero())
            && self.charges.windows(2).all(|w| charge_key(&w[0]) < charge_key(&w[1]))
            && self.credits.windows(2).all(|w| credit_key(&w[0]) < credit_key(&w[1]))
    }

    /// The sum of two nodes' totals (`None` on overflow or past a settlement's limits).
    #[must_use]
    pub fn add(&self, other: &Self) -> Option<Self> {
        let mut charges: BTreeMap<(Hash, ModelId), u128> = BTreeMap::new();
        for c in self.charges.iter().chain(&other.charges) {
            let e = charges.entry((c.key_hash, c.model)).or_default();
            *e = e.checked_add(c.amount.0)?;
        }
        let mut credits: BTreeMap<(ModelId, DatanetId, ContributionId), u128> = BTreeMap::new();
        for c in self.credits.iter().chain(&other.credits) {
            let e = credits.entry((c.model, c.datanet, c.contribution)).or_default();
            *e = e.checked_add(c.amount.0)?;
        }
        let sum = Self {
            receipts: self.receipts.checked_add(other.receipts)?,
            prompt_tokens: self.prompt_tokens.checked_add(other.prompt_tokens)?,
            completion_tokens: self.completion_tokens.checked_add(other.completion_tokens)?,
            charges: charges
                .into_iter()
                .map(|((key_hash, model), a)| Charge { key_hash, model, amount: Amount(a) })
                .collect(),
            credits: credits
                .into_iter()
                .map(|((model, datanet, contribution), a)| Credit {
                    model,
                    datanet,
                    contribution,
                    amount: Amount(a),
                })
                .collect(),
        };
        sum.is_canonical().then_some(sum)
    }

    /// The sum of all charges.
    #[must_use]
    pub fn fee(&self) -> u128 {
        self.charges.iter().fold(0u128, |a, c| a.saturating_add(c.amount.0))
    }
}

/// The digest of a node over two children with the node's `totals`.
#[must_use]
pub fn node_digest(left: &Hash, right: &Hash, totals: &Totals) -> Hash {
    use commonware_codec::Encode as _;
    sha256(&[&[TAG_NODE], left.as_ref(), right.as_ref(), &totals.encode()])
}

/// A tree's root: its digest, its children's digests and its totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// The root digest (what the settlement names).
    pub digest: Hash,
    /// The digests of its two children.
    pub children: [Hash; 2],
    /// The sums of every leaf.
    pub totals: Totals,
}

/// Why leaves do not make a tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// There are no leaves.
    #[error("a settlement settles at least one receipt")]
    Empty,
    /// A leaf is not canonical (its index).
    #[error(
        "leaf {0} is not canonical (credits out of order, zero, of another model, or without a fee)"
    )]
    BadLeaf(usize),
    /// The sums overflow or pass a settlement's limits.
    #[error("the receipts' sums overflow or pass a settlement's limits on charges and credits")]
    Overflow,
}

/// The digest and totals of the subtree over `leaves` (at least one).
fn subtree(leaves: &[(Hash, Totals)]) -> Result<(Hash, Totals), TreeError> {
    if let [one] = leaves {
        return Ok(one.clone());
    }
    let k = split_point(leaves.len());
    let (l, r) = (subtree(&leaves[..k])?, subtree(&leaves[k..])?);
    let totals = l.1.add(&r.1).ok_or(TreeError::Overflow)?;
    Ok((node_digest(&l.0, &r.0, &totals), totals))
}

/// The largest power of two below `n` (n ≥ 2).
const fn split_point(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn leaf_nodes(leaves: &[SettledReceipt]) -> Result<Vec<(Hash, Totals)>, TreeError> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, l)| Ok((l.digest(), l.totals().ok_or(TreeError::BadLeaf(i))?)))
        .collect()
}

/// The root of the tree over `leaves`, in order.
pub fn root(leaves: &[SettledReceipt]) -> Result<Root, TreeError> {
    let nodes = leaf_nodes(leaves)?;
    let (left, right) = match nodes.len() {
        0 => return Err(TreeError::Empty),
        1 => (nodes[0].clone(), (ZERO, Totals::default())),
        n => {
            let k = split_point(n);
            (subtree(&nodes[..k])?, subtree(&nodes[k..])?)
        }
    };
    let totals = left.1.add(&right.1).ok_or(TreeError::Overflow)?;
    Ok(Root {
        digest: node_digest(&left.0, &right.0, &totals),
        children: [left.0, right.0],
        totals,
    })
}

fn write_credit(c: &Credit, buf: &mut impl BufMut) {
    c.model.write(buf);
    c.datanet.write(buf);
    c.contribution.write(buf);
    c.amount.write(buf);
}

fn read_credit(buf: &mut impl Buf) -> Result<Credit, CodecError> {
    Ok(Credit {
        model: ModelId::read(buf)?,
        datanet: DatanetId::read(buf)?,
        contribution: ContributionId::read(buf)?,
        amount: Amount::read(buf)?,
    })
}

const CREDIT_SIZE: usize = 3 * 8 + 16;
const CHARGE_SIZE: usize = 32 + 8 + 16;

impl Write for SettledReceipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.number.write(buf);
        self.id.write(buf);
        self.key_hash.write(buf);
        self.model.write(buf);
        self.prompt_tokens.write(buf);
        self.completion_tokens.write(buf);
        self.fee.write(buf);
        buf.put_u8(self.credits.len().min(255) as u8);
        for c in self.credits.iter().take(255) {
            write_credit(c, buf);
        }
    }
}

impl EncodeSize for SettledReceipt {
    fn encode_size(&self) -> usize {
        8 + 32 + 32 + 8 + 4 + 4 + 16 + 1 + self.credits.len().min(255) * CREDIT_SIZE
    }
}

impl Read for SettledReceipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            number: u64::read(buf)?,
            id: Hash::read(buf)?,
            key_hash: Hash::read(buf)?,
            model: ModelId::read(buf)?,
            prompt_tokens: u32::read(buf)?,
            completion_tokens: u32::read(buf)?,
            fee: Amount::read(buf)?,
            credits: (0..read_count(buf, SETTLEMENT_CREDITS_MAX)?)
                .map(|_| read_credit(buf))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Write for Totals {
    fn write(&self, buf: &mut impl BufMut) {
        self.receipts.write(buf);
        self.prompt_tokens.write(buf);
        self.completion_tokens.write(buf);
        buf.put_u8(self.charges.len().min(255) as u8);
        for c in self.charges.iter().take(255) {
            c.key_hash.write(buf);
            c.model.write(buf);
            c.amount.write(buf);
        }
        buf.put_u8(self.credits.len().min(255) as u8);
        for c in self.credits.iter().take(255) {
            write_credit(c, buf);
        }
    }
}

impl EncodeSize for Totals {
    fn encode_size(&self) -> usize {
        3 * 8
            + 1
            + self.charges.len().min(255) * CHARGE_SIZE
            + 1
            + self.credits.len().min(255) * CREDIT_SIZE
    }
}

impl Read for Totals {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            receipts: u64::read(buf)?,
            prompt_tokens: u64::read(buf)?,
            completion_tokens: u64::read(buf)?,
            charges: (0..read_count(buf, SETTLEMENT_CHARGES_MAX)?)
                .map(|_| {
                    Ok(Charge {
                        key_hash: Hash::read(buf)?,
                        model: ModelId::read(buf)?,
                        amount: Amount::read(buf)?,
                    })
                })
                .collect::<Result<_, CodecError>>()?,
            credits: (0..read_count(buf, SETTLEMENT_CREDITS_MAX)?)
                .map(|_| read_credit(buf))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn leaf(number: u64, fee: u128, credits: &[(u64, u128)]) -> SettledReceipt {
        SettledReceipt {
            number,
            id: sha256(&[&number.to_be_bytes()]),
            key_hash: sha256(&[&[u8::try_from(number % 3).unwrap()]]),
            model: ModelId(number % 2),
            prompt_tokens: 10,
            completion_tokens: 5,
            fee: Amount(fee),
            credits: credits
                .iter()
                .map(|&(c, a)| Credit {
                    model: ModelId(number % 2),
                    datanet: DatanetId(0),
                    contribution: ContributionId(c),
                    amount: Amount(a),
                })
                .collect(),
        }
    }

    fn leaves(n: u64) -> Vec<SettledReceipt> {
        (0..n).map(|i| leaf(i, 100 + u128::from(i), &[(i % 4, 10), (9, 1)])).collect()
    }

    #[test]
    fn the_root_commits_to_the_sums_and_every_leaf_proves_into_it() {
        for n in 1..=17 {
            let leaves = leaves(n);
            let root = root(&leaves).unwrap();
            assert_eq!(root.totals.receipts, n);
            assert_eq!(root.totals.prompt_tokens, 10 * n);
            assert_eq!(root.totals.fee(), (0..u128::from(n)).map(|i| 100 + i).sum::<u128>());
            let credited: u128 = root.totals.credits.iter().map(|c| c.amount.0).sum();
            assert_eq!(credited, 11 * u128::from(n));
            assert_eq!(
                root.digest,
                node_digest(&root.children[0], &root.children[1], &root.totals)
            );
            for (i, l) in leaves.iter().enumerate() {
                let proof = LeafProof::of(&leaves, i).unwrap();
                assert_eq!(proof.root_of(l), Some(root.digest), "leaf {i} of {n}");
                let mut other = l.clone();
                other.fee = Amount(other.fee.0 + 1);
                assert_ne!(proof.root_of(&other), Some(root.digest), "an altered leaf");
            }
        }
    }

    #[test]
    fn any_change_to_a_leaf_or_the_order_moves_the_root() {
        let base = leaves(5);
        let r = root(&base).unwrap().digest;
        let mut swapped = base.clone();
        swapped.swap(1, 2);
        assert_ne!(root(&swapped).unwrap().digest, r);
        let mut fewer_tokens = base.clone();
        fewer_tokens[4].completion_tokens -= 1;
        assert_ne!(root(&fewer_tokens).unwrap().digest, r);
        let mut bad = base;
        bad[3].credits.swap(0, 1);
        assert_eq!(root(&bad), Err(TreeError::BadLeaf(3)));
        bad[3].credits.swap(0, 1);
        bad[3].fee = Amount::ZERO;
        assert_eq!(root(&bad), Err(TreeError::BadLeaf(3)), "credits without a fee");
        assert_eq!(root(&[]), Err(TreeError::Empty));
    }

    #[test]
    fn codecs_round_trip_and_refuse_truncations() {
        let l = leaf(7, 5, &[(1, 2), (3, 1)]);
        let bytes = l.encode();
        assert_eq!(bytes.len(), l.encode_size());
        assert_eq!(SettledReceipt::decode(bytes.clone()).unwrap(), l);
        for cut in 0..bytes.len() {
            assert!(SettledReceipt::decode(commonware_codec::Copying(&bytes[..cut])).is_err());
        }
        let t = root(&leaves(9)).unwrap().totals;
        let bytes = t.encode();
        assert_eq!(bytes.len(), t.encode_size());
        assert_eq!(Totals::decode(bytes).unwrap(), t);
    }
}
