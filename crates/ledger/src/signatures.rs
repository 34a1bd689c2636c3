//! Batch verification of transaction signatures: the throughput limit of a signed-transaction
//! ledger. A batch that fails is re-checked one by one, so one forged signature costs its sender
//! a failed receipt and never hides behind or condemns the others.

use alx_types::{Address, NAMESPACE_TX, SignedTx};
use commonware_codec::{Encode as _, EncodeSize as _, Write as _};
use commonware_cryptography::{
    BatchEntry, BatchVerifier as _, Verifier as _,
    ed25519::{PublicKey, Signature},
};
use commonware_parallel::Strategy;
use rand_core::CryptoRng;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

struct Item {
    key: Arc<PublicKey>,
    message: bytes::Bytes,
    signature: Signature,
    index: usize,
}

fn project(_: usize, item: &Item) -> BatchEntry<'_, PublicKey> {
    BatchEntry {
        namespace: NAMESPACE_TX,
        message: &item.message,
        public_key: &item.key,
        signature: &item.signature,
    }
}

/// Decompressed public keys of recent senders. Decompressing a point costs about as much as
/// verifying a signature in a batch, and the same accounts send again and again.
pub struct KeyCache {
    /// Shared, so a batch takes its keys without copying their points.
    keys: Mutex<HashMap<Address, Arc<PublicKey>>>,
    capacity: usize,
}

impl KeyCache {
    /// A cache of at most `capacity` keys (emptied when full: simple, and bounded).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { keys: Mutex::new(HashMap::new()), capacity }
    }

    /// The key of `address`, or `None` if it is not a strict ed25519 key.
    pub fn get(&self, address: &Address) -> Option<Arc<PublicKey>> {
        let keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = keys.get(address) {
            return Some(k.clone());
        }
        drop(keys);
        let key = Arc::new(address.to_public_key()?);
        let mut keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.len() >= self.capacity {
            keys.clear();
        }
        keys.insert(*address, key.clone());
        Some(key)
    }
}

/// Signatures with their keys decompressed and messages encoded: what remains is the pure
/// batch equation, the physical limit of a signed-transaction ledger (`alx bench ledger`).
pub struct PreparedBatch {
    items: Vec<Item>,
}

impl PreparedBatch {
    /// Prepares `txs` (senders that are not valid points are left out).
    #[must_use]
    pub fn new(txs: &[SignedTx]) -> Self {
        let items = txs
            .iter()
            .enumerate()
            .filter_map(|(index, tx)| {
                let key = tx.tx.sender.to_public_key().filter(|_| tx.has_strict_signature())?;
                Some(Item {
                    key: Arc::new(key),
                    message: tx.tx.encode(),
                    signature: tx.signature.clone(),
                    index,
                })
            })
            .collect();
        Self { items }
    }

    /// Number of signatures.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Verifies the whole batch as one equation.
    pub fn verify(&self, rng: &mut impl CryptoRng, strategy: &impl Strategy) -> bool {
        PublicKey::verify_batch(rng, &self.items, project, strategy)
    }
}

/// Whether each transaction's signature verifies for its sender.
pub fn verify_signatures(
    txs: &[SignedTx],
    rng: &mut impl CryptoRng,
    strategy: &impl Strategy,
    keys: &KeyCache,
) -> Vec<bool> {
    let mut valid = vec![false; txs.len()];
    let mut items = Vec::with_capacity(txs.len());
    // Every message encoded into one buffer, each item a view of its part: one allocation
    // per batch, not one per transaction.
    let mut messages = bytes::BytesMut::with_capacity(txs.iter().map(|t| t.tx.encode_size()).sum());
    for (index, tx) in txs.iter().enumerate() {
        // A sender that is not a strict key, or a signature that is not strictly encoded, is
        // invalid whatever the batch equation says (see `alx_types::strict`).
        if !tx.has_strict_signature() {
            continue;
        }
        if let Some(key) = keys.get(&tx.tx.sender) {
            tx.tx.write(&mut messages);
            let message = messages.split().freeze();
            items.push(Item { key, message, signature: tx.signature.clone(), index });
        }
    }
    if items.is_empty() {
        return valid;
    }
    // Safe only in batches of more than one: batch equations are probabilistic, and single
    // checks are exact and as fast for one.
    if items.len() > 1 && PublicKey::verify_batch(rng, &items, project, strategy) {
        for item in &items {
            valid[item.index] = true;
        }
        return valid;
    }
    for item in &items {
        valid[item.index] = item.key.verify(NAMESPACE_TX, &item.message, &item.signature);
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::{Address, Amount, Transaction, tx::Payload};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    #[test]
    fn one_forgery_is_isolated() {
        let mut txs: Vec<SignedTx> = (0..8u64)
            .map(|i| {
                let key = PrivateKey::from_seed(i);
                Transaction {
                    chain_id: "alx-test".parse().unwrap(),
                    sender: Address::from_public_key(&key.public_key()),
                    nonce: 0,
                    fee: Amount(1),
                    payload: Payload::RegisterValidator {
                        p2p_addr: "127.0.0.1:1".parse().unwrap(),
                    },
                }
                .sign(&key)
            })
            .collect();
        let mut rng = commonware_utils::rng::test_rng();
        let strategy = commonware_parallel::Sequential;
        assert_eq!(verify_signatures(&txs, &mut rng, &strategy, &KeyCache::new(4)), vec![true; 8]);
        txs[3].tx.nonce = 9;
        txs[5].tx.sender = Address([0xff; 32]);
        // A small-order key with R = its point and s = 0 satisfies the batch's cofactored
        // equation for any message: only the strict rule refuses it.
        let weak = alx_types::strict::SMALL_ORDER_ENCODINGS[2];
        txs[6].tx.sender = Address(weak);
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&weak);
        txs[6].signature = {
            use commonware_codec::DecodeExt as _;
            Signature::decode(commonware_codec::Copying(&raw[..])).unwrap()
        };
        let expect: Vec<bool> = (0..8).map(|i| i != 3 && i != 5 && i != 6).collect();
        assert_eq!(verify_signatures(&txs, &mut rng, &strategy, &KeyCache::new(4)), expect);
        assert_eq!(PreparedBatch::new(&txs).len(), 6);
    }
}
