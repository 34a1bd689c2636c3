//! Batch verification of transaction signatures: the throughput limit of a signed-transaction
//! ledger. A batch that fails is re-checked one by one, so one forged signature costs its sender
//! a failed receipt and never hides behind or condemns the others.

use alx_types::{NAMESPACE_TX, SignedTx};
use commonware_codec::Encode as _;
use commonware_cryptography::{
    BatchEntry, BatchVerifier as _, Verifier as _,
    ed25519::{PublicKey, Signature},
};
use commonware_parallel::Sequential;
use rand_core::CryptoRng;

struct Item {
    key: PublicKey,
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

/// Whether each transaction's signature verifies for its sender.
pub fn verify_signatures(txs: &[SignedTx], rng: &mut impl CryptoRng) -> Vec<bool> {
    let mut valid = vec![false; txs.len()];
    let mut items = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        // A sender that is not a valid point can never have signed anything.
        if let Some(key) = tx.tx.sender.to_public_key() {
            items.push(Item {
                key,
                message: tx.tx.encode(),
                signature: tx.signature.clone(),
                index,
            });
        }
    }
    if items.is_empty() {
        return valid;
    }
    // Safe only in batches of more than one: batch equations are probabilistic, and single
    // checks are exact and as fast for one.
    if items.len() > 1 && PublicKey::verify_batch(rng, &items, project, &Sequential) {
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
                    payload: Payload::RegisterValidator,
                }
                .sign(&key)
            })
            .collect();
        let mut rng = commonware_utils::rng::test_rng();
        assert_eq!(verify_signatures(&txs, &mut rng), vec![true; 8]);
        txs[3].tx.nonce = 9;
        txs[5].tx.sender = Address([0xff; 32]);
        let expect: Vec<bool> = (0..8).map(|i| i != 3 && i != 5).collect();
        assert_eq!(verify_signatures(&txs, &mut rng), expect);
    }
}
