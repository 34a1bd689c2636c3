//! A leaf's path to a settlement's root: the siblings and their totals, side by side, from
//! the leaf up (see the parent module for the tree).

use super::{
    PROOF_DEPTH_MAX, SettledReceipt, Totals, TreeError, leaf_nodes, node_digest, split_point,
    subtree,
};
use crate::{Hash, datanet::read_count, hash::ZERO};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use serde::{Deserialize, Serialize};

/// One step of a leaf's path: the sibling's digest and totals, and its side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofStep {
    /// The sibling's digest.
    #[serde(with = "crate::hash::serde_hex")]
    pub sibling: Hash,
    /// The sibling's totals.
    pub totals: Totals,
    /// Whether the sibling is the left child.
    pub left: bool,
}

/// A leaf's path to the root, leaf side first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafProof {
    /// The steps, from the leaf's sibling up to the root's other child.
    pub steps: Vec<ProofStep>,
}

impl LeafProof {
    /// The path of leaf `index` of `leaves` (`None` if out of range or not a tree).
    #[must_use]
    pub fn of(leaves: &[SettledReceipt], index: usize) -> Option<Self> {
        let nodes = leaf_nodes(leaves).ok()?;
        if index >= nodes.len() {
            return None;
        }
        let mut steps = Vec::new();
        if nodes.len() == 1 {
            steps.push(ProofStep { sibling: ZERO, totals: Totals::default(), left: false });
            return Some(Self { steps });
        }
        path(&nodes, index, &mut steps).ok()?;
        Some(Self { steps })
    }

    /// The leaf's position under the root: the receipts left of it. An honest tree numbers
    /// leaf i `first + i`.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.steps.iter().filter(|s| s.left).fold(0u64, |a, s| a.saturating_add(s.totals.receipts))
    }

    /// Whether this path opens `root` at `leaf`, and the leaf is numbered by its place in a
    /// settlement of `receipts` receipts from `first`.
    #[must_use]
    pub fn opens(&self, root: &Hash, leaf: &SettledReceipt, first: u64, receipts: u32) -> bool {
        let end = first.saturating_add(u64::from(receipts));
        self.root_of(leaf).as_ref() == Some(root)
            && (first..end).contains(&leaf.number)
            && leaf.number == first.saturating_add(self.position())
    }

    /// The root digest this path gives for `leaf` (`None` if the sums overflow or the path is
    /// longer than any tree's).
    #[must_use]
    pub fn root_of(&self, leaf: &SettledReceipt) -> Option<Hash> {
        if self.steps.len() > PROOF_DEPTH_MAX || self.steps.is_empty() {
            return None;
        }
        let (mut digest, mut totals) = (leaf.digest(), leaf.totals()?);
        for step in &self.steps {
            if !step.totals.is_canonical() {
                return None;
            }
            totals = totals.add(&step.totals)?;
            digest = if step.left {
                node_digest(&step.sibling, &digest, &totals)
            } else {
                node_digest(&digest, &step.sibling, &totals)
            };
        }
        Some(digest)
    }
}

/// Pushes the steps of leaf `index` within `nodes` (more than one), deepest first.
fn path(
    nodes: &[(Hash, Totals)],
    index: usize,
    steps: &mut Vec<ProofStep>,
) -> Result<(), TreeError> {
    if nodes.len() == 1 {
        return Ok(());
    }
    let k = split_point(nodes.len());
    let (mine, other, left) = if index < k {
        (&nodes[..k], &nodes[k..], false)
    } else {
        (&nodes[k..], &nodes[..k], true)
    };
    path(mine, if index < k { index } else { index - k }, steps)?;
    let (sibling, totals) = subtree(other)?;
    steps.push(ProofStep { sibling, totals, left });
    Ok(())
}

impl Write for LeafProof {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.steps.len().min(255) as u8);
        for s in self.steps.iter().take(255) {
            s.sibling.write(buf);
            s.totals.write(buf);
            buf.put_u8(u8::from(s.left));
        }
    }
}

impl EncodeSize for LeafProof {
    fn encode_size(&self) -> usize {
        1 + self.steps.iter().take(255).map(|s| 32 + s.totals.encode_size() + 1).sum::<usize>()
    }
}

impl Read for LeafProof {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let steps = (0..read_count(buf, PROOF_DEPTH_MAX)?)
            .map(|_| {
                Ok(ProofStep {
                    sibling: Hash::read(buf)?,
                    totals: Totals::read(buf)?,
                    left: match u8::read(buf)? {
                        0 => false,
                        1 => true,
                        tag => return Err(CodecError::InvalidEnum(tag)),
                    },
                })
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(Self { steps })
    }
}
