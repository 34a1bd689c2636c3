//! Account addresses: the 32 bytes of an ed25519 public key. Their text form is bech32m with
//! the human-readable part `alx` (`alx1…`), so a mistyped address is caught by its checksum.
//!
//! An address is kept as raw bytes: decoding a transaction never pays for point decompression
//! of a recipient. A sender's key is decompressed when its signature is checked, and a
//! recipient's only when it names an account the chain does not hold yet (see `alx-state`).

use bech32::{Bech32m, Hrp, primitives::decode::CheckedHrpstring};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt as _, Write};
use commonware_cryptography::ed25519::PublicKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// The human-readable part of every address.
pub const ADDRESS_HRP: &str = "alx";

/// An account address (ed25519 public key bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 32]);

/// Why a text address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// Not bech32m, or its checksum does not match.
    #[error("not a valid alx1… address: {0}")]
    Bech32(String),
    /// A valid bech32m string of another chain or kind.
    #[error("address has prefix {0:?}, expected \"alx\"")]
    WrongPrefix(String),
    /// The payload is not 32 bytes.
    #[error("address payload is {0} bytes, expected 32")]
    WrongLength(usize),
}

impl Address {
    /// The address of a public key.
    #[must_use]
    pub fn from_public_key(key: &PublicKey) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(key.as_ref());
        Self(out)
    }

    /// The public key, or `None` if these bytes are not a key the chain accepts: a point's
    /// canonical encoding, not of small order (see [`crate::strict`]).
    #[must_use]
    pub fn to_public_key(&self) -> Option<PublicKey> {
        if !self.is_strict_key() {
            return None;
        }
        PublicKey::read(&mut commonware_codec::Copying(&self.0)).ok()
    }

    /// True if only the holder of a private key can sign for this address: funds sent to an
    /// address that is not are lost (no key) or anyone's (a small-order key).
    #[must_use]
    pub fn is_strict_key(&self) -> bool {
        crate::strict::is_strict_point(&self.0)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hrp is a valid constant and 32 bytes always fit bech32m's length limit.
        let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
        match bech32::encode::<Bech32m>(hrp, &self.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "0x{}", hex::encode(self.0)),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let checked = CheckedHrpstring::new::<Bech32m>(text.trim())
            .map_err(|e| AddressError::Bech32(e.to_string()))?;
        let hrp = checked.hrp();
        if hrp.as_str() != ADDRESS_HRP {
            return Err(AddressError::WrongPrefix(hrp.to_string()));
        }
        let data: Vec<u8> = checked.byte_iter().collect();
        let bytes: [u8; 32] =
            data.as_slice().try_into().map_err(|_| AddressError::WrongLength(data.len()))?;
        Ok(Self(bytes))
    }
}

impl Write for Address {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl Read for Address {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl FixedSize for Address {
    const SIZE: usize = 32;
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    #[test]
    fn text_round_trip_and_checksum() {
        let key = PrivateKey::from_seed(7).public_key();
        let address = Address::from_public_key(&key);
        let text = address.to_string();
        assert!(text.starts_with("alx1"), "{text}");
        assert_eq!(text.parse::<Address>().unwrap(), address);
        assert_eq!(address.to_public_key().unwrap(), key);

        // Flip one character: the checksum catches it.
        let mut bad: Vec<char> = text.chars().collect();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == 'q' { 'p' } else { 'q' };
        let bad: String = bad.into_iter().collect();
        assert!(matches!(bad.parse::<Address>(), Err(AddressError::Bech32(_))));

        let other = bech32::encode::<Bech32m>(Hrp::parse("cosmos").unwrap(), &[0u8; 32]).unwrap();
        assert_eq!(other.parse::<Address>(), Err(AddressError::WrongPrefix("cosmos".into())));
        let short = bech32::encode::<Bech32m>(Hrp::parse("alx").unwrap(), &[0u8; 20]).unwrap();
        assert_eq!(short.parse::<Address>(), Err(AddressError::WrongLength(20)));
    }
}
