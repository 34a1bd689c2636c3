//! The two Merkle structures of the chain, and the verification of their proofs (here, so that
//! any client can check a proof without running a node).
//!
//! **Lists** (transactions and receipts of a block) use a plain binary Merkle tree: leaves are
//! the items' hashes; an odd node at the end of a level is carried up unchanged.
//!
//! **State** is a key-value map committed by a fixed-depth bucketed tree:
//!
//! ```text
//!                 root                         depth 16: 65,536 buckets
//!              /        \                      node   = H(0x02 ‖ left ‖ right)
//!           ...          ...
//!        bucket_0 ... bucket_65535             bucket = H(0x01 ‖ (key_hash ‖ leaf_hash)*)
//!          │                                            entries sorted by key_hash
//!   (key_hash, leaf_hash)…                     leaf   = H(0x00 ‖ len(key) ‖ key ‖ value)
//! ```
//!
//! A key lives in the bucket named by the first 16 bits of `key_hash = H(key)`. Updating a
//! block's worth of keys rehashes only their buckets and the paths above them, and a proof is
//! the key's bucket plus 16 sibling hashes: it shows a value is present, or that a key is absent.

use crate::{Hash, hash::sha256};
use serde::{Deserialize, Serialize};

/// Depth of the state tree: 2^16 buckets.
pub const STATE_TREE_DEPTH: usize = 16;
/// Number of buckets.
pub const STATE_BUCKETS: usize = 1 << STATE_TREE_DEPTH;

const TAG_LEAF: u8 = 0x00;
const TAG_BUCKET: u8 = 0x01;
const TAG_NODE: u8 = 0x02;

/// Hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[TAG_NODE], left.as_ref(), right.as_ref()])
}

/// Root of a list of item hashes (transactions, receipts). The empty list has root zero.
#[must_use]
pub fn list_root(items: &[Hash]) -> Hash {
    if items.is_empty() {
        return crate::hash::ZERO;
    }
    let mut level: Vec<Hash> = items.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| if pair.len() == 2 { node_hash(&pair[0], &pair[1]) } else { pair[0] })
            .collect();
    }
    level[0]
}

/// Hash of a state key: decides its bucket and its order inside the bucket.
#[must_use]
pub fn key_hash(key: &[u8]) -> Hash {
    sha256(&[key])
}

/// The bucket of a key hash.
#[must_use]
pub fn bucket_of(key_hash: &Hash) -> usize {
    usize::from(u16::from_be_bytes([key_hash.as_ref()[0], key_hash.as_ref()[1]]))
}

/// Hash of a state entry.
#[must_use]
pub fn leaf_hash(key: &[u8], value: &[u8]) -> Hash {
    // Keys are short (under 100 bytes); the length prefix keeps key/value boundaries unambiguous.
    let len = (key.len() as u16).to_be_bytes();
    sha256(&[&[TAG_LEAF], &len, key, value])
}

/// Hash of a bucket from its `(key_hash, leaf_hash)` entries in key-hash order.
#[must_use]
pub fn bucket_hash<'a>(entries: impl IntoIterator<Item = (&'a Hash, &'a Hash)>) -> Hash {
    let mut bytes = Vec::with_capacity(1 + 64 * 4);
    bytes.push(TAG_BUCKET);
    for (k, l) in entries {
        bytes.extend_from_slice(k.as_ref());
        bytes.extend_from_slice(l.as_ref());
    }
    sha256(&[&bytes])
}

/// Hashes of empty subtrees: `[0]` is an empty bucket, `[d]` an empty subtree of height `d`.
#[must_use]
pub fn empty_subtrees() -> [Hash; STATE_TREE_DEPTH + 1] {
    let mut out = [crate::hash::ZERO; STATE_TREE_DEPTH + 1];
    out[0] = bucket_hash(std::iter::empty());
    for d in 1..=STATE_TREE_DEPTH {
        out[d] = node_hash(&out[d - 1], &out[d - 1]);
    }
    out
}

/// The state key of the active validator set (the next epoch's set, chosen on each epoch's last
/// block): the global prefix `0x05` and the name `active_set`. Its value is the members'
/// 32-byte addresses, concatenated in ascending order. Light clients prove it against a
/// boundary block's state root to follow the set from epoch to epoch.
pub const ACTIVE_SET_KEY: &[u8] = b"\x05active_set";

/// A proof that a state key has a given value, or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// Every `(key_hash, leaf_hash)` of the key's bucket, in key-hash order.
    #[serde(with = "crate::hash::serde_hex_pairs")]
    pub bucket: Vec<(Hash, Hash)>,
    /// Sibling hashes from the bucket up to the root (16 of them).
    #[serde(with = "crate::hash::serde_hex_vec")]
    pub siblings: Vec<Hash>,
}

impl StateProof {
    /// Checks that `key` maps to `value` (or is absent when `value` is `None`) under `root`.
    #[must_use]
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> bool {
        if self.siblings.len() != STATE_TREE_DEPTH {
            return false;
        }
        let kh = key_hash(key);
        let sorted = self.bucket.windows(2).all(|w| w[0].0 < w[1].0);
        let all_in_bucket = self.bucket.iter().all(|(k, _)| bucket_of(k) == bucket_of(&kh));
        if !sorted || !all_in_bucket {
            return false;
        }
        let found = self.bucket.iter().find(|(k, _)| *k == kh).map(|(_, l)| l);
        match (found, value) {
            (Some(leaf), Some(v)) if *leaf == leaf_hash(key, v) => {}
            (None, None) => {}
            _ => return false,
        }
        let mut hash = bucket_hash(self.bucket.iter().map(|(k, l)| (k, l)));
        let mut index = bucket_of(&kh);
        for sibling in &self.siblings {
            hash =
                if index & 1 == 0 { node_hash(&hash, sibling) } else { node_hash(sibling, &hash) };
            index >>= 1;
        }
        hash == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_root_shapes() {
        let h = |b: u8| sha256(&[&[b]]);
        assert_eq!(list_root(&[]), crate::hash::ZERO);
        assert_eq!(list_root(&[h(1)]), h(1));
        assert_eq!(list_root(&[h(1), h(2)]), node_hash(&h(1), &h(2)));
        assert_eq!(list_root(&[h(1), h(2), h(3)]), node_hash(&node_hash(&h(1), &h(2)), &h(3)));
    }
}
