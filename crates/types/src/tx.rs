//! Transactions: what a sender asks the chain to do, signed with the sender's ed25519 key.
//!
//! ```text
//! Transaction = chain_id | sender | nonce (u64) | fee (u128) | payload
//! Payload     = 0 Transfer { to, amount }
//!             | 1 Bond { validator, amount }      delegate stake (to oneself = self-bond)
//!             | 2 Unbond { validator, amount }    starts the unbonding period
//!             | 3 RegisterValidator { p2p_addr }  sender becomes a validator candidate, reachable there
//!             | 4 Datanet(DatanetOp)              datanets: create, contribute, review… (datanet.rs)
//!             | 5 Model(ModelOp)                  models: register, prices, retire (model.rs)
//!             | 6 Usage(UsageOp)                  deposits, API keys, settlement, claims (usage.rs)
//!             | 7 Subnet(SubnetOp)                subnets: create, register, weights (subnet.rs)
//!             | 8 ReportEquivocation(Equivocation)  slashes a validator that voted twice
//!             | 9 Staking(StakingOp)              commission, redelegation (staking.rs)
//! SignedTx    = Transaction | signature (64 bytes, ed25519 over NAMESPACE_TX ‖ Transaction)
//! TxHash      = SHA-256(Transaction)
//! ```
//!
//! The hash covers the unsigned transaction, so re-encoding a signature (ed25519 signatures
//! accepted under ZIP-215 rules are not unique) never yields a second id for the same
//! transaction. The chain id and the per-sender nonce make every transaction unique.

use crate::{
    Address, Amount, ChainId, Hash, NAMESPACE_TX,
    datanet::DatanetOp,
    hash::sha256,
    limits::{CHALLENGE_TX_SIZE_MAX, TX_SIZE_MAX},
};
use bytes::{BufMut, Bytes};
use commonware_codec::{
    Buf, Encode as _, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write,
};
use commonware_cryptography::{
    Signer as _, Verifier as _,
    ed25519::{PrivateKey, Signature},
};
use std::net::SocketAddr;

/// A transaction id.
pub type TxHash = Hash;

/// A sender's transaction counter: the n-th transaction of an account carries nonce n (from 0).
pub type Nonce = u64;

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Move `amount` from the sender to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount moved.
        amount: Amount,
    },
    /// Lock `amount` of the sender's balance as stake delegated to `validator`.
    Bond {
        /// A registered validator (or the sender itself once registered).
        validator: Address,
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding `amount` of the sender's stake with `validator`; it becomes spendable
    /// after the unbonding period.
    Unbond {
        /// The validator the stake is delegated to.
        validator: Address,
        /// Amount unbonded.
        amount: Amount,
    },
    /// Register the sender as a validator candidate. Candidates with the most stake form the
    /// active set at each epoch boundary.
    RegisterValidator {
        /// Where peers dial the validator's p2p endpoint (the chain has no other directory).
        p2p_addr: SocketAddr,
    },
    /// A datanet operation.
    Datanet(DatanetOp),
    /// A model operation.
    Model(crate::model::ModelOp),
    /// Deposits, API keys, settlements and claims.
    Usage(crate::usage::UsageOp),
    /// Subnets: creation, registration of miners and validators, weights.
    Subnet(crate::subnet::SubnetOp),
    /// Evidence that a validator signed two conflicting votes: slashes its own stake, half to
    /// the sender (`crate::equivocation`).
    ReportEquivocation(Box<crate::equivocation::Equivocation>),
    /// Commission and redelegation.
    Staking(crate::staking::StakingOp),
}

impl Payload {
    const TAG_TRANSFER: u8 = 0;
    const TAG_BOND: u8 = 1;
    const TAG_UNBOND: u8 = 2;
    const TAG_REGISTER_VALIDATOR: u8 = 3;
    const TAG_DATANET: u8 = 4;
    const TAG_MODEL: u8 = 5;
    const TAG_USAGE: u8 = 6;
    const TAG_SUBNET: u8 = 7;
    const TAG_EQUIVOCATION: u8 = 8;
    const TAG_STAKING: u8 = 9;

    /// A stable lowercase name of the payload kind, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Transfer { .. } => "transfer",
            Self::Bond { .. } => "bond",
            Self::Unbond { .. } => "unbond",
            Self::RegisterValidator { .. } => "register_validator",
            Self::Datanet(op) => op.kind(),
            Self::Model(op) => op.kind(),
            Self::Usage(op) => op.kind(),
            Self::Subnet(op) => op.kind(),
            Self::ReportEquivocation(_) => "report_equivocation",
            Self::Staking(op) => op.kind(),
        }
    }
}

impl Write for Payload {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Transfer { to, amount } => {
                buf.put_u8(Self::TAG_TRANSFER);
                to.write(buf);
                amount.write(buf);
            }
            Self::Bond { validator, amount } => {
                buf.put_u8(Self::TAG_BOND);
                validator.write(buf);
                amount.write(buf);
            }
            Self::Unbond { validator, amount } => {
                buf.put_u8(Self::TAG_UNBOND);
                validator.write(buf);
                amount.write(buf);
            }
            Self::RegisterValidator { p2p_addr } => {
                buf.put_u8(Self::TAG_REGISTER_VALIDATOR);
                p2p_addr.write(buf);
            }
            Self::Datanet(op) => {
                buf.put_u8(Self::TAG_DATANET);
                op.write(buf);
            }
            Self::Model(op) => {
                buf.put_u8(Self::TAG_MODEL);
                op.write(buf);
            }
            Self::Usage(op) => {
                buf.put_u8(Self::TAG_USAGE);
                op.write(buf);
            }
            Self::Subnet(op) => {
                buf.put_u8(Self::TAG_SUBNET);
                op.write(buf);
            }
            Self::ReportEquivocation(e) => {
                buf.put_u8(Self::TAG_EQUIVOCATION);
                e.write(buf);
            }
            Self::Staking(op) => {
                buf.put_u8(Self::TAG_STAKING);
                op.write(buf);
            }
        }
    }
}

impl EncodeSize for Payload {
    fn encode_size(&self) -> usize {
        match self {
            Self::Transfer { .. } | Self::Bond { .. } | Self::Unbond { .. } => {
                1 + Address::SIZE + Amount::SIZE
            }
            Self::RegisterValidator { p2p_addr } => 1 + p2p_addr.encode_size(),
            Self::Datanet(op) => 1 + op.encode_size(),
            Self::Model(op) => 1 + op.encode_size(),
            Self::Usage(op) => 1 + op.encode_size(),
            Self::Subnet(op) => 1 + op.encode_size(),
            Self::ReportEquivocation(e) => 1 + e.encode_size(),
            Self::Staking(op) => 1 + op.encode_size(),
        }
    }
}

impl Read for Payload {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Ok(match tag {
            Self::TAG_TRANSFER => {
                Self::Transfer { to: Address::read(buf)?, amount: Amount::read(buf)? }
            }
            Self::TAG_BOND => {
                Self::Bond { validator: Address::read(buf)?, amount: Amount::read(buf)? }
            }
            Self::TAG_UNBOND => {
                Self::Unbond { validator: Address::read(buf)?, amount: Amount::read(buf)? }
            }
            Self::TAG_REGISTER_VALIDATOR => {
                Self::RegisterValidator { p2p_addr: SocketAddr::read(buf)? }
            }
            Self::TAG_DATANET => Self::Datanet(DatanetOp::read(buf)?),
            Self::TAG_MODEL => Self::Model(crate::model::ModelOp::read(buf)?),
            Self::TAG_USAGE => Self::Usage(crate::usage::UsageOp::read(buf)?),
            Self::TAG_SUBNET => Self::Subnet(crate::subnet::SubnetOp::read(buf)?),
            Self::TAG_EQUIVOCATION => {
                Self::ReportEquivocation(Box::new(crate::equivocation::Equivocation::read(buf)?))
            }
            Self::TAG_STAKING => Self::Staking(crate::staking::StakingOp::read(buf)?),
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// True if peers could dial `addr`: an unspecified or multicast IP, or port 0, names no
/// endpoint. The one rule for genesis validators and `RegisterValidator`.
#[must_use]
pub fn is_dialable(addr: &SocketAddr) -> bool {
    !(addr.ip().is_unspecified() || addr.ip().is_multicast() || addr.port() == 0)
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The chain this transaction is for.
    pub chain_id: ChainId,
    /// The account that signs and pays.
    pub sender: Address,
    /// The sender's next nonce.
    pub nonce: Nonce,
    /// The fee the sender pays the block's proposer.
    pub fee: Amount,
    /// What the transaction does.
    pub payload: Payload,
}

impl Transaction {
    /// The transaction id.
    #[must_use]
    pub fn hash(&self) -> TxHash {
        sha256(&[&self.encode()])
    }

    /// Signs with `key`. The caller makes sure `key` belongs to `self.sender`.
    #[must_use]
    pub fn sign(self, key: &PrivateKey) -> SignedTx {
        let message = self.encode();
        let signature = key.sign(NAMESPACE_TX, &message);
        let hash = sha256(&[&message]);
        SignedTx { tx: self, signature, hash }
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.sender.write(buf);
        self.nonce.write(buf);
        self.fee.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size()
            + Address::SIZE
            + u64::SIZE
            + Amount::SIZE
            + self.payload.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            chain_id: ChainId::read(buf)?,
            sender: Address::read(buf)?,
            nonce: u64::read(buf)?,
            fee: Amount::read(buf)?,
            payload: Payload::read(buf)?,
        })
    }
}

/// A transaction with its signature, and its id computed once.
#[derive(Clone, Debug)]
pub struct SignedTx {
    /// The signed transaction.
    pub tx: Transaction,
    /// ed25519 signature over `NAMESPACE_TX ‖ encode(tx)`.
    pub signature: Signature,
    hash: TxHash,
}

impl PartialEq for SignedTx {
    fn eq(&self, other: &Self) -> bool {
        self.tx == other.tx && self.signature == other.signature
    }
}
impl Eq for SignedTx {}

impl SignedTx {
    /// Builds from parts (used by decoders of other encodings, e.g. JSON).
    #[must_use]
    pub fn from_parts(tx: Transaction, signature: Signature) -> Self {
        let hash = tx.hash();
        Self { tx, signature, hash }
    }

    /// The transaction id.
    #[must_use]
    pub const fn hash(&self) -> TxHash {
        self.hash
    }

    /// Checks the signature on its own. Block execution and the mempool verify signatures in
    /// batches instead; this is for single transactions and tests.
    #[must_use]
    pub fn verify_signature(&self) -> bool {
        match self.tx.sender.to_public_key() {
            Some(key) => {
                self.has_strict_signature()
                    && key.verify(NAMESPACE_TX, &self.tx.encode(), &self.signature)
            }
            None => false,
        }
    }

    /// True if the signature's encoding is one the chain accepts (see [`crate::strict`]); a
    /// signature that is not never verifies, whatever the equation says.
    #[must_use]
    pub fn has_strict_signature(&self) -> bool {
        crate::strict::is_strict_signature(self.signature.as_ref())
    }

    /// Decodes a signed transaction from exactly `bytes`, refusing anything over
    /// [`CHALLENGE_TX_SIZE_MAX`] before reading it, and anything over [`TX_SIZE_MAX`] but a
    /// challenge after.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > CHALLENGE_TX_SIZE_MAX {
            return Err(CodecError::InvalidLength(bytes.len()));
        }
        use commonware_codec::DecodeExt as _;
        let tx = Self::decode(commonware_codec::Copying(bytes))?;
        let challenge = matches!(
            tx.tx.payload,
            Payload::Usage(
                crate::usage::UsageOp::Challenge(_)
                    | crate::usage::UsageOp::Dispute(_)
                    | crate::usage::UsageOp::Answer(_)
            )
        );
        if bytes.len() > TX_SIZE_MAX && !challenge {
            return Err(CodecError::InvalidLength(bytes.len()));
        }
        Ok(tx)
    }

    /// The canonical encoding.
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        self.encode()
    }

    /// The least fee this transaction may offer on a chain whose minimum is `base`: `base` for
    /// every started [`TX_SIZE_MAX`] bytes, so a large challenge pays for the block space it
    /// takes like the transactions it displaces.
    #[must_use]
    pub fn min_fee(&self, base: Amount) -> Amount {
        min_fee_for_size(self.encode_size(), base)
    }
}

/// The least fee of a signed transaction of `size` encoded bytes (see [`SignedTx::min_fee`]).
#[must_use]
pub fn min_fee_for_size(size: usize, base: Amount) -> Amount {
    let units = size.div_ceil(TX_SIZE_MAX).max(1) as u128;
    Amount(base.0.saturating_mul(units))
}

impl Write for SignedTx {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTx {
    fn encode_size(&self) -> usize {
        self.tx.encode_size() + Signature::SIZE
    }
}

impl Read for SignedTx {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx = Transaction::read(buf)?;
        let signature = Signature::read(buf)?;
        Ok(Self::from_parts(tx, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::DecodeExt as _;

    fn sample(nonce: u64) -> (PrivateKey, SignedTx) {
        let key = PrivateKey::from_seed(1);
        let tx = Transaction {
            chain_id: "alx-test".parse().unwrap(),
            sender: Address::from_public_key(&key.public_key()),
            nonce,
            fee: Amount(10),
            payload: Payload::Transfer {
                to: Address::from_public_key(&PrivateKey::from_seed(9).public_key()),
                amount: Amount(5),
            },
        };
        (key.clone(), tx.sign(&key))
    }

    #[test]
    fn sign_verify_and_round_trip() {
        let (_, signed) = sample(3);
        assert!(signed.verify_signature());
        let bytes = signed.to_bytes();
        let back = SignedTx::decode_bytes(&bytes).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.hash(), signed.hash());
    }

    /// The all-zero address with an all-zero signature satisfies the ZIP-215 equation for
    /// every message: before the strict rule, anyone could spend from it.
    #[test]
    fn small_order_senders_and_signatures_never_verify() {
        use crate::strict::SMALL_ORDER_ENCODINGS;
        use commonware_codec::DecodeExt as _;
        for (i, weak) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
            let tx = Transaction {
                chain_id: "alx-test".parse().unwrap(),
                sender: Address(*weak),
                nonce: 0,
                fee: Amount(10),
                payload: Payload::Transfer {
                    to: Address::from_public_key(&PrivateKey::from_seed(2).public_key()),
                    amount: Amount(5),
                },
            };
            // R = the weak point itself, s = 0: [s]B = R + [k]A holds after the cofactor
            // is cleared, whatever the message.
            let mut raw = [0u8; 64];
            raw[..32].copy_from_slice(weak);
            let signature = Signature::decode(commonware_codec::Copying(&raw[..])).unwrap();
            // The library's ZIP-215 rule alone accepts the forgery: that is the hole.
            let lax = commonware_cryptography::ed25519::PublicKey::decode(
                commonware_codec::Copying(&weak[..]),
            )
            .unwrap();
            assert!(lax.verify(NAMESPACE_TX, &tx.encode(), &signature), "weak key {i}");
            let forged = SignedTx::from_parts(tx, signature);
            assert!(!forged.verify_signature(), "weak key {i} verified");
            assert!(forged.tx.sender.to_public_key().is_none(), "weak key {i} accepted");
        }
        // An honest key with a weak R in its signature is refused too.
        let (_, mut honest) = sample(0);
        let mut raw = [0u8; 64];
        raw.copy_from_slice(honest.signature.as_ref());
        raw[..32].copy_from_slice(&SMALL_ORDER_ENCODINGS[0]);
        honest.signature = Signature::decode(commonware_codec::Copying(&raw[..])).unwrap();
        assert!(!honest.has_strict_signature());
        assert!(!honest.verify_signature());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let (_, mut signed) = sample(0);
        signed.tx.nonce = 1;
        assert!(!signed.verify_signature());
    }

    #[test]
    fn hostile_bytes_are_refused() {
        let (_, signed) = sample(0);
        let bytes = signed.to_bytes();
        for cut in 0..bytes.len() {
            assert!(SignedTx::decode_bytes(&bytes[..cut]).is_err(), "prefix {cut}");
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(SignedTx::decode_bytes(&extra).is_err());
        assert!(SignedTx::decode_bytes(&vec![0u8; TX_SIZE_MAX + 1]).is_err());
        let mut bad_tag = bytes.to_vec();
        let tag_at = 1 + 8 + 32 + 8 + 16; // chain id "alx-test" is 1 + 8 bytes
        bad_tag[tag_at] = 9;
        assert!(
            Transaction::decode(commonware_codec::Copying(&bad_tag[..bad_tag.len() - 64])).is_err()
        );
    }

    #[test]
    fn register_validator_round_trips_both_ip_families() {
        for addr in ["127.0.0.1:7701", "[2001:db8::7]:65535"] {
            let payload = Payload::RegisterValidator { p2p_addr: addr.parse().unwrap() };
            let bytes = payload.encode();
            assert_eq!(bytes.len(), payload.encode_size());
            assert_eq!(Payload::decode(bytes.clone()).unwrap(), payload);
            // the IP family tag is the second byte: anything but 4 or 6 is refused
            let mut bad = bytes.to_vec();
            bad[1] = 5;
            assert!(Payload::decode(commonware_codec::Copying(&bad[..])).is_err());
        }
    }
}
