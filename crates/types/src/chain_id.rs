//! The chain id: a short ASCII name (`alx-dev`, `alx-mainnet-1`) signed into every transaction,
//! so a transaction for one chain can never be replayed on another.

use crate::limits::CHAIN_ID_LEN_MAX;
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// A validated chain id: 1 to 32 bytes of `[a-z0-9-]`.
///
/// Stored inline (every transaction carries one, and transactions are decoded, cloned and
/// queued by the hundred thousand per second: no allocation each time).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainId {
    len: u8,
    bytes: [u8; CHAIN_ID_LEN_MAX],
}

/// Why a chain id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("chain id must be 1 to {CHAIN_ID_LEN_MAX} characters of a-z, 0-9 and '-': {0:?}")]
pub struct ChainIdError(pub String);

impl ChainId {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only `from_str` builds a chain id, from ASCII text: never the fallback.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl PartialOrd for ChainId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChainId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl FromStr for ChainId {
    type Err = ChainIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let ok = !text.is_empty()
            && text.len() <= CHAIN_ID_LEN_MAX
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(ChainIdError(text.to_owned()));
        }
        let mut bytes = [0u8; CHAIN_ID_LEN_MAX];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        // At most CHAIN_ID_LEN_MAX (32): fits in a byte.
        Ok(Self { len: text.len() as u8, bytes })
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Write for ChainId {
    fn write(&self, buf: &mut impl BufMut) {
        // Length fits in a byte: at most CHAIN_ID_LEN_MAX.
        buf.put_u8(self.len);
        buf.put_slice(&self.bytes[..usize::from(self.len)]);
    }
}

impl EncodeSize for ChainId {
    fn encode_size(&self) -> usize {
        1 + usize::from(self.len)
    }
}

impl Read for ChainId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len = usize::from(u8::read(buf)?);
        if len == 0 || len > CHAIN_ID_LEN_MAX {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut raw = [0u8; CHAIN_ID_LEN_MAX];
        buf.copy_to_slice(&mut raw[..len]);
        let text = std::str::from_utf8(&raw[..len])
            .map_err(|_| CodecError::Invalid("chain_id", "utf8"))?;
        text.parse().map_err(|_| CodecError::Invalid("chain_id", "characters"))
    }
}

impl Serialize for ChainId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChainId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
