//! Certificates assembled here the way simplex assembles them (the engine's own are checked by
//! a test in `alx-consensus`), then altered one field at a time.

use super::*;
use crate::fixture::{certificate, keys};
use alx_types::{Address, BlockHeader, Height, hash::ZERO};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

fn set(epoch: u64, keys: &[PrivateKey]) -> ValidatorSet {
    ValidatorSet::new(epoch, keys.iter().map(|k| Address::from_public_key(&k.public_key())))
        .unwrap()
}

/// Headers `from..from + count` of epoch `epoch`, each the parent of the next.
fn chain(from: u64, count: u64, epoch: u64) -> Vec<BlockHeader> {
    let mut parent = ZERO;
    (from..from + count)
        .map(|h| {
            let header = BlockHeader {
                parent,
                height: Height(h),
                epoch,
                view: h,
                parent_view: h.saturating_sub(1),
                proposer: Address::from_public_key(&PrivateKey::from_seed(0).public_key()),
                timestamp_ms: h * 1000,
                tx_root: ZERO,
                receipts_root: ZERO,
                state_root: alx_types::hash::sha256(&[&h.to_be_bytes()]),
            };
            parent = header.digest();
            header
        })
        .collect()
}

fn encoded(headers: &[BlockHeader]) -> Vec<Vec<u8>> {
    headers.iter().map(|h| h.encode().to_vec()).collect()
}

#[test]
fn a_quorum_finalizes_the_header_and_its_ancestors() {
    let keys = keys(4);
    let headers = chain(10, 3, 0);
    let cert = certificate(&keys, &[0, 1, 3], 0, headers[2].digest(), FINALIZE_NAMESPACE);
    let got = verify_finalization(&set(0, &keys), &encoded(&headers), &cert).unwrap();
    assert_eq!(got, headers);
    // One header, its own certificate.
    let cert = certificate(&keys, &[0, 1, 2, 3], 0, headers[0].digest(), FINALIZE_NAMESPACE);
    assert!(verify_finalization(&set(0, &keys), &encoded(&headers[..1]), &cert).is_ok());
}

#[test]
fn every_alteration_is_refused() {
    let keys = keys(4);
    let set0 = set(0, &keys);
    let headers = chain(10, 3, 0);
    let good = certificate(&keys, &[0, 1, 2], 0, headers[2].digest(), FINALIZE_NAMESPACE);
    let check = |headers: &[Vec<u8>], cert: &[u8]| verify_finalization(&set0, headers, cert);
    assert!(check(&encoded(&headers), &good).is_ok());

    // Too few signers: 2 of 4 (the quorum is 3).
    let two = certificate(&keys, &[0, 1], 0, headers[2].digest(), FINALIZE_NAMESPACE);
    assert!(matches!(check(&encoded(&headers), &two), Err(LightError::NoQuorum { .. })));
    // Signed under another namespace (a notarize vote, say).
    let other = certificate(&keys, &[0, 1, 2], 0, headers[2].digest(), b"_ALX_CONSENSUS_NOTARIZE");
    assert!(matches!(check(&encoded(&headers), &other), Err(LightError::BadSignature { .. })));
    // For another block.
    let elsewhere = certificate(&keys, &[0, 1, 2], 0, headers[1].digest(), FINALIZE_NAMESPACE);
    assert!(matches!(check(&encoded(&headers), &elsewhere), Err(LightError::WrongBlock { .. })));
    // For another epoch, or checked against another epoch's set.
    let epoch1 = certificate(&keys, &[0, 1, 2], 1, headers[2].digest(), FINALIZE_NAMESPACE);
    assert!(matches!(check(&encoded(&headers), &epoch1), Err(LightError::WrongEpoch { .. })));
    assert!(matches!(
        verify_finalization(&set(1, &keys), &encoded(&headers), &good),
        Err(LightError::WrongEpoch { .. })
    ));
    // Signed by keys that are not the set's (same count).
    let strangers: Vec<PrivateKey> = {
        let mut k: Vec<PrivateKey> = (100..104).map(PrivateKey::from_seed).collect();
        k.sort_by_key(|k| k.public_key());
        k
    };
    let forged = certificate(&strangers, &[0, 1, 2], 0, headers[2].digest(), FINALIZE_NAMESPACE);
    assert!(matches!(check(&encoded(&headers), &forged), Err(LightError::BadSignature { .. })));
    // A bitmap over another number of validators.
    let five = keys_plus_one(&keys);
    let wide = certificate(&five, &[0, 1, 2, 3], 0, headers[2].digest(), FINALIZE_NAMESPACE);
    assert!(check(&encoded(&headers), &wide).is_err());
    // Every single bit flipped in the certificate.
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            assert!(check(&encoded(&headers), &bad).is_err(), "byte {i} bit {bit}");
        }
    }
    // Trailing bytes.
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(check(&encoded(&headers), &long), Err(LightError::Malformed { .. })));
    // A header altered (its state root): the chain or the payload no longer matches.
    for at in 0..3 {
        let mut altered = headers.clone();
        altered[at].state_root = ZERO;
        assert!(check(&encoded(&altered), &good).is_err(), "header {at}");
    }
    // A header missing from the middle.
    let gap = encoded(&[headers[0].clone(), headers[2].clone()]);
    assert!(matches!(check(&gap, &good), Err(LightError::BrokenChain { .. })));
    // No headers, or junk.
    assert!(matches!(check(&[], &good), Err(LightError::HeaderCount { .. })));
    assert!(matches!(check(&[vec![1, 2, 3]], &good), Err(LightError::Malformed { .. })));
}

fn keys_plus_one(keys: &[PrivateKey]) -> Vec<PrivateKey> {
    let mut more: Vec<PrivateKey> = keys.to_vec();
    more.push(PrivateKey::from_seed(50));
    more.sort_by_key(|k| k.public_key());
    more
}

#[test]
fn quorum_is_more_than_two_thirds() {
    for (n, q) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5), (10, 7), (100, 67)] {
        let keys = keys(n);
        assert_eq!(set(0, &keys).quorum(), q, "n = {n}");
        assert!(3 * q > 2 * n as usize);
    }
}
