//! Paying for model use: prepaid deposits, API keys with their own allowances, settlement of
//! served requests, and claiming rewards.
//!
//! ```text
//! UsageOp = 0 Deposit { amount }                          balance → prepaid deposit
//!         | 1 Withdraw { amount }                         prepaid deposit → balance
//!         | 2 CreateApiKey { key_hash, provider, allowance }   deposit → the key's allowance
//!         | 3 RevokeApiKey { key_hash }                   payer: no more service; the
//!                                                         allowance returns after a delay
//!                                                         provider: closes the key at once
//!         | 4 Settle { settlement }                       a provider charges served requests
//!         | 5 Claim                                       claimable rewards → balance
//!         | 6 FundApiKey { key_hash, amount }             deposit → the key's allowance
//!         | 7 BondProvider { amount }                     balance → the sender's provider bond
//!         | 8 UnbondProvider { amount }                   provider bond → balance (not while
//!                                                         a settlement is challengeable)
//!         | 9 Challenge { challenge }                     evidence against a settlement
//!                                                         (`crate::challenge`)
//!         | 10 Dispute { dispute }                        a claim on a settled receipt for
//!                                                         the validators (`crate::dispute`)
//!         | 11 Verdicts { verdicts }                      validators' votes on disputes
//!         | 12 Demand { demand }                          open this settled receipt on chain
//!                                                         or be slashed (`crate::withheld`)
//!         | 13 Answer { answer }                          a demanded receipt, opened
//! ```
//!
//! An API key is a secret the payer gives to a serving node; the chain holds only its hash,
//! the payer, the one provider allowed to charge it, and its allowance: money moved out of the
//! payer's deposit that only that provider can draw down. Two providers can therefore never
//! spend the same deposit, and a withdrawal never takes what a provider has already served
//! against. A payer's revocation stops service at once but returns the allowance only
//! [`REVOKE_DELAY_BLOCKS`] later, so requests served before it still settle; the provider may
//! close the key sooner once it has settled everything.
//!
//! A settlement covers the provider's next receipts (numbered from 0, so none is settled
//! twice), commits to them with the root of a Merkle sum tree whose root node holds the very
//! totals it applies ([`crate::settled`]; so anyone holding the published receipts can check
//! every one against it), charges each key its total, and credits the data share of each
//! model's fees to the contributions the receipts attribute it to.

use crate::{
    Address, Amount, Hash,
    datanet::{ContributionId, DatanetId, read_count},
    model::ModelId,
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// Blocks between a payer's revocation of a key and the return of its allowance: the window in
/// which the provider settles what it served before the revocation (its settler runs every few
/// seconds; at one block a second this is ten minutes).
pub const REVOKE_DELAY_BLOCKS: u64 = 600;

/// Most charges in one settlement.
pub const SETTLEMENT_CHARGES_MAX: usize = 32;
/// Most contribution credits in one settlement.
pub const SETTLEMENT_CREDITS_MAX: usize = 64;
/// Most receipts in one settlement: its tree is at most 11 levels deep, so evidence against
/// any node fits a challenge transaction.
pub const SETTLEMENT_RECEIPTS_MAX: usize = 1_024;

/// What one API key owes for one model in a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// SHA-256 of the API key.
    #[serde(with = "crate::hash::serde_hex")]
    pub key_hash: Hash,
    /// The model used.
    pub model: ModelId,
    /// Total fee of the receipts for this key and model.
    pub amount: Amount,
}

/// The part of a model's data share a contribution earned in a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The model whose fees pay it.
    pub model: ModelId,
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// Base units.
    pub amount: Amount,
}

/// A batch of served requests, charged and paid out at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The provider's first receipt number in the batch (its next unsettled one).
    pub first_receipt: u64,
    /// Receipts in the batch (at least 1).
    pub receipts: u32,
    /// Root of the Merkle sum tree over what is settled per receipt ([`crate::settled`]).
    #[serde(with = "crate::hash::serde_hex")]
    pub receipts_root: Hash,
    /// The digests of the root's two children: with the totals below, the root's preimage.
    #[serde(with = "crate::hash::serde_hex_pair")]
    pub receipts_children: [Hash; 2],
    /// Prompt tokens charged in the batch.
    pub prompt_tokens: u64,
    /// Generated tokens charged in the batch.
    pub completion_tokens: u64,
    /// Totals per key and model, in (key, model) order, none zero.
    pub charges: Vec<Charge>,
    /// Data-share credits per contribution, in (model, datanet, contribution) order, none zero.
    pub credits: Vec<Credit>,
}

impl Settlement {
    /// The settlement of the receipts from `first_receipt` whose tree has `root`.
    #[must_use]
    pub fn from_root(first_receipt: u64, root: crate::settled::Root) -> Self {
        let t = root.totals;
        Self {
            first_receipt,
            receipts: u32::try_from(t.receipts).unwrap_or(u32::MAX),
            receipts_root: root.digest,
            receipts_children: root.children,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            charges: t.charges,
            credits: t.credits,
        }
    }

    /// The totals the settlement applies, as the root's node holds them.
    #[must_use]
    pub fn totals(&self) -> crate::settled::Totals {
        crate::settled::Totals {
            receipts: u64::from(self.receipts),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            charges: self.charges.clone(),
            credits: self.credits.clone(),
        }
    }

    /// Whether the receipt root is the node over the two children and the totals this
    /// settlement applies, the totals in canonical order: what the chain checks.
    #[must_use]
    pub fn commits_to_its_totals(&self) -> bool {
        let totals = self.totals();
        totals.is_canonical()
            && self.receipts > 0
            && crate::settled::node_digest(
                &self.receipts_children[0],
                &self.receipts_children[1],
                &totals,
            ) == self.receipts_root
    }
}

/// A usage operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageOp {
    /// Move `amount` from the balance to the prepaid deposit.
    Deposit {
        /// Base units.
        amount: Amount,
    },
    /// Move `amount` from the prepaid deposit back to the balance.
    Withdraw {
        /// Base units.
        amount: Amount,
    },
    /// Let `provider` charge requests made with the key whose hash is `key_hash`, from an
    /// allowance of `allowance` moved out of the sender's deposit.
    CreateApiKey {
        /// SHA-256 of the secret key.
        key_hash: Hash,
        /// The only node that may settle charges on it.
        provider: Address,
        /// Moved from the deposit to the key now; what the provider may charge.
        allowance: Amount,
    },
    /// The payer stops a key: no more service, and its allowance returns to the deposit after
    /// [`REVOKE_DELAY_BLOCKS`]. Sent by the provider, it closes the key at once.
    RevokeApiKey {
        /// SHA-256 of the secret key.
        key_hash: Hash,
    },
    /// Settle a batch of the sender's receipts.
    Settle(Box<Settlement>),
    /// Move the sender's claimable rewards to its balance.
    Claim,
    /// Move `amount` of the payer's deposit into the key's allowance.
    FundApiKey {
        /// SHA-256 of the secret key.
        key_hash: Hash,
        /// Base units.
        amount: Amount,
    },
    /// Move `amount` of the balance into the sender's provider bond: what lets it be named on
    /// API keys, caps the fees of its settlements still challengeable, and is slashed on a
    /// proven challenge.
    BondProvider {
        /// Base units.
        amount: Amount,
    },
    /// Move `amount` of the sender's provider bond back to its balance (refused while one of
    /// its settlements is challengeable).
    UnbondProvider {
        /// Base units.
        amount: Amount,
    },
    /// Challenge a settlement with evidence the chain checks.
    Challenge(Box<crate::challenge::Challenge>),
    /// Dispute a settled receipt: the validators decide (escrows the challenge bond).
    Dispute(Box<crate::dispute::Dispute>),
    /// An active validator's votes on open disputes.
    Verdicts(Vec<crate::dispute::Verdict>),
    /// Demand that a provider open one settled receipt on chain (escrows the demand bond).
    Demand(crate::withheld::Demand),
    /// A demanded receipt, opened.
    Answer(Box<crate::withheld::Answer>),
}

impl UsageOp {
    /// A stable lowercase name, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Deposit { .. } => "deposit",
            Self::Withdraw { .. } => "withdraw_deposit",
            Self::CreateApiKey { .. } => "api_key_create",
            Self::RevokeApiKey { .. } => "api_key_revoke",
            Self::Settle(_) => "settle",
            Self::Claim => "claim",
            Self::FundApiKey { .. } => "api_key_fund",
            Self::BondProvider { .. } => "provider_bond",
            Self::UnbondProvider { .. } => "provider_unbond",
            Self::Challenge(_) => "challenge",
            Self::Dispute(_) => "dispute",
            Self::Verdicts(_) => "dispute_verdicts",
            Self::Demand(_) => "receipt_demand",
            Self::Answer(_) => "receipt_answer",
        }
    }
}

const CHARGE_SIZE: usize = Hash::SIZE + u64::SIZE + Amount::SIZE;
const CREDIT_SIZE: usize = 3 * u64::SIZE + Amount::SIZE;

impl Write for Settlement {
    fn write(&self, buf: &mut impl BufMut) {
        self.first_receipt.write(buf);
        self.receipts.write(buf);
        self.receipts_root.write(buf);
        self.receipts_children[0].write(buf);
        self.receipts_children[1].write(buf);
        self.prompt_tokens.write(buf);
        self.completion_tokens.write(buf);
        buf.put_u8(self.charges.len().min(255) as u8);
        for c in self.charges.iter().take(255) {
            c.key_hash.write(buf);
            c.model.write(buf);
            c.amount.write(buf);
        }
        buf.put_u8(self.credits.len().min(255) as u8);
        for c in self.credits.iter().take(255) {
            c.model.write(buf);
            c.datanet.write(buf);
            c.contribution.write(buf);
            c.amount.write(buf);
        }
    }
}

impl EncodeSize for Settlement {
    fn encode_size(&self) -> usize {
        u64::SIZE
            + u32::SIZE
            + 3 * Hash::SIZE
            + 2 * u64::SIZE
            + 1
            + self.charges.len().min(255) * CHARGE_SIZE
            + 1
            + self.credits.len().min(255) * CREDIT_SIZE
    }
}

impl Read for Settlement {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let first_receipt = u64::read(buf)?;
        let receipts = u32::read(buf)?;
        let receipts_root = Hash::read(buf)?;
        let receipts_children = [Hash::read(buf)?, Hash::read(buf)?];
        let prompt_tokens = u64::read(buf)?;
        let completion_tokens = u64::read(buf)?;
        let charges = (0..read_count(buf, SETTLEMENT_CHARGES_MAX)?)
            .map(|_| {
                Ok(Charge {
                    key_hash: Hash::read(buf)?,
                    model: ModelId::read(buf)?,
                    amount: Amount::read(buf)?,
                })
            })
            .collect::<Result<_, CodecError>>()?;
        let credits = (0..read_count(buf, SETTLEMENT_CREDITS_MAX)?)
            .map(|_| {
                Ok(Credit {
                    model: ModelId::read(buf)?,
                    datanet: DatanetId::read(buf)?,
                    contribution: ContributionId::read(buf)?,
                    amount: Amount::read(buf)?,
                })
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(Self {
            first_receipt,
            receipts,
            receipts_root,
            receipts_children,
            prompt_tokens,
            completion_tokens,
            charges,
            credits,
        })
    }
}

impl Write for UsageOp {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Deposit { amount } => {
                buf.put_u8(0);
                amount.write(buf);
            }
            Self::Withdraw { amount } => {
                buf.put_u8(1);
                amount.write(buf);
            }
            Self::CreateApiKey { key_hash, provider, allowance } => {
                buf.put_u8(2);
                key_hash.write(buf);
                provider.write(buf);
                allowance.write(buf);
            }
            Self::RevokeApiKey { key_hash } => {
                buf.put_u8(3);
                key_hash.write(buf);
            }
            Self::Settle(s) => {
                buf.put_u8(4);
                s.write(buf);
            }
            Self::Claim => buf.put_u8(5),
            Self::FundApiKey { key_hash, amount } => {
                buf.put_u8(6);
                key_hash.write(buf);
                amount.write(buf);
            }
            Self::BondProvider { amount } => {
                buf.put_u8(7);
                amount.write(buf);
            }
            Self::UnbondProvider { amount } => {
                buf.put_u8(8);
                amount.write(buf);
            }
            Self::Challenge(c) => {
                buf.put_u8(9);
                c.write(buf);
            }
            Self::Dispute(d) => {
                buf.put_u8(10);
                d.write(buf);
            }
            Self::Demand(d) => {
                buf.put_u8(12);
                d.write(buf);
            }
            Self::Answer(a) => {
                buf.put_u8(13);
                a.write(buf);
            }
            Self::Verdicts(v) => {
                buf.put_u8(11);
                buf.put_u8(v.len().min(crate::dispute::VERDICTS_PER_TX_MAX) as u8);
                for x in v.iter().take(crate::dispute::VERDICTS_PER_TX_MAX) {
                    x.write(buf);
                }
            }
        }
    }
}

impl EncodeSize for UsageOp {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Deposit { .. }
            | Self::Withdraw { .. }
            | Self::BondProvider { .. }
            | Self::UnbondProvider { .. } => Amount::SIZE,
            Self::Challenge(c) => c.encode_size(),
            Self::Dispute(d) => d.encode_size(),
            Self::Demand(_) => <crate::withheld::Demand as commonware_codec::FixedSize>::SIZE,
            Self::Answer(a) => a.encode_size(),
            Self::Verdicts(v) => {
                1 + v.len().min(crate::dispute::VERDICTS_PER_TX_MAX)
                    * <crate::dispute::Verdict as commonware_codec::FixedSize>::SIZE
            }
            Self::CreateApiKey { .. } => Hash::SIZE + Address::SIZE + Amount::SIZE,
            Self::RevokeApiKey { .. } => Hash::SIZE,
            Self::Settle(s) => s.encode_size(),
            Self::Claim => 0,
            Self::FundApiKey { .. } => Hash::SIZE + Amount::SIZE,
        }
    }
}

impl Read for UsageOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Deposit { amount: Amount::read(buf)? },
            1 => Self::Withdraw { amount: Amount::read(buf)? },
            2 => Self::CreateApiKey {
                key_hash: Hash::read(buf)?,
                provider: Address::read(buf)?,
                allowance: Amount::read(buf)?,
            },
            3 => Self::RevokeApiKey { key_hash: Hash::read(buf)? },
            4 => Self::Settle(Box::new(Settlement::read(buf)?)),
            5 => Self::Claim,
            6 => Self::FundApiKey { key_hash: Hash::read(buf)?, amount: Amount::read(buf)? },
            7 => Self::BondProvider { amount: Amount::read(buf)? },
            8 => Self::UnbondProvider { amount: Amount::read(buf)? },
            9 => Self::Challenge(Box::new(crate::challenge::Challenge::read(buf)?)),
            10 => Self::Dispute(Box::new(crate::dispute::Dispute::read(buf)?)),
            12 => Self::Demand(crate::withheld::Demand::read(buf)?),
            13 => Self::Answer(Box::new(crate::withheld::Answer::read(buf)?)),
            11 => Self::Verdicts(
                (0..read_count(buf, crate::dispute::VERDICTS_PER_TX_MAX)?)
                    .map(|_| crate::dispute::Verdict::read(buf))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DatanetVersionRef, FeeSplit, MODEL_DATANETS_MAX, ModelOp, ModelSpec};
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn full_settlement() -> Settlement {
        Settlement {
            first_receipt: u64::MAX - 5,
            receipts: u32::MAX,
            receipts_root: crate::hash::ZERO,
            receipts_children: [crate::hash::ZERO; 2],
            prompt_tokens: u64::MAX,
            completion_tokens: u64::MAX,
            charges: vec![
                Charge {
                    key_hash: crate::hash::ZERO,
                    model: ModelId(1),
                    amount: Amount(u128::MAX)
                };
                SETTLEMENT_CHARGES_MAX
            ],
            credits: vec![
                Credit {
                    model: ModelId(1),
                    datanet: DatanetId(2),
                    contribution: ContributionId(3),
                    amount: Amount(u128::MAX)
                };
                SETTLEMENT_CREDITS_MAX
            ],
        }
    }

    #[test]
    fn every_op_round_trips_and_truncations_fail() {
        let spec = ModelSpec {
            name: "m".repeat(crate::model::MODEL_NAME_LEN_MAX),
            base_model: crate::hash::ZERO,
            adapter: Some(crate::hash::ZERO),
            datanets: vec![
                DatanetVersionRef { datanet: DatanetId(1), version: 2 };
                MODEL_DATANETS_MAX
            ],
            price_input_per_1k: Amount(1),
            price_output_per_1k: Amount(2),
            split: FeeSplit::DEFAULT,
        };
        let payloads = [
            crate::Payload::Model(ModelOp::Register(Box::new(spec))),
            crate::Payload::Model(ModelOp::SetPrices {
                model: ModelId(1),
                input_per_1k: Amount(1),
                output_per_1k: Amount(2),
            }),
            crate::Payload::Model(ModelOp::Retire { model: ModelId(1) }),
            crate::Payload::Usage(UsageOp::Deposit { amount: Amount(5) }),
            crate::Payload::Usage(UsageOp::Withdraw { amount: Amount(5) }),
            crate::Payload::Usage(UsageOp::CreateApiKey {
                key_hash: crate::hash::ZERO,
                provider: Address([1; 32]),
                allowance: Amount(9),
            }),
            crate::Payload::Usage(UsageOp::FundApiKey {
                key_hash: crate::hash::ZERO,
                amount: Amount(3),
            }),
            crate::Payload::Usage(UsageOp::RevokeApiKey { key_hash: crate::hash::ZERO }),
            crate::Payload::Usage(UsageOp::Settle(Box::new(full_settlement()))),
            crate::Payload::Usage(UsageOp::Claim),
            crate::Payload::Usage(UsageOp::BondProvider { amount: Amount(7) }),
            crate::Payload::Usage(UsageOp::UnbondProvider { amount: Amount(7) }),
            crate::Payload::Usage(UsageOp::Challenge(Box::new(
                crate::challenge::tests::sums_challenge(),
            ))),
            crate::Payload::Usage(UsageOp::Challenge(Box::new(
                crate::challenge::tests::leaf_challenge(),
            ))),
            crate::Payload::Usage(UsageOp::Dispute(Box::new(crate::dispute::tests::dispute(3)))),
            crate::Payload::Usage(UsageOp::Challenge(Box::new(crate::challenge::Challenge {
                provider: Address([3; 32]),
                first_receipt: 0,
                evidence: crate::challenge::Evidence::Receipt {
                    receipt: "{\"id\": 1}".into(),
                    leaf: crate::dispute::tests::dispute(3).leaf,
                    proof: crate::dispute::tests::dispute(3).proof,
                },
            }))),
            crate::Payload::Usage(UsageOp::Demand(crate::withheld::Demand {
                provider: Address([2; 32]),
                first_receipt: 5,
                number: u64::MAX,
            })),
            crate::Payload::Usage(UsageOp::Answer(Box::new(crate::withheld::Answer {
                provider: Address([2; 32]),
                first_receipt: 0,
                leaf: crate::dispute::tests::dispute(3).leaf,
                proof: crate::dispute::tests::dispute(3).proof,
                receipt: "{}".into(),
            }))),
            crate::Payload::Usage(UsageOp::Verdicts(vec![
                crate::dispute::Verdict { dispute: u64::MAX, guilty: true },
                crate::dispute::Verdict { dispute: 0, guilty: false },
            ])),
        ];
        for p in payloads {
            let bytes = p.encode();
            assert_eq!(bytes.len(), p.encode_size(), "{}", p.kind());
            assert_eq!(crate::Payload::decode(bytes.clone()).unwrap(), p);
            for cut in 0..bytes.len() {
                assert!(crate::Payload::decode(commonware_codec::Copying(&bytes[..cut])).is_err());
            }
        }
        let mut too_many = full_settlement();
        too_many.credits.push(too_many.credits[0]);
        let bytes = UsageOp::Settle(Box::new(too_many)).encode();
        assert!(UsageOp::decode(bytes).is_err());
    }

    #[test]
    fn the_largest_settlement_fits_in_a_transaction() {
        use crate::{Transaction, limits::TX_SIZE_MAX};
        use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
        let key = PrivateKey::from_seed(1);
        let signed = Transaction {
            chain_id: "x".repeat(crate::limits::CHAIN_ID_LEN_MAX).parse().unwrap(),
            sender: Address::from_public_key(&key.public_key()),
            nonce: u64::MAX,
            fee: Amount(u128::MAX),
            payload: crate::Payload::Usage(UsageOp::Settle(Box::new(full_settlement()))),
        }
        .sign(&key);
        let bytes = signed.to_bytes();
        assert!(bytes.len() <= TX_SIZE_MAX, "{} bytes", bytes.len());
        assert_eq!(crate::SignedTx::decode_bytes(&bytes).unwrap(), signed);
    }
}
