//! The authenticated key-value map behind all chain state (layout in `alx_types::merkle`).
//!
//! Both maps are persistent (structure-sharing) B-trees, so cloning a whole state to execute a
//! block speculatively costs O(1), and the 4 MiB array of tree nodes is shared until written.
//! Writes mark their bucket dirty; [`AuthState::root`] rehashes dirty buckets and their paths
//! once per block.

use alx_types::{
    Hash,
    merkle::{
        STATE_BUCKETS, STATE_TREE_DEPTH, StateProof, bucket_hash, bucket_of, empty_subtrees,
        key_hash, leaf_hash,
    },
};
use imbl::OrdMap;
use std::{collections::BTreeSet, sync::Arc};

/// A key-value map with a Merkle root and proofs.
#[derive(Clone)]
pub struct AuthState {
    entries: OrdMap<Vec<u8>, Vec<u8>>,
    leaves: OrdMap<Hash, Hash>,
    /// Heap-ordered tree: `nodes[1]` is the root; node `i` has children `2i`, `2i+1`; buckets
    /// are `nodes[STATE_BUCKETS..]`.
    nodes: Arc<Vec<Hash>>,
    dirty: BTreeSet<usize>,
    /// Keys written since the last [`AuthState::take_changes`], for durable storage.
    changed: BTreeSet<Vec<u8>>,
}

impl Default for AuthState {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthState {
    /// An empty state.
    #[must_use]
    pub fn new() -> Self {
        let empty = empty_subtrees();
        let mut nodes = vec![alx_types::hash::ZERO; 2 * STATE_BUCKETS];
        for (i, node) in nodes.iter_mut().enumerate().skip(1) {
            // Node i sits at depth floor(log2 i); its subtree height is DEPTH - depth.
            let depth = usize::BITS as usize - 1 - i.leading_zeros() as usize;
            *node = empty[STATE_TREE_DEPTH - depth];
        }
        Self {
            entries: OrdMap::new(),
            leaves: OrdMap::new(),
            nodes: Arc::new(nodes),
            dirty: BTreeSet::new(),
            changed: BTreeSet::new(),
        }
    }

    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.entries.get(key)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let kh = key_hash(&key);
        self.leaves.insert(kh, leaf_hash(&key, &value));
        self.dirty.insert(bucket_of(&kh));
        self.changed.insert(key.clone());
        self.entries.insert(key, value);
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &[u8]) {
        if self.entries.remove(key).is_some() {
            let kh = key_hash(key);
            self.leaves.remove(&kh);
            self.dirty.insert(bucket_of(&kh));
            self.changed.insert(key.to_vec());
        }
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        self.entries.range(prefix.to_vec()..).take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Entries with keys in `[from, to)`, in key order.
    pub fn range<'a>(
        &'a self,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        self.entries.range(from..to)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The Merkle root, rehashing what changed since the last call.
    pub fn root(&mut self) -> Hash {
        if !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            let nodes = Arc::make_mut(&mut self.nodes);
            let mut parents = BTreeSet::new();
            for bucket in dirty {
                nodes[STATE_BUCKETS + bucket] = bucket_hash(bucket_entries(&self.leaves, bucket));
                parents.insert((STATE_BUCKETS + bucket) / 2);
            }
            while !parents.is_empty() {
                let mut next = BTreeSet::new();
                for i in parents {
                    nodes[i] = alx_types::merkle::node_hash(&nodes[2 * i], &nodes[2 * i + 1]);
                    if i > 1 {
                        next.insert(i / 2);
                    }
                }
                parents = next;
            }
        }
        self.nodes[1]
    }

    /// A proof for `key` against [`AuthState::root`]. Call `root()` first if anything changed.
    #[must_use]
    pub fn prove(&self, key: &[u8]) -> StateProof {
        debug_assert!(self.dirty.is_empty(), "prove() needs an up-to-date root");
        let kh = key_hash(key);
        let bucket = bucket_of(&kh);
        let entries = bucket_entries(&self.leaves, bucket).map(|(k, l)| (*k, *l)).collect();
        let mut siblings = Vec::with_capacity(STATE_TREE_DEPTH);
        let mut i = STATE_BUCKETS + bucket;
        while i > 1 {
            siblings.push(self.nodes[i ^ 1]);
            i /= 2;
        }
        StateProof { bucket: entries, siblings }
    }

    /// The keys written since the last call, each with its value now (`None` if deleted).
    pub fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|k| {
                let v = self.entries.get(&k).cloned();
                (k, v)
            })
            .collect()
    }

    /// Forgets pending changes (after they were made durable by another copy of this state).
    pub fn clear_changes(&mut self) {
        self.changed.clear();
    }
}

fn bucket_entries(
    leaves: &OrdMap<Hash, Hash>,
    bucket: usize,
) -> impl Iterator<Item = (&Hash, &Hash)> {
    let mut lo = [0u8; 32];
    lo[..2].copy_from_slice(&(bucket as u16).to_be_bytes());
    let lo = alx_types::hash::from_bytes(lo);
    leaves.range(lo..).take_while(move |(k, _)| bucket_of(k) == bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_of_presence_and_absence() {
        let mut s = AuthState::new();
        let empty_root = s.root();
        for i in 0u32..500 {
            s.put(i.to_be_bytes().to_vec(), vec![i as u8; 3]);
        }
        let root = s.root();
        assert_ne!(root, empty_root);
        for i in [0u32, 17, 499] {
            let key = i.to_be_bytes();
            let proof = s.prove(&key);
            assert!(proof.verify(&root, &key, Some(&[i as u8; 3])));
            assert!(!proof.verify(&root, &key, Some(&[1, 2, 3, 4])));
            assert!(!proof.verify(&root, &key, None));
        }
        let absent = 1000u32.to_be_bytes();
        assert!(s.prove(&absent).verify(&root, &absent, None));

        // Deleting everything returns to the empty root.
        for i in 0u32..500 {
            s.delete(&i.to_be_bytes());
        }
        assert_eq!(s.root(), empty_root);
    }

    #[test]
    fn root_is_independent_of_write_order_and_clones_are_isolated() {
        let mut a = AuthState::new();
        let mut b = AuthState::new();
        for i in 0u32..100 {
            a.put(i.to_be_bytes().to_vec(), vec![1]);
            b.put((99 - i).to_be_bytes().to_vec(), vec![1]);
        }
        assert_eq!(a.root(), b.root());
        let mut c = a.clone();
        c.put(b"x".to_vec(), vec![2]);
        assert_ne!(c.root(), a.root());
        assert_eq!(a.root(), b.root());
    }
}
