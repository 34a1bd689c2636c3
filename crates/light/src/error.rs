//! Why a header is not shown finalized.

/// A check that failed: whatever the node sent is not proof of finality.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightError {
    /// The bytes do not decode.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// No headers, or more than a proof may carry.
    #[error("a proof carries 1 to {max} headers, got {got}")]
    HeaderCount {
        /// Headers given.
        got: usize,
        /// The most accepted.
        max: usize,
    },
    /// The headers are not one chain (a parent link or a height does not follow).
    #[error("header at height {height} does not extend the one before it")]
    BrokenChain {
        /// The height of the header that breaks the chain.
        height: u64,
    },
    /// The certificate is for another block than the last header.
    #[error("the certificate finalizes another block than the header at height {height}")]
    WrongBlock {
        /// The height of the header.
        height: u64,
    },
    /// The certificate or a header belongs to another epoch than the validator set given.
    #[error("the proof is for epoch {got}, the validator set is epoch {expected}'s")]
    WrongEpoch {
        /// The set's epoch.
        expected: u64,
        /// The proof's.
        got: u64,
    },
    /// The signer bitmap does not cover exactly the epoch's validators.
    #[error("the certificate names {got} participants, epoch {epoch} has {expected}")]
    WrongParticipants {
        /// The epoch.
        epoch: u64,
        /// Validators in the set.
        expected: usize,
        /// Participants in the certificate.
        got: usize,
    },
    /// Fewer signers than a quorum.
    #[error("{got} of {participants} validators signed; finality needs {quorum}")]
    NoQuorum {
        /// Signers.
        got: usize,
        /// Validators in the set.
        participants: usize,
        /// The quorum.
        quorum: usize,
    },
    /// A signature does not verify.
    #[error("the signature of validator {index} does not verify")]
    BadSignature {
        /// The signer's index in the sorted set.
        index: usize,
    },
    /// The header offered as an epoch's last block is not that block.
    #[error("height {height} is not the set's epoch's last block ({expected})")]
    NotBoundary {
        /// The header's height.
        height: u64,
        /// The epoch's last height.
        expected: u64,
    },
    /// The state proof does not show the claimed set under the boundary block's state root.
    #[error("the validator set's proof does not match the state root of block {height}")]
    BadStateProof {
        /// The boundary block's height.
        height: u64,
    },
    /// The node could not be asked, or had no proof to give.
    #[error("the node gave no proof: {0}")]
    Source(String),
    /// A validator set that cannot be one (empty, or a key that is not a valid ed25519 key).
    #[error("invalid validator set: {0}")]
    InvalidSet(String),
}
