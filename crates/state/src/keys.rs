//! The layout of chain state in the authenticated map: one key prefix per record kind, and the
//! canonical encoding of each record.
//!
//! ```text
//! 0x01 ‖ address                                   → Account
//! 0x02 ‖ address                                   → Validator
//! 0x03 ‖ delegator ‖ validator                     → Amount (bonded)
//! 0x04 ‖ mature_height (BE) ‖ delegator ‖ nonce    → Unbonding
//! 0x05 ‖ name                                      → chain-wide values (params, supply, set)
//! 0x06 ‖ address                                   → SocketAddr (a validator's p2p endpoint)
//! ```
//! Big-endian heights make the unbonding queue iterate in maturity order.

use alx_types::{Address, Amount, Height};
use bytes::BufMut as _;
use commonware_codec::{
    DecodeExt as _, Encode as _, EncodeSize, Error as CodecError, Read, ReadExt as _, Write,
};

pub(crate) const PREFIX_ACCOUNT: u8 = 0x01;
pub(crate) const PREFIX_VALIDATOR: u8 = 0x02;
pub(crate) const PREFIX_DELEGATION: u8 = 0x03;
pub(crate) const PREFIX_UNBONDING: u8 = 0x04;
pub(crate) const PREFIX_GLOBAL: u8 = 0x05;
pub(crate) const PREFIX_P2P_ADDR: u8 = 0x06;

/// The state key of an account.
#[must_use]
pub fn account_key(address: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(PREFIX_ACCOUNT);
    k.extend_from_slice(address.as_bytes());
    k
}

pub(crate) fn validator_key(address: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(PREFIX_VALIDATOR);
    k.extend_from_slice(address.as_bytes());
    k
}

pub(crate) fn delegation_key(delegator: &Address, validator: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(PREFIX_DELEGATION);
    k.extend_from_slice(delegator.as_bytes());
    k.extend_from_slice(validator.as_bytes());
    k
}

pub(crate) fn unbonding_key(mature: Height, delegator: &Address, nonce: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(49);
    k.push(PREFIX_UNBONDING);
    k.put_u64(mature.0);
    k.extend_from_slice(delegator.as_bytes());
    k.put_u64(nonce);
    k
}

pub(crate) fn p2p_addr_key(address: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(PREFIX_P2P_ADDR);
    k.extend_from_slice(address.as_bytes());
    k
}

/// The state key of a chain-wide value.
#[must_use]
pub fn global_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(PREFIX_GLOBAL);
    k.extend_from_slice(name.as_bytes());
    k
}

/// An account record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Spendable balance.
    pub balance: Amount,
    /// Next nonce.
    pub nonce: u64,
    /// Stake bonded, over all validators.
    pub bonded: Amount,
    /// Stake unbonding, over all entries.
    pub unbonding: Amount,
    /// Number of pending unbonding entries.
    pub unbonding_count: u32,
}

impl Write for Account {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.balance.write(buf);
        self.nonce.write(buf);
        self.bonded.write(buf);
        self.unbonding.write(buf);
        self.unbonding_count.write(buf);
    }
}

impl EncodeSize for Account {
    fn encode_size(&self) -> usize {
        16 + 8 + 16 + 16 + 4
    }
}

impl Read for Account {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            balance: Amount::read(buf)?,
            nonce: u64::read(buf)?,
            bonded: Amount::read(buf)?,
            unbonding: Amount::read(buf)?,
            unbonding_count: u32::read(buf)?,
        })
    }
}

/// A validator candidate's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Validator {
    /// Total stake delegated to it (including its own).
    pub stake: Amount,
    /// Height it registered at.
    pub registered_at: Height,
}

impl Write for Validator {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.stake.write(buf);
        self.registered_at.write(buf);
    }
}

impl EncodeSize for Validator {
    fn encode_size(&self) -> usize {
        16 + 8
    }
}

impl Read for Validator {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { stake: Amount::read(buf)?, registered_at: Height::read(buf)? })
    }
}

/// An unbonding entry: `amount` returns to `delegator`'s balance at the height in its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unbonding {
    /// The validator the stake left.
    pub validator: Address,
    /// The amount.
    pub amount: Amount,
}

impl Write for Unbonding {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.validator.write(buf);
        self.amount.write(buf);
    }
}

impl EncodeSize for Unbonding {
    fn encode_size(&self) -> usize {
        32 + 16
    }
}

impl Read for Unbonding {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { validator: Address::read(buf)?, amount: Amount::read(buf)? })
    }
}

/// Encodes a record.
pub(crate) fn encode<T: Write + EncodeSize>(value: &T) -> Vec<u8> {
    value.encode().to_vec()
}

/// Decodes a record this crate wrote. State is only ever written by this crate, so a decode
/// failure means corrupted storage: the caller treats it as fatal, never as input.
pub(crate) fn decode<T: Read<Cfg = ()>>(bytes: &[u8]) -> Result<T, CodecError> {
    T::decode(commonware_codec::Copying(bytes))
}
