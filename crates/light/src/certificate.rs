//! Decoding and checking a finalization certificate against the headers it finalizes.

use crate::{LightError, ValidatorSet};
use alx_types::{Hash, NAMESPACE_CONSENSUS, block::BlockHeader};
use bytes::Buf as _;
use commonware_codec::{Copying, Read, ReadExt as _, varint::UInt};
use commonware_cryptography::{
    Verifier as _,
    ed25519::{PublicKey, certificate::Certificate},
};

/// The namespace finalize votes are signed under: the chain's consensus namespace and simplex's
/// finalize suffix.
pub const FINALIZE_NAMESPACE: &[u8] = b"_ALX_CONSENSUS_FINALIZE";
const _: () = assert!(FINALIZE_NAMESPACE.len() == NAMESPACE_CONSENSUS.len() + 9);

/// Headers one proof may carry: the requested one up to the next certified one.
pub const HEADERS_MAX: usize = 1_024;

/// What the validators voted to finalize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The epoch.
    pub epoch: u64,
    /// The view it was finalized in (not necessarily the header's: the last block of an epoch
    /// may be proposed again in later views).
    pub view: u64,
    /// The parent's view.
    pub parent_view: u64,
    /// The block's digest (SHA-256 of its encoded header).
    pub payload: Hash,
}

fn malformed(what: &'static str, e: impl std::fmt::Display) -> LightError {
    LightError::Malformed { what, detail: e.to_string() }
}

/// Reads the proposal at the start of `bytes`; returns it and how many bytes it took (the
/// signed message is exactly those bytes).
fn read_proposal(bytes: &[u8]) -> Result<(Proposal, usize), LightError> {
    let mut buf = Copying(bytes);
    let mut varint = |field: &'static str| {
        UInt::<u64>::read(&mut buf).map(u64::from).map_err(|e| malformed(field, e))
    };
    let (epoch, view, parent_view) = (varint("epoch")?, varint("view")?, varint("parent view")?);
    let payload = Hash::read(&mut buf).map_err(|e| malformed("payload", e))?;
    let used = bytes.len() - buf.remaining();
    Ok((Proposal { epoch, view, parent_view, payload }, used))
}

fn read_header(bytes: &[u8]) -> Result<BlockHeader, LightError> {
    let mut buf = Copying(bytes);
    let header = BlockHeader::read(&mut buf).map_err(|e| malformed("header", e))?;
    if buf.has_remaining() {
        return Err(malformed("header", format!("{} bytes after it", buf.remaining())));
    }
    Ok(header)
}

/// Checks that the last of `headers` was finalized by a quorum of `set`, and that the others
/// are its ancestors in order (each the parent of the next). Returns the headers.
///
/// `certificate` is a simplex `Finalization` as the node's marshal stores it: the proposal
/// (varint epoch, view and parent view, the 32-byte payload), then the signer bitmap and one
/// signature per signer.
///
/// # Errors
/// Any failed check: malformed bytes, a broken chain, a certificate for another block or
/// epoch, a bitmap that does not cover the set exactly, fewer signers than the quorum, or a
/// signature that does not verify.
pub fn verify_finalization(
    set: &ValidatorSet,
    headers: &[Vec<u8>],
    certificate: &[u8],
) -> Result<Vec<BlockHeader>, LightError> {
    if headers.is_empty() || headers.len() > HEADERS_MAX {
        return Err(LightError::HeaderCount { got: headers.len(), max: HEADERS_MAX });
    }
    let headers = headers.iter().map(|h| read_header(h)).collect::<Result<Vec<_>, _>>()?;
    for pair in headers.windows(2) {
        let (parent, child) = (&pair[0], &pair[1]);
        if child.parent != parent.digest() || child.height.0 != parent.height.0.wrapping_add(1) {
            return Err(LightError::BrokenChain { height: child.height.0 });
        }
    }
    for h in &headers {
        if h.epoch != set.epoch() {
            return Err(LightError::WrongEpoch { expected: set.epoch(), got: h.epoch });
        }
    }
    let (proposal, used) = read_proposal(certificate)?;
    let message = &certificate[..used];
    let mut rest = Copying(&certificate[used..]);
    let n = set.keys().len();
    let signed = Certificate::read_cfg(&mut rest, &n).map_err(|e| malformed("certificate", e))?;
    if rest.has_remaining() {
        return Err(malformed("certificate", format!("{} bytes after it", rest.remaining())));
    }
    if proposal.epoch != set.epoch() {
        return Err(LightError::WrongEpoch { expected: set.epoch(), got: proposal.epoch });
    }
    let last = headers.last().map_or(0, |h| h.height.0);
    if headers.last().map(BlockHeader::digest) != Some(proposal.payload) {
        return Err(LightError::WrongBlock { height: last });
    }
    check_signatures(set, &signed, message)?;
    Ok(headers)
}

fn check_signatures(
    set: &ValidatorSet,
    signed: &Certificate,
    message: &[u8],
) -> Result<(), LightError> {
    let n = set.keys().len();
    if signed.signers.len() != n {
        return Err(LightError::WrongParticipants {
            epoch: set.epoch(),
            expected: n,
            got: signed.signers.len(),
        });
    }
    let quorum = set.quorum();
    if signed.signers.count() < quorum {
        return Err(LightError::NoQuorum { got: signed.signers.count(), participants: n, quorum });
    }
    for (signer, signature) in signed.signers.iter().zip(&signed.signatures) {
        let index = signer.get() as usize;
        let key: &PublicKey = &set.keys()[index];
        let valid = signature.get().is_some_and(|s| key.verify(FINALIZE_NAMESPACE, message, s));
        if !valid {
            return Err(LightError::BadSignature { index });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
