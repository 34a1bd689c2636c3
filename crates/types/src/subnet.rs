//! Subnet transactions: incentivized competitions of specialized models. Miners register a
//! model and the endpoint that serves it, validators score the miners on the held-out split of
//! the subnet's datanets and set weights on chain (commit, then reveal an epoch later), and
//! every `tempo` blocks Yuma Consensus (`alx-yuma`) turns the weights into emission.
//!
//! ```text
//! SubnetOp = 0 Create { spec }                               the sender owns the new subnet
//!          | 1 RegisterMiner { subnet, model, endpoint }     a uid serving `model`
//!          | 2 RegisterValidator { subnet }                  a uid that scores the miners
//!          | 3 CommitWeights { subnet, commit }              hash of weights revealed later
//!          | 4 RevealWeights { subnet, dests, values, salt } the weights behind the commit
//!          | 5 SetLiquidAlpha { subnet, enabled, alpha_low, alpha_high }
//!                                                      the owner's liquid-alpha hyperparameters
//!          | 6 SealEval { subnet, commitment }           the owner commits to a private eval set
//!          | 7 RevealEval { subnet, seal, salt, content } the set, published (a blob)
//! ```
//!
//! Sealed evaluation sets (docs/design/evaluation.md): the owner commits to an evaluation set
//! it keeps private, [`eval_commitment`] of its content and a salt, and reveals it in a later
//! subnet epoch. A miner's model is fixed when its uid registers (a model's weights never
//! change), so a set revealed after a miner registered is one its model cannot have been
//! trained on: validators score each miner on the latest such set.
//!
//! The commit of a reveal is [`weights_commit`]:
//!
//! ```text
//! commit = SHA-256( "_ALX_WEIGHTS" ‖ subnet (u64 BE) ‖ uid (u16 BE)
//!                   ‖ len(dests) (u16 BE) ‖ dests (u16 BE each)
//!                   ‖ len(values) (u16 BE) ‖ values (u16 BE each) ‖ salt (32 bytes) )
//! ```
//!
//! The uid binds the commit to its validator (a copied commit reveals nothing and cannot be
//! revealed by another uid), the salt hides low-entropy weights until the reveal, and both
//! lengths are encoded so that no two inputs share an encoding.
//!
//! Decoding checks structure only (lengths, UTF-8); the ranges and rules of each field are
//! checked by execution, which fails the transaction with a receipt instead.

use crate::{
    Amount, Hash, Height,
    hash::sha256,
    model::{DatanetVersionRef, ModelId},
};
use bytes::BufMut;
use serde::{Deserialize, Serialize};

crate::id::u64_newtype! {
    /// A subnet's id: subnets are numbered from 0 in creation order.
    SubnetId
}
/// A neuron's slot in its subnet, `0..max_uids`.
pub type Uid = u16;
/// The secret that hides committed weights until their reveal.
pub type Salt = [u8; 32];

/// Longest subnet name, in bytes (the same rule as model names: `[a-z0-9-]`).
pub const SUBNET_NAME_LEN_MAX: usize = 64;
/// Longest task description, in bytes.
pub const TASK_LEN_MAX: usize = 256;
/// Most datanet versions a subnet evaluates on.
pub const SUBNET_DATANETS_MAX: usize = 8;
/// Fewest blocks per epoch.
pub const TEMPO_MIN: u16 = 10;
/// Most blocks per epoch.
pub const TEMPO_MAX: u16 = 10_000;
/// Fewest uids a subnet may be created with.
pub const UIDS_MIN: u16 = 2;
/// Most uids a subnet may have (subtensor's cap; Yuma's own limit is higher).
pub const UIDS_MAX: u16 = 256;
/// Most validator permits a subnet may grant.
pub const VALIDATORS_MAX: u16 = 64;
/// Longest immunity from pruning after registration, in blocks.
pub const IMMUNITY_BLOCKS_MAX: u64 = 100_000;
/// Longest miner endpoint URL, in bytes.
pub const ENDPOINT_LEN_MAX: usize = 256;
/// Epoch results kept per subnet (older ones are deleted).
pub const SUBNET_EPOCHS_KEPT: u64 = 64;
/// The lowest liquid-alpha bound a subnet owner may set, for `alpha_low` and `alpha_high`
/// alike: `65535 / 40` (0.025), subtensor's `do_set_alpha_values`.
pub const ALPHA_MIN: u16 = u16::MAX / 40;

/// A subnet's liquid alpha (Yuma3 subnets only): per-entry bond EMA rates from a sigmoid
/// between `alpha_low` and `alpha_high` (each `x / 65535`) instead of one fixed rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidAlpha {
    /// On or off.
    pub enabled: bool,
    /// Lowest rate, `ALPHA_MIN..=alpha_high`.
    pub alpha_low: u16,
    /// Highest rate, at least `ALPHA_MIN`.
    pub alpha_high: u16,
}

impl LiquidAlpha {
    /// Off, with subtensor's default bounds (45,875 and 58,982: 0.7 and 0.9).
    pub const OFF: Self = Self { enabled: false, alpha_low: 45_875, alpha_high: 58_982 };
}

/// Namespace of weight commits.
pub const NAMESPACE_WEIGHTS: &[u8] = b"_ALX_WEIGHTS";

/// What a new subnet is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetSpec {
    /// Short name: `[a-z0-9-]`, 1 to 64 bytes, unique on chain.
    pub name: String,
    /// What the models compete on (UTF-8, at most 256 bytes, no control characters).
    pub task: String,
    /// The datanet versions whose held-out split defines the evaluation: 1 to 8, no datanet
    /// twice, each published.
    pub datanets: Vec<DatanetVersionRef>,
    /// Blocks per epoch, `10..=10_000`.
    pub tempo: u16,
    /// Most uids, `2..=256`.
    pub max_uids: u16,
    /// Most validator permits, `1..=64` and at most `max_uids`.
    pub max_validators: u16,
    /// Paid by every registration, recycled into the subnet's emission (may be zero).
    pub registration_burn: Amount,
    /// Blocks after registration during which a uid cannot be pruned, at most 100,000.
    pub immunity_blocks: u64,
    /// Yuma3 bonds instead of the legacy ones.
    pub yuma3: bool,
}

/// A subnet operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubnetOp {
    /// Create a subnet owned by the sender, locking `SUBNET_CREATION_LOCK`.
    Create(Box<SubnetSpec>),
    /// Take a uid as a miner serving `model` (owned by the sender) at `endpoint`.
    RegisterMiner {
        /// The subnet.
        subnet: SubnetId,
        /// The model served (registered, not retired, owned by the sender).
        model: ModelId,
        /// Where it is served: an `http://` or `https://` URL, at most 256 bytes.
        endpoint: String,
    },
    /// Take a uid as a validator.
    RegisterValidator {
        /// The subnet.
        subnet: SubnetId,
    },
    /// Commit to weights revealed in the next epoch (validator with a permit).
    CommitWeights {
        /// The subnet.
        subnet: SubnetId,
        /// [`weights_commit`] of the weights to reveal.
        commit: Hash,
    },
    /// Reveal the weights of the sender's commit.
    RevealWeights {
        /// The subnet.
        subnet: SubnetId,
        /// Destination uids, each once.
        dests: Vec<Uid>,
        /// One weight per destination (`x / 65535`, normalized by Yuma).
        values: Vec<u16>,
        /// The commit's salt.
        salt: Salt,
    },
    /// Turn liquid alpha on with these bounds, or off (the subnet's owner; on only for a
    /// Yuma3 subnet). Off keeps the bounds stored.
    SetLiquidAlpha {
        /// The subnet.
        subnet: SubnetId,
        /// On or off.
        enabled: bool,
        /// Lowest rate (`x / 65535`), `ALPHA_MIN..=alpha_high`; ignored when turning it off.
        alpha_low: u16,
        /// Highest rate (`x / 65535`), at least `ALPHA_MIN`; ignored when turning it off.
        alpha_high: u16,
    },
    /// Commit to a private evaluation set (the subnet's owner; at most
    /// [`EVAL_SEALS_PENDING_MAX`] sealed and not revealed).
    SealEval {
        /// The subnet.
        subnet: SubnetId,
        /// [`eval_commitment`] of the set.
        commitment: Hash,
    },
    /// Publish a sealed set (the owner, in a subnet epoch after the seal's): its bytes must be
    /// the blob `content` names, and they are public from now on.
    RevealEval {
        /// The subnet.
        subnet: SubnetId,
        /// The seal's number in the subnet.
        seal: u64,
        /// The salt of the commitment.
        salt: Salt,
        /// The set: a `text` or `jsonl` blob (question/answer pairs, as a datanet's).
        content: crate::datanet::ContentRef,
    },
}

/// Most evaluation sets a subnet may hold sealed and not revealed.
pub const EVAL_SEALS_PENDING_MAX: usize = 8;
/// Namespace of evaluation commitments.
pub const NAMESPACE_EVAL: &[u8] = b"_ALX_EVAL";

/// The commitment to an evaluation set:
/// `SHA-256("_ALX_EVAL" ‖ subnet (u64 BE) ‖ salt (32) ‖ BLAKE3 hash (32) ‖ size (u64 BE) ‖ media
/// type tag)`. The salt keeps a guessable set hidden until its reveal.
#[must_use]
pub fn eval_commitment(
    subnet: SubnetId,
    salt: &Salt,
    content: &crate::datanet::ContentRef,
) -> Hash {
    sha256(&[
        NAMESPACE_EVAL,
        &subnet.0.to_be_bytes(),
        salt,
        &content.hash.0,
        &content.size.to_be_bytes(),
        &[content.media_type.tag()],
    ])
}

impl SubnetOp {
    /// A stable lowercase name, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Create(_) => "subnet_create",
            Self::RegisterMiner { .. } => "subnet_register_miner",
            Self::RegisterValidator { .. } => "subnet_register_validator",
            Self::CommitWeights { .. } => "subnet_commit_weights",
            Self::RevealWeights { .. } => "subnet_reveal_weights",
            Self::SetLiquidAlpha { .. } => "subnet_set_liquid_alpha",
            Self::SealEval { .. } => "subnet_seal_eval",
            Self::RevealEval { .. } => "subnet_reveal_eval",
        }
    }
}

/// The commit of weights (see the module docs for the encoding).
#[must_use]
pub fn weights_commit(
    subnet: SubnetId,
    uid: Uid,
    dests: &[Uid],
    values: &[u16],
    salt: &Salt,
) -> Hash {
    sha256(&[
        NAMESPACE_WEIGHTS,
        &subnet.0.to_be_bytes(),
        &uid.to_be_bytes(),
        &u16_list(dests),
        &u16_list(values),
        salt,
    ])
}

/// `len (u16 BE) ‖ items (u16 BE each)`; a list longer than `u16::MAX` is cut (decoding never
/// yields one: lists are bounded by [`UIDS_MAX`]).
fn u16_list(items: &[u16]) -> Vec<u8> {
    let items = &items[..items.len().min(usize::from(u16::MAX))];
    let mut out = Vec::with_capacity(2 + 2 * items.len());
    out.put_u16(items.len() as u16);
    for i in items {
        out.put_u16(*i);
    }
    out
}

/// When a subnet's epochs fall: one every `tempo` blocks after its creation. The state machine
/// runs Yuma on this schedule and miners and validators follow it, so there is one copy of the
/// arithmetic.
///
/// ```text
/// epoch e = heights (created_at + e·tempo, created_at + (e+1)·tempo]
///           its Yuma epoch runs at its last block; the creation block counts as epoch 0
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochSchedule {
    /// Height of the subnet's creation.
    pub created_at: Height,
    /// Blocks per epoch (0 is read as 1: stored specs never hold it, see [`TEMPO_MIN`]).
    pub tempo: u16,
}

impl EpochSchedule {
    const fn tempo(self) -> u64 {
        if self.tempo == 0 { 1 } else { self.tempo as u64 }
    }

    /// The epoch `height` belongs to.
    #[must_use]
    pub const fn epoch_of(self, height: Height) -> u64 {
        height.0.saturating_sub(self.created_at.0).saturating_sub(1) / self.tempo()
    }

    /// The last block of `epoch`, where its Yuma epoch runs.
    #[must_use]
    pub const fn last_block(self, epoch: u64) -> Height {
        Height(
            self.created_at.0.saturating_add(epoch.saturating_add(1).saturating_mul(self.tempo())),
        )
    }

    /// The last block of the epoch `height` belongs to.
    #[must_use]
    pub const fn end_of(self, height: Height) -> Height {
        self.last_block(self.epoch_of(height))
    }

    /// The first epoch block (`created_at + k·tempo`, k ≥ 1) above `height`.
    #[must_use]
    pub const fn next_epoch_after(self, height: Height) -> Height {
        let k = height.0.saturating_sub(self.created_at.0) / self.tempo() + 1;
        Height(self.created_at.0.saturating_add(k.saturating_mul(self.tempo())))
    }
}

/// True if `url` may be stored as a miner's endpoint: `http://` or `https://`, a host, at most
/// [`ENDPOINT_LEN_MAX`] bytes, printable ASCII without spaces.
#[must_use]
pub fn is_endpoint(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.len() <= ENDPOINT_LEN_MAX && !host.is_empty() && url.bytes().all(|b| b.is_ascii_graphic())
}

mod codec;

#[cfg(test)]
mod tests {
    use super::EpochSchedule;
    use crate::Height;

    #[test]
    fn epochs_are_tempo_blocks_after_creation() {
        let s = EpochSchedule { created_at: Height(15), tempo: 10 };
        for (height, epoch, last, next) in [
            (0, 0, 25, 25),
            (15, 0, 25, 25),
            (16, 0, 25, 25),
            (24, 0, 25, 25),
            (25, 0, 25, 35),
            (26, 1, 35, 35),
            (35, 1, 35, 45),
            (36, 2, 45, 45),
        ] {
            let height = Height(height);
            assert_eq!(s.epoch_of(height), epoch, "epoch of {height}");
            assert_eq!(s.end_of(height), Height(last), "end of {height}");
            assert_eq!(s.next_epoch_after(height), Height(next), "next after {height}");
        }
        let huge = EpochSchedule { created_at: Height(u64::MAX - 1), tempo: 0 };
        assert_eq!(huge.last_block(u64::MAX), Height(u64::MAX));
        assert_eq!(huge.next_epoch_after(Height(u64::MAX)), Height(u64::MAX));
    }

    use super::*;
    use crate::datanet::DatanetId;
    use commonware_codec::{DecodeExt as _, Encode as _, EncodeSize as _};

    pub(crate) fn spec() -> SubnetSpec {
        SubnetSpec {
            name: "move-coders".into(),
            task: "Write Move smart contracts".into(),
            datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
            tempo: 100,
            max_uids: 64,
            max_validators: 8,
            registration_burn: Amount(1_000),
            immunity_blocks: 500,
            yuma3: true,
        }
    }

    fn ops() -> Vec<SubnetOp> {
        vec![
            SubnetOp::Create(Box::new(spec())),
            SubnetOp::RegisterMiner {
                subnet: SubnetId(3),
                model: ModelId(9),
                endpoint: "https://miner.example/v1".into(),
            },
            SubnetOp::RegisterValidator { subnet: SubnetId(3) },
            SubnetOp::CommitWeights { subnet: SubnetId(3), commit: sha256(&[b"c"]) },
            SubnetOp::RevealWeights {
                subnet: SubnetId(3),
                dests: vec![0, 5],
                values: vec![65_535, 7],
                salt: [4; 32],
            },
        ]
    }

    #[test]
    fn every_op_round_trips_and_truncations_fail() {
        for op in ops() {
            let bytes = op.encode();
            assert_eq!(bytes.len(), op.encode_size(), "{}", op.kind());
            assert_eq!(SubnetOp::decode(bytes.clone()).unwrap(), op);
            for cut in 0..bytes.len() {
                assert!(
                    SubnetOp::decode(commonware_codec::Copying(&bytes[..cut])).is_err(),
                    "{} cut {cut}",
                    op.kind()
                );
            }
            let payload = crate::Payload::Subnet(op);
            let bytes = payload.encode();
            assert_eq!(bytes.len(), payload.encode_size());
            assert_eq!(crate::Payload::decode(bytes).unwrap(), payload);
        }
    }

    #[test]
    fn oversized_fields_and_bad_tags_are_refused() {
        let mut long = spec();
        long.task = "t".repeat(TASK_LEN_MAX + 1);
        assert!(SubnetOp::decode(SubnetOp::Create(Box::new(long)).encode()).is_err());
        let mut many = spec();
        many.datanets = vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }; 9];
        assert!(SubnetOp::decode(SubnetOp::Create(Box::new(many)).encode()).is_err());
        let reveal = SubnetOp::RevealWeights {
            subnet: SubnetId(0),
            dests: vec![0; usize::from(UIDS_MAX) + 1],
            values: vec![],
            salt: [0; 32],
        };
        assert!(SubnetOp::decode(reveal.encode()).is_err());
        let mut bad_bool = SubnetOp::Create(Box::new(spec())).encode().to_vec();
        let last = bad_bool.len() - 1;
        bad_bool[last] = 2;
        assert!(SubnetOp::decode(commonware_codec::Copying(&bad_bool[..])).is_err());
        assert!(SubnetOp::decode(commonware_codec::Copying(&[5u8][..])).is_err());
    }

    #[test]
    fn the_largest_ops_fit_in_a_transaction() {
        use crate::{Address, Transaction, limits::TX_SIZE_MAX};
        use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
        let key = PrivateKey::from_seed(1);
        let full = [
            SubnetOp::Create(Box::new(SubnetSpec {
                name: "n".repeat(SUBNET_NAME_LEN_MAX),
                task: "t".repeat(TASK_LEN_MAX),
                datanets: vec![
                    DatanetVersionRef { datanet: DatanetId(u64::MAX), version: 1 };
                    SUBNET_DATANETS_MAX
                ],
                ..spec()
            })),
            SubnetOp::RevealWeights {
                subnet: SubnetId(u64::MAX),
                dests: vec![1; usize::from(UIDS_MAX)],
                values: vec![1; usize::from(UIDS_MAX)],
                salt: [9; 32],
            },
        ];
        for op in full {
            let signed = Transaction {
                chain_id: "x".repeat(crate::limits::CHAIN_ID_LEN_MAX).parse().unwrap(),
                sender: Address::from_public_key(&key.public_key()),
                nonce: u64::MAX,
                fee: Amount(u128::MAX),
                payload: crate::Payload::Subnet(op),
            }
            .sign(&key);
            let bytes = signed.to_bytes();
            assert!(bytes.len() <= TX_SIZE_MAX, "{} bytes", bytes.len());
            assert_eq!(crate::SignedTx::decode_bytes(&bytes).unwrap(), signed);
        }
    }

    #[test]
    fn commits_bind_every_field() {
        let base = weights_commit(SubnetId(1), 2, &[3, 4], &[5, 6], &[7; 32]);
        // The documented encoding, spelled out: a change here is a protocol change.
        let mut bytes = b"_ALX_WEIGHTS".to_vec();
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&2u16.to_be_bytes());
        bytes.extend_from_slice(&[0, 2, 0, 3, 0, 4, 0, 2, 0, 5, 0, 6]);
        bytes.extend_from_slice(&[7; 32]);
        assert_eq!(base, sha256(&[&bytes]));
        for other in [
            weights_commit(SubnetId(9), 2, &[3, 4], &[5, 6], &[7; 32]),
            weights_commit(SubnetId(1), 9, &[3, 4], &[5, 6], &[7; 32]),
            weights_commit(SubnetId(1), 2, &[4, 3], &[5, 6], &[7; 32]),
            weights_commit(SubnetId(1), 2, &[3, 4], &[5, 9], &[7; 32]),
            weights_commit(SubnetId(1), 2, &[3, 4], &[5, 6], &[8; 32]),
            weights_commit(SubnetId(1), 2, &[3], &[4, 5, 6], &[7; 32]),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn endpoints() {
        assert!(is_endpoint("https://miner.example"));
        assert!(is_endpoint("http://10.0.0.7:8080/v1?x=1"));
        for bad in [
            "",
            "ftp://x",
            "https://",
            "https:///path",
            "https://a b",
            "https://é.example",
            "miner.example",
        ] {
            assert!(!is_endpoint(bad), "{bad:?}");
        }
        assert!(!is_endpoint(&format!("https://{}", "a".repeat(ENDPOINT_LEN_MAX))));
    }
}
