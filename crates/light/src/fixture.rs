//! Certificates assembled the way simplex assembles them, for tests and benchmarks (the
//! engine's own are checked against this crate by end-to-end and simulation tests).

use crate::FINALIZE_NAMESPACE;
use alx_types::Hash;
use commonware_codec::{Write as _, types::lazy::Lazy, varint::UInt};
use commonware_cryptography::{
    Signer as _,
    certificate::Signers,
    ed25519::{PrivateKey, Signature, certificate::Certificate},
};
use commonware_utils::Participant;

/// The encoded proposal (epoch, view, parent view = view − 1, payload): the signed message.
#[must_use]
pub fn proposal_bytes(epoch: u64, view: u64, payload: Hash) -> Vec<u8> {
    let mut out = Vec::new();
    UInt(epoch).write(&mut out);
    UInt(view).write(&mut out);
    UInt(view.saturating_sub(1)).write(&mut out);
    payload.write(&mut out);
    out
}

/// A finalization of `payload` in `epoch` (view 7) signed by `signers` (indices into `keys`,
/// which must be sorted by public key) under `namespace` ([`FINALIZE_NAMESPACE`] for a valid
/// one).
///
/// # Panics
/// If a signer index is out of range or repeated (a fixture's own mistake).
#[must_use]
pub fn certificate(
    keys: &[PrivateKey],
    signers: &[usize],
    epoch: u64,
    payload: Hash,
    namespace: &[u8],
) -> Vec<u8> {
    let message = proposal_bytes(epoch, 7, payload);
    let count = u32::try_from(keys.len()).expect("fewer than 2^32 validators");
    let bitmap = Signers::new(
        count,
        signers.iter().map(|i| Participant::new(u32::try_from(*i).expect("index fits u32"))),
    )
    .expect("distinct signers in range");
    let signatures: Vec<Lazy<Signature>> =
        signers.iter().map(|i| Lazy::new(keys[*i].sign(namespace, &message))).collect();
    let mut out = message;
    Certificate { signers: bitmap, signatures }.write(&mut out);
    out
}

/// `n` keys from fixed seeds, sorted by public key (a certificate's order).
#[must_use]
pub fn keys(n: u64) -> Vec<PrivateKey> {
    let mut keys: Vec<PrivateKey> = (0..n).map(PrivateKey::from_seed).collect();
    keys.sort_by_key(|k| k.public_key());
    keys
}

/// The default namespace, for callers that do not test namespaces.
pub const NAMESPACE: &[u8] = FINALIZE_NAMESPACE;
