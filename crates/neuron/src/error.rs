//! What can go wrong for a miner or a validator, classified by what the caller does about it:
//! a refusal before anything is sent ([`NeuronError::UidIsMiner`], [`NeuronError::NoStake`], …)
//! says which command fixes it ([`NeuronError::hint`]); a failed receipt carries the chain's
//! error code; a transaction whose fate is unknown is never reported as refused, so a caller
//! never retries something that may be on chain.

use alx_client::ClientError;
use alx_types::{Address, ErrorCode, Height, subnet::SubnetId, subnet::Uid};
use std::path::PathBuf;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum NeuronError {
    /// A read from the node failed, or the node refused a transaction before including it
    /// (nothing is on chain).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A transaction was submitted but its receipt is unknown (the node became unreachable,
    /// or the wait timed out): it may or may not be on chain.
    #[error("transaction {hash} was sent; its receipt is unknown")]
    Unconfirmed {
        /// The transaction (hex).
        hash: String,
        /// Why the receipt is unknown.
        #[source]
        source: ClientError,
    },
    /// A transaction was committed with a failed receipt.
    #[error("{what} {hash} failed at height {height}: {}", code.map_or("unknown", ErrorCode::as_str))]
    TxFailed {
        /// What was sent (`subnet commit`, …).
        what: &'static str,
        /// The transaction (hex).
        hash: String,
        /// The height it was committed at.
        height: Height,
        /// The receipt's error code (a failed receipt always has one; a node may lie).
        code: Option<ErrorCode>,
        /// What to do about it.
        hint: String,
    },
    /// The key holds a miner's uid in the subnet: a key holds one uid per subnet, and a
    /// miner's uid counts no stake, so its weights would pay nobody.
    #[error(
        "{key} holds uid {uid} in subnet {subnet} as a miner; a validator needs a uid of its own"
    )]
    UidIsMiner {
        /// The key's name.
        key: String,
        /// The subnet.
        subnet: SubnetId,
        /// The miner's uid.
        uid: Uid,
    },
    /// The key holds a validator's uid in the subnet: it cannot serve a model there too.
    #[error(
        "{key} holds uid {uid} in subnet {subnet} as a validator; a miner needs a uid of its own"
    )]
    UidIsValidator {
        /// The key's name.
        key: String,
        /// The subnet.
        subnet: SubnetId,
        /// The validator's uid.
        uid: Uid,
    },
    /// The key has no bonded stake: a validator's weights count in proportion to its stake,
    /// so with none the miners it scores earn nothing.
    #[error("{key} has no bonded stake, so its weights would pay the miners nothing")]
    NoStake {
        /// The key's name.
        key: String,
        /// The subnet.
        subnet: SubnetId,
    },
    /// The uid got no validator permit while the validator waited for one.
    #[error("uid {uid} got no validator permit in subnet {subnet} within {epochs} epochs")]
    NoPermit {
        /// The key's name.
        key: String,
        /// The subnet.
        subnet: SubnetId,
        /// The uid.
        uid: Uid,
        /// Epochs waited.
        epochs: u64,
        /// The subnet's permits: its top validators by stake, up to this many.
        max_validators: u16,
    },
    /// The key holds no uid in the subnet.
    #[error("{key} ({address}) holds no uid in subnet {subnet}")]
    NotRegistered {
        /// The key's name.
        key: String,
        /// Its address.
        address: Address,
        /// The subnet.
        subnet: SubnetId,
    },
    /// A uid this process held was given to another account (pruned).
    #[error("uid {uid} was pruned from subnet {subnet}")]
    Pruned {
        /// The subnet.
        subnet: SubnetId,
        /// The uid.
        uid: Uid,
    },
    /// The model a miner would serve is another account's.
    #[error("model {model} belongs to {owner}, not to {key}")]
    NotModelOwner {
        /// The key's name.
        key: String,
        /// The model's name.
        model: String,
        /// Its owner.
        owner: Address,
    },
    /// Weights that the chain would refuse at the reveal.
    #[error("{reason}")]
    BadWeights {
        /// What is wrong.
        reason: String,
    },
    /// No saved commit to reveal.
    #[error("nothing to reveal: no saved commit of {key} in subnet {subnet}")]
    NothingToReveal {
        /// The key's name.
        key: String,
        /// The subnet.
        subnet: SubnetId,
        /// Where the commit would have been saved.
        path: PathBuf,
    },
    /// The model runtime failed (an unreadable or unsupported weights file).
    #[error(transparent)]
    Model(#[from] alx_model::Error),
    /// A miner's uid names no model.
    #[error("uid {uid} serves no model")]
    MissingModel {
        /// The uid.
        uid: Uid,
    },
    /// A miner's weights are not in the validator's model directory.
    #[error("weights {hash} are not in {}", dir.display())]
    MissingWeights {
        /// Their content hash (hex).
        hash: String,
        /// Where they were looked for.
        dir: PathBuf,
    },
    /// A model's adapter cannot be used (missing from the node's blob store, or invalid).
    #[error("{0}")]
    Adapter(String),
    /// The subnet's datanet versions hold no approved text to score models on.
    #[error("the subnet's datanet versions have no approved text to evaluate on")]
    NoHeldOut,
    /// The subnet's latest revealed evaluation set could not be read from the node, or its
    /// bytes are not the ones revealed: nothing is committed this epoch.
    #[error("the latest evaluation set is unavailable: {0}")]
    EvalUnavailable(String),
    /// The node cannot score models as it serves them now (busy with another evaluation past
    /// the retries, or its index behind a model's datanet versions): nothing is committed this
    /// epoch, rather than weights that blame miners for the node.
    #[error("the node cannot evaluate now: {0}")]
    EvaluatorUnavailable(String),
    /// None of the evaluation items could be scored on a miner's model (each too long for its
    /// context, or a chat item for a model without a chat template).
    #[error("uid {uid}: no evaluation item could be scored: {reason}")]
    NothingScored {
        /// The uid.
        uid: Uid,
        /// Why the first item was not.
        reason: String,
    },
    /// The node refuses to evaluate for this validator (`POST /api/evaluate` answers its own
    /// machine only): the validator stops.
    #[error("the node refuses to evaluate: {0}")]
    EvaluatorRefused(String),
    /// A miner registered after the subnet's latest evaluation set was revealed: its model may
    /// have been trained on it, so it waits for the next set (weight 0 until then).
    #[error(
        "uid {uid} registered at block {registered_at}, after the latest evaluation set was revealed (block {revealed_at})"
    )]
    NotYetEvaluable {
        /// The uid.
        uid: Uid,
        /// Its registration.
        registered_at: u64,
        /// The latest reveal.
        revealed_at: u64,
    },
    /// A file of the weights store (or a miner's weights) could not be read or written.
    #[error("cannot use {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A weights-store file that is not one (edited, truncated, oversized).
    #[error("{path} is not a pending-weights file: {reason}")]
    BadStoreFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The operating system gave no randomness for a salt.
    #[error("no randomness for the salt: {0}")]
    NoRandomness(String),
    /// The caller asked the loop to stop (a shutdown, or a test standing in for a crash).
    #[error("stopped")]
    Stopped,
}

impl NeuronError {
    /// A stable, snake_case name of the error for scripts (`--json`) and tests: the chain's
    /// error code for a failed receipt, else the variant's own.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client(_) => "node_error",
            Self::Unconfirmed { .. } => "tx_unconfirmed",
            Self::TxFailed { code, .. } => code.map_or("tx_failed", ErrorCode::as_str),
            Self::UidIsMiner { .. } => "uid_is_miner",
            Self::UidIsValidator { .. } => "uid_is_validator",
            Self::NoStake { .. } => "no_stake",
            Self::NoPermit { .. } => "no_validator_permit",
            Self::NotRegistered { .. } => "not_registered",
            Self::Pruned { .. } => "uid_pruned",
            Self::NotModelOwner { .. } => "not_model_owner",
            Self::BadWeights { .. } => "bad_weights",
            Self::NothingToReveal { .. } => "nothing_to_reveal",
            Self::NoHeldOut => "no_held_out_data",
            Self::NotYetEvaluable { .. } => "not_yet_evaluable",
            Self::EvalUnavailable(_) => "eval_unavailable",
            Self::EvaluatorUnavailable(_) => "evaluator_unavailable",
            Self::EvaluatorRefused(_) => "evaluator_refused",
            Self::NothingScored { .. } => "nothing_scored",
            Self::Model(_) => "model_error",
            Self::MissingModel { .. } => "missing_model",
            Self::MissingWeights { .. } => "missing_weights",
            Self::Adapter(_) => "adapter_unusable",
            Self::Io { .. } => "io_error",
            Self::BadStoreFile { .. } => "bad_weights_file",
            Self::NoRandomness(_) => "no_randomness",
            Self::Stopped => "stopped",
        }
    }

    /// What the user can do about it, as a command where there is one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Client(_)
            | Self::Stopped
            | Self::NoRandomness(_)
            | Self::MissingModel { .. }
            | Self::NothingScored { .. }
            | Self::Adapter(_) => {
                return None;
            }
            Self::Model(_) => "check the weights file with `alx model show`".into(),
            Self::MissingWeights { hash, dir } => format!(
                "copy the weights with BLAKE3 {hash} into {} (a miner's `--weights` does it on \
                 its own node)",
                dir.display()
            ),
            Self::Unconfirmed { hash, .. } => {
                format!("check it with `alx tx show {hash}` before sending it again")
            }
            Self::TxFailed { hint, .. } => hint.clone(),
            Self::UidIsMiner { key, subnet, .. } => format!(
                "validate with a key of its own, funded and with bonded stake: `alx keys new \
                 val --no-passphrase`, `alx transfer --from {key} --to val --amount 1010`, then \
                 `alx validator run {subnet} --from val --stake 1000`"
            ),
            Self::UidIsValidator { key, subnet, .. } => format!(
                "serve the model from another key (it must own the model); {key} keeps \
                 validating subnet {subnet}"
            ),
            Self::NoStake { key, subnet } => format!(
                "bond stake first: `alx validator run {subnet} --from {key} --stake 1000` bonds \
                 1000 ALX of {key}'s balance to the chain's validator (or `alx stake bond \
                 --from {key} --validator ADDRESS --amount 1000`; see `curl NODE/api/status` \
                 for the validators)"
            ),
            Self::NoPermit { subnet, max_validators, .. } => format!(
                "permits go to subnet {subnet}'s top {max_validators} validators by bonded \
                 stake at each epoch; bond more (`alx stake bond`), or wait longer with \
                 --permit-wait-epochs"
            ),
            Self::NotRegistered { key, subnet, .. } => {
                format!("register first: alx subnet register-validator {subnet} --from {key}")
            }
            Self::Pruned { .. } => {
                "a uid with the lowest emission is replaced when the subnet is full; register \
                 again"
                    .into()
            }
            Self::NotModelOwner { .. } => {
                "a miner serves a model its own key registered (`alx model register`)".into()
            }
            Self::BadWeights { .. } => {
                "give each destination uid once, as UID=VALUE,… (see `alx subnet metagraph ID`)"
                    .into()
            }
            Self::NothingToReveal { key, subnet, path } => format!(
                "commit first: alx subnet commit {subnet} --from {key} --weights UID=VALUE,… \
                 (it saves the salt in {})",
                path.display()
            ),
            Self::NoHeldOut => "contribute to the datanet and publish a version, then create a \
                 subnet naming it"
                .into(),
            Self::EvalUnavailable(_) => "the node must hold the revealed set's blob (see `alx \
                 subnet evals SUBNET`); the validator tries again next epoch"
                .into(),
            Self::EvaluatorUnavailable(_) => "the validator tries again next epoch; a node \
                 whose index stays behind needs its datanet blobs (see `alx status`)"
                .into(),
            Self::EvaluatorRefused(_) => "run the validator on the node's machine (--node \
                 http://127.0.0.1:PORT), or score local weights with --score weights"
                .into(),
            Self::NotYetEvaluable { .. } => "the subnet's owner reveals a new sealed set \
                 (`alx subnet reveal-eval`); the miner is scored from then on"
                .into(),
            Self::Io { .. } => "check the path's permissions and free space".into(),
            Self::BadStoreFile { path, .. } => format!(
                "move {} aside: a commit without its saved weights expires after an epoch",
                path.display()
            ),
        })
    }
}
