//! Receipts: the outcome of every transaction in a block. A transaction that cannot apply gets
//! a failed receipt with a stable error code; it never makes its block invalid.

use crate::{Amount, TxHash};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt as _, Write};
use serde::{Deserialize, Serialize};

/// Did the transaction apply?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Applied: fee charged, nonce advanced, payload applied.
    Success,
    /// Not applied. See the error code for whether the fee was charged.
    Failed,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $num:literal, $text:literal; )*) => {
        /// Why a transaction failed. The numbers and names are stable: clients match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $name = $num, )*
        }

        impl ErrorCode {
            /// The stable snake_case name, as used in the API's `error.type`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $( Self::$name => $text, )* }
            }

            /// The stable number stored in receipts.
            #[must_use]
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The error of a stored number.
            #[must_use]
            pub const fn from_code(code: u16) -> Option<Self> {
                match code { $( $num => Some(Self::$name), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The signature does not verify for the sender. Nothing charged.
    BadSignature = 1, "bad_signature";
    /// The transaction names another chain. Nothing charged.
    WrongChainId = 2, "wrong_chain_id";
    /// The nonce is not the sender's next nonce (a replay or a gap). Nothing charged.
    BadNonce = 3, "bad_nonce";
    /// The fee is below the chain's minimum (times every started 8 KiB of the transaction).
    /// Nothing charged.
    FeeTooLow = 4, "fee_too_low";
    /// The sender cannot pay the fee. Nothing charged.
    InsufficientFee = 5, "insufficient_fee";
    /// The sender cannot pay the amount. Fee charged.
    InsufficientFunds = 6, "insufficient_funds";
    /// An amount would overflow. Fee charged.
    AmountOverflow = 7, "amount_overflow";
    /// The amount is zero. Fee charged.
    ZeroAmount = 8, "zero_amount";
    /// The validator is not registered. Fee charged.
    UnknownValidator = 9, "unknown_validator";
    /// Unbonding more than is bonded. Fee charged.
    InsufficientStake = 10, "insufficient_stake";
    /// The sender is already a validator. Fee charged.
    AlreadyValidator = 11, "already_validator";
    /// The sender already has the maximum number of pending unbondings. Fee charged.
    TooManyUnbondings = 12, "too_many_unbondings";
    /// The same transaction appears earlier in the block. Nothing charged.
    Duplicate = 13, "duplicate";
    /// The p2p address cannot be dialed (unspecified or multicast IP, or port 0). Fee charged.
    BadP2pAddr = 14, "bad_p2p_addr";
    /// No datanet has this id. Fee charged.
    UnknownDatanet = 15, "unknown_datanet";
    /// A datanet field breaks its rules (name or tag characters, license, duplicate
    /// curators). Fee charged.
    BadDatanetField = 16, "bad_datanet_field";
    /// Only the datanet's owner (or, to review, a curator) may do this. Fee charged.
    NotCurator = 17, "not_curator";
    /// The datanet already holds this content (pending or approved). Fee charged.
    DuplicateContent = 18, "duplicate_content";
    /// The contribution would pass the sender's daily byte cap for the datanet. Fee charged.
    DailyCapExceeded = 19, "daily_cap_exceeded";
    /// The contribution is empty or larger than the protocol allows. Fee charged.
    BadContribution = 20, "bad_contribution";
    /// The datanet has no contribution with this id. Fee charged.
    UnknownContribution = 21, "unknown_contribution";
    /// The contribution is no longer pending. Fee charged.
    NotPending = 22, "not_pending";
    /// Only the contributor may withdraw a contribution. Fee charged.
    NotContributor = 23, "not_contributor";
    /// No contribution was approved since the last version. Fee charged.
    NothingToPublish = 24, "nothing_to_publish";
    /// No model has this id. Fee charged.
    UnknownModel = 25, "unknown_model";
    /// A model field breaks its rules (name characters or uniqueness, an unknown or
    /// unpublished datanet version, a datanet named twice, a split outside the protocol's
    /// bounds). Fee charged.
    BadModelField = 26, "bad_model_field";
    /// Only the model's owner may do this. Fee charged.
    NotModelOwner = 27, "not_model_owner";
    /// The model is retired. Fee charged.
    ModelRetired = 28, "model_retired";
    /// No API key has this hash. Fee charged.
    UnknownApiKey = 29, "unknown_api_key";
    /// An API key with this hash exists already. Fee charged.
    ApiKeyExists = 30, "api_key_exists";
    /// The API key was revoked (or its revocation is already under way). Fee charged.
    ApiKeyRevoked = 31, "api_key_revoked";
    /// Only the key's payer may revoke it, and only its provider may charge it. Fee charged.
    NotKeyParty = 32, "not_key_party";
    /// The settlement does not start at the provider's next receipt, is empty, or settles more
    /// than 1,024 receipts. Fee charged.
    BadReceiptRange = 33, "bad_receipt_range";
    /// A charge is more than what is left of the key's allowance. Fee charged.
    OverLimit = 34, "over_limit";
    /// The payer's deposit cannot cover the withdrawal or the key's allowance. Fee charged.
    InsufficientDeposit = 35, "insufficient_deposit";
    /// A credit names a contribution the model does not draw on, a model the settlement does
    /// not charge, or more than the model's data share. Fee charged.
    BadCredit = 36, "bad_credit";
    /// There is nothing to claim. Fee charged.
    NothingToClaim = 37, "nothing_to_claim";
    /// No subnet has this id. Fee charged.
    UnknownSubnet = 38, "unknown_subnet";
    /// A subnet field breaks its rules (name characters or uniqueness, task text, an unknown
    /// or unpublished datanet version, a datanet named twice or none, tempo, uid, validator
    /// or immunity bounds). Fee charged.
    BadSubnetField = 39, "bad_subnet_field";
    /// The chain holds the most subnets it may. Fee charged.
    TooManySubnets = 40, "too_many_subnets";
    /// The sender already holds a uid in this subnet. Fee charged.
    AlreadyRegistered = 41, "already_registered";
    /// Every uid is taken and none can be pruned (all immune or the owner's). Fee charged.
    SubnetFull = 42, "subnet_full";
    /// The miner endpoint is not an `http(s)://` URL of at most 256 printable bytes. Fee
    /// charged.
    BadEndpoint = 43, "bad_endpoint";
    /// The sender holds no uid in this subnet. Fee charged.
    NotRegistered = 44, "not_registered";
    /// The sender's uid holds no validator permit. Fee charged.
    NoValidatorPermit = 45, "no_validator_permit";
    /// The sender's uid has no outstanding weight commit. Fee charged.
    NoCommit = 46, "no_commit";
    /// The commit was made in this epoch: it may be revealed only in the next one. Fee
    /// charged.
    RevealTooEarly = 47, "reveal_too_early";
    /// The commit's reveal epoch has passed. Fee charged.
    RevealExpired = 48, "reveal_expired";
    /// The revealed weights and salt do not hash to the commit. Fee charged.
    RevealMismatch = 49, "reveal_mismatch";
    /// The revealed weights are malformed (a destination twice or out of range, lengths that
    /// differ or exceed the uids). Fee charged.
    BadWeights = 50, "bad_weights";
    /// An address the transaction names (a new recipient, a curator, a provider) is not a
    /// strict ed25519 key: nobody could sign for it, or anybody could. Fee charged.
    BadAddress = 51, "bad_address";
    /// Only a validator of the active set may report on contributions' data. Fee charged.
    NotActiveValidator = 52, "not_active_validator";
    /// A data report contradicts the contribution it names (an unknown contribution, a
    /// version other than the one it was offered against, or a "wrong" size equal to the
    /// declared one). Fee charged.
    BadReport = 53, "bad_report";
    /// The settlement's receipt root is not the node over the two children it names and the
    /// totals it applies (charges, credits, tokens, receipt count), or those totals are not in
    /// canonical order (sorted, none zero). Fee charged.
    ReceiptRootMismatch = 54, "receipt_root_mismatch";
    /// The provider holds no provider bond: it cannot be named on API keys. Fee charged.
    ProviderNotBonded = 55, "provider_not_bonded";
    /// The settlement would put more of the provider's fees at risk (settled, still
    /// challengeable) than its bond.
    /// Fee charged.
    OverBondCap = 56, "over_bond_cap";
    /// The bond cannot be withdrawn: a settlement of this provider is still challengeable, or
    /// the bond is smaller than asked. Fee charged.
    BondLocked = 57, "bond_locked";
    /// No settlement of that provider from that receipt is open to challenge (never settled,
    /// past its challenge window, or already slashed). Fee charged.
    NoSuchSettlement = 58, "no_such_settlement";
    /// The evidence does not show the settlement wrong (it does not open the settlement's
    /// root, or what it opens adds up). Fee charged.
    ChallengeRejected = 59, "challenge_rejected";
    /// A near-duplicate flag names as the original a contribution that is not an earlier,
    /// approved, unflagged one of the same datanet. Fee charged.
    BadOriginal = 60, "bad_original";
    /// The equivocation evidence does not hold (malformed proposals, votes that do not
    /// conflict, or signatures that are not the validator's), or this round was already
    /// reported, or the validator has no own stake left to slash. Fee charged.
    BadEvidence = 61, "bad_evidence";
    /// The dispute cannot be opened: its proof does not open the settlement's root at the
    /// leaf, the receipt it carries is not signed by the provider or is not the leaf's, a
    /// generation claim names a receipt that was not greedy, the contribution it names is not
    /// flagged, or 256 disputes are open already. Fee charged.
    DisputeRejected = 62, "dispute_rejected";
    /// No dispute the verdicts name is open (a verdict on one just closed is skipped; this
    /// fails only a transaction naming none that is open). Fee charged.
    UnknownDispute = 63, "unknown_dispute";
    /// The demand names a receipt outside the settlement's range, or one whose demand is
    /// already open, or 64 demands are open on the provider already. Fee charged.
    DemandRejected = 64, "demand_rejected";
    /// No demand for this receipt is open, or the answer does not open the settlement's root
    /// at it with the provider's signed receipt. Fee charged.
    BadAnswer = 65, "bad_answer";
    /// The sender does not own the subnet. Fee charged.
    NotSubnetOwner = 66, "not_subnet_owner";
    /// Liquid alpha turned on for a subnet with legacy bonds (it applies to Yuma3 bonds
    /// only). Fee charged.
    LiquidAlphaNeedsYuma3 = 67, "liquid_alpha_needs_yuma3";
    /// `alpha_high` below 1,638 (0.025). Fee charged.
    AlphaHighTooLow = 68, "alpha_high_too_low";
    /// `alpha_low` below 1,638 (0.025) or above `alpha_high`. Fee charged.
    AlphaLowOutOfRange = 69, "alpha_low_out_of_range";
    /// A commission above 5,000 basis points (50%). Fee charged.
    CommissionTooHigh = 70, "commission_too_high";
    /// The sender is not a registered validator. Fee charged.
    NotValidator = 71, "not_validator";
    /// Redelegating stake that arrived at this validator by redelegation less than an
    /// unbonding period ago (no chains of hops). Fee charged.
    RedelegationLocked = 72, "redelegation_locked";
    /// A redelegation from a validator to itself. Fee charged.
    RedelegateToSelf = 73, "redelegate_to_self";
    /// The account already delegates to 16 validators. Fee charged.
    TooManyDelegations = 74, "too_many_delegations";
    /// The subnet holds 8 evaluation sets sealed and not revealed already. Fee charged.
    TooManySeals = 75, "too_many_seals";
    /// No sealed, unrevealed evaluation set has that number. Fee charged.
    UnknownSeal = 76, "unknown_seal";
    /// An evaluation set revealed in the subnet epoch it was sealed in (it must be sealed
    /// an epoch ahead). Fee charged.
    EvalRevealTooEarly = 77, "eval_reveal_too_early";
    /// An evaluation set that is not a `text` or `jsonl` blob of 1 byte to 64 MiB. Fee charged.
    BadEvalContent = 78, "bad_eval_content";
    /// A reveal of a sealed evaluation set while an older one waits: sets are revealed in the
    /// order they were sealed, so an owner cannot pick among them. Fee charged.
    EvalSealOutOfOrder = 79, "eval_seal_out_of_order";
    /// A validator redelegating its own stake: it stays slashable where it is (unbond it
    /// instead). Fee charged.
    SelfStakeNotRedelegable = 80, "self_stake_not_redelegable";
}

impl ErrorCode {
    /// True if the sender paid the fee (and used the nonce) despite the failure.
    #[must_use]
    pub const fn fee_charged(self) -> bool {
        !matches!(
            self,
            Self::BadSignature
                | Self::WrongChainId
                | Self::BadNonce
                | Self::FeeTooLow
                | Self::InsufficientFee
                | Self::Duplicate
        )
    }
}

/// The outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction.
    #[serde(with = "crate::hash::serde_hex")]
    pub tx_hash: TxHash,
    /// Applied or not.
    pub status: TxStatus,
    /// Why not, if not.
    pub error: Option<ErrorCode>,
    /// The fee actually charged.
    pub fee_paid: Amount,
}

impl Receipt {
    /// A successful receipt.
    #[must_use]
    pub const fn success(tx_hash: TxHash, fee_paid: Amount) -> Self {
        Self { tx_hash, status: TxStatus::Success, error: None, fee_paid }
    }

    /// A failed receipt.
    #[must_use]
    pub const fn failed(tx_hash: TxHash, error: ErrorCode, fee_paid: Amount) -> Self {
        Self { tx_hash, status: TxStatus::Failed, error: Some(error), fee_paid }
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx_hash.write(buf);
        buf.put_u16(self.error.map_or(0, ErrorCode::code));
        self.fee_paid.write(buf);
    }
}

impl FixedSize for Receipt {
    const SIZE: usize = 32 + 2 + Amount::SIZE;
}

impl Read for Receipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx_hash = TxHash::read(buf)?;
        let code = u16::read(buf)?;
        let fee_paid = Amount::read(buf)?;
        if code == 0 {
            return Ok(Self::success(tx_hash, fee_paid));
        }
        let error = ErrorCode::from_code(code).ok_or(CodecError::Invalid("receipt", "code"))?;
        Ok(Self::failed(tx_hash, error, fee_paid))
    }
}
