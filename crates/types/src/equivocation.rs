//! Equivocation evidence: two votes one validator signed for the same consensus round, for
//! different proposals. Simplex reports it (`ConflictingNotarize`, `ConflictingFinalize`);
//! anyone may submit it (`Payload::ReportEquivocation`), and the chain checks it by itself:
//!
//! - both votes are of the same kind (notarize or finalize), for the same epoch and view, for
//!   proposals that differ;
//! - each proposal is exactly simplex's encoding (varint epoch, view and parent view, then the
//!   32-byte payload), and each signature is a strict ed25519 signature by the validator over
//!   it, under the kind's namespace (`_ALX_CONSENSUS_NOTARIZE`, `_ALX_CONSENSUS_FINALIZE`).
//!
//! No honest validator ever signs two such votes, so evidence that holds slashes the
//! validator's own stake (`alx-state`).

use crate::{Address, Hash, NAMESPACE_CONSENSUS, datanet::read_count};
use bytes::{Buf as _, BufMut};
use commonware_codec::{
    Buf, Copying, EncodeSize, Error as CodecError, Read, ReadExt as _, Write, varint::UInt,
};
use serde::{Deserialize, Serialize};

/// Largest encoded proposal: three varint u64s and the payload.
pub const PROPOSAL_BYTES_MAX: usize = 3 * 10 + 32;
/// An ed25519 signature's length.
const SIGNATURE_BYTES: usize = 64;

/// Which vote was doubled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// Two notarize votes.
    Notarize,
    /// Two finalize votes.
    Finalize,
}

impl VoteKind {
    /// The namespace votes of this kind are signed under.
    #[must_use]
    pub fn namespace(self) -> Vec<u8> {
        let suffix: &[u8] = match self {
            Self::Notarize => b"_NOTARIZE",
            Self::Finalize => b"_FINALIZE",
        };
        [NAMESPACE_CONSENSUS, suffix].concat()
    }
}

/// One signed vote: the proposal's bytes and the signature over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    /// The proposal as simplex encodes it (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub proposal: Vec<u8>,
    /// The validator's ed25519 signature (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

/// Two conflicting votes of one validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The validator.
    pub validator: Address,
    /// The kind of both votes.
    pub kind: VoteKind,
    /// One vote.
    pub a: SignedVote,
    /// The other.
    pub b: SignedVote,
}

/// A proposal's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The epoch.
    pub epoch: u64,
    /// The view.
    pub view: u64,
    /// The parent's view.
    pub parent_view: u64,
    /// The block digest.
    pub payload: Hash,
}

impl Proposal {
    /// Simplex's encoding of the proposal: what a vote signs.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PROPOSAL_BYTES_MAX);
        UInt(self.epoch).write(&mut out);
        UInt(self.view).write(&mut out);
        UInt(self.parent_view).write(&mut out);
        self.payload.write(&mut out);
        out
    }

    /// Reads exactly one proposal from `bytes`.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut buf = Copying(bytes);
        let mut varint = || UInt::<u64>::read(&mut buf).ok().map(u64::from);
        let (epoch, view, parent_view) = (varint()?, varint()?, varint()?);
        let payload = Hash::read(&mut buf).ok()?;
        (!bytes::Buf::has_remaining(&buf)).then_some(Self { epoch, view, parent_view, payload })
    }
}

/// Why evidence does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EquivocationError {
    /// A proposal is not exactly simplex's encoding.
    #[error("a proposal is malformed")]
    Malformed,
    /// The votes are for different rounds, or for the same proposal.
    #[error("the votes do not conflict (other rounds, or the same proposal)")]
    NoConflict,
    /// A signature is not the validator's over its proposal.
    #[error("a signature is not the validator's")]
    BadSignature,
}

impl Equivocation {
    /// Checks the evidence; returns the round `(epoch, view)` the validator equivocated in.
    pub fn verify(&self) -> Result<(u64, u64), EquivocationError> {
        use commonware_cryptography::Verifier as _;
        let a = Proposal::decode(&self.a.proposal).ok_or(EquivocationError::Malformed)?;
        let b = Proposal::decode(&self.b.proposal).ok_or(EquivocationError::Malformed)?;
        if (a.epoch, a.view) != (b.epoch, b.view) || a == b {
            return Err(EquivocationError::NoConflict);
        }
        let key = self.validator.to_public_key().ok_or(EquivocationError::BadSignature)?;
        let namespace = self.kind.namespace();
        for vote in [&self.a, &self.b] {
            if !crate::strict::is_strict_signature(&vote.signature) {
                return Err(EquivocationError::BadSignature);
            }
            let sig = commonware_cryptography::ed25519::Signature::read(&mut Copying(
                vote.signature.as_slice(),
            ))
            .map_err(|_| EquivocationError::BadSignature)?;
            if !key.verify(&namespace, &vote.proposal, &sig) {
                return Err(EquivocationError::BadSignature);
            }
        }
        Ok((a.epoch, a.view))
    }
}

fn write_bytes(bytes: &[u8], buf: &mut impl BufMut) {
    buf.put_u8(bytes.len().min(255) as u8);
    buf.put_slice(&bytes[..bytes.len().min(255)]);
}

fn read_bytes(buf: &mut impl Buf, max: usize) -> Result<Vec<u8>, CodecError> {
    let n = read_count(buf, max)?;
    if buf.remaining() < n {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = vec![0u8; n];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

impl Write for Equivocation {
    fn write(&self, buf: &mut impl BufMut) {
        self.validator.write(buf);
        buf.put_u8(match self.kind {
            VoteKind::Notarize => 0,
            VoteKind::Finalize => 1,
        });
        for vote in [&self.a, &self.b] {
            write_bytes(&vote.proposal, buf);
            write_bytes(&vote.signature, buf);
        }
    }
}

impl EncodeSize for Equivocation {
    fn encode_size(&self) -> usize {
        32 + 1
            + [&self.a, &self.b]
                .iter()
                .map(|v| 2 + v.proposal.len().min(255) + v.signature.len().min(255))
                .sum::<usize>()
    }
}

impl Read for Equivocation {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let validator = Address::read(buf)?;
        let kind = match u8::read(buf)? {
            0 => VoteKind::Notarize,
            1 => VoteKind::Finalize,
            tag => return Err(CodecError::InvalidEnum(tag)),
        };
        let mut vote = || -> Result<SignedVote, CodecError> {
            Ok(SignedVote {
                proposal: read_bytes(buf, PROPOSAL_BYTES_MAX)?,
                signature: read_bytes(buf, SIGNATURE_BYTES)?,
            })
        };
        let (a, b) = (vote()?, vote()?);
        Ok(Self { validator, kind, a, b })
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    /// A vote of `key` for a proposal at (epoch 2, view 9) naming `payload`.
    pub(crate) fn vote(key: &PrivateKey, kind: VoteKind, view: u64, payload: &[u8]) -> SignedVote {
        let proposal = Proposal {
            epoch: 2,
            view,
            parent_view: view - 1,
            payload: crate::hash::sha256(&[payload]),
        }
        .encode();
        let signature = key.sign(&kind.namespace(), &proposal).encode().to_vec();
        SignedVote { proposal, signature }
    }

    pub(crate) fn evidence(key: &PrivateKey, kind: VoteKind) -> Equivocation {
        Equivocation {
            validator: Address::from_public_key(&key.public_key()),
            kind,
            a: vote(key, kind, 9, b"a"),
            b: vote(key, kind, 9, b"b"),
        }
    }

    #[test]
    fn conflicting_votes_hold_and_everything_else_does_not() {
        let key = PrivateKey::from_seed(3);
        for kind in [VoteKind::Notarize, VoteKind::Finalize] {
            let e = evidence(&key, kind);
            assert_eq!(e.verify(), Ok((2, 9)));
            let bytes = e.encode();
            assert_eq!(Equivocation::decode(bytes.clone()).unwrap(), e);
            for cut in 0..bytes.len() {
                assert!(Equivocation::decode(Copying(&bytes[..cut])).is_err());
            }
            let same = Equivocation { b: e.a.clone(), ..e.clone() };
            assert_eq!(same.verify(), Err(EquivocationError::NoConflict));
            let other_view = Equivocation { b: vote(&key, kind, 10, b"b"), ..e.clone() };
            assert_eq!(other_view.verify(), Err(EquivocationError::NoConflict));
            let other_kind = Equivocation {
                kind: if kind == VoteKind::Notarize {
                    VoteKind::Finalize
                } else {
                    VoteKind::Notarize
                },
                ..e.clone()
            };
            assert_eq!(other_kind.verify(), Err(EquivocationError::BadSignature));
            let someone_else =
                Equivocation { b: vote(&PrivateKey::from_seed(4), kind, 9, b"b"), ..e.clone() };
            assert_eq!(someone_else.verify(), Err(EquivocationError::BadSignature));
            let mut trailing = e.clone();
            trailing.a.proposal.push(0);
            assert_eq!(trailing.verify(), Err(EquivocationError::Malformed));
        }
    }
}
