//! The 32-byte digest used for block ids, transaction ids and Merkle roots (SHA-256, which this
//! machine's CPUs accelerate and which the consensus engine already uses).

use commonware_cryptography::{Hasher as _, Sha256};

/// A SHA-256 digest.
pub type Hash = commonware_cryptography::sha256::Digest;

/// Hashes the concatenation of `parts`.
#[must_use]
pub fn sha256(parts: &[&[u8]]) -> Hash {
    Sha256::hash(parts)
}

/// The all-zero digest, used as the parent of the genesis block.
pub const ZERO: Hash = commonware_cryptography::sha256::Digest([0u8; 32]);

/// Parses a digest from 64 hex characters (an optional `0x` prefix is accepted).
pub fn parse_hex(text: &str) -> Option<Hash> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(commonware_cryptography::sha256::Digest(out))
}

/// Formats a digest as 64 lowercase hex characters.
#[must_use]
pub fn to_hex(hash: &Hash) -> String {
    hex::encode(hash.as_ref())
}

/// Serde for a [`Hash`] as hex: `#[serde(with = "alx_types::hash::serde_hex")]`.
pub mod serde_hex {
    use super::{Hash, parse_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex.
    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(h))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        parse_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// Serde for an `Option<Hash>` as hex or null.
pub mod serde_hex_opt {
    use super::{Hash, parse_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex or null.
    pub fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&to_hex(h)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from hex or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| {
                parse_hex(&t).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
            })
            .transpose()
    }
}

/// Serde for a `[Hash; 2]` as a list of two hex strings.
pub mod serde_hex_pair {
    use super::Hash;
    use serde::{Deserializer, Serializer};

    /// Serializes as a list of two hex strings.
    pub fn serialize<S: Serializer>(v: &[Hash; 2], s: S) -> Result<S::Ok, S::Error> {
        super::serde_hex_vec::serialize(v, s)
    }

    /// Deserializes from a list of exactly two hex strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Hash; 2], D::Error> {
        let v = super::serde_hex_vec::deserialize(d)?;
        <[Hash; 2]>::try_from(v).map_err(|_| serde::de::Error::custom("expected two hashes"))
    }
}

/// Serde for a `Vec<Hash>` as a list of hex strings.
pub mod serde_hex_vec {
    use super::{Hash, parse_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq as _};

    /// Serializes as a list of hex strings.
    pub fn serialize<S: Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for h in v {
            seq.serialize_element(&to_hex(h))?;
        }
        seq.end()
    }

    /// Deserializes from a list of hex strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| parse_hex(t).ok_or_else(|| serde::de::Error::custom("expected hex hash")))
            .collect()
    }
}

/// Serde for a `Vec<(Hash, Hash)>` as a list of pairs of hex strings.
pub mod serde_hex_pairs {
    use super::{Hash, parse_hex, to_hex};
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq as _};

    /// Serializes as a list of `[hex, hex]`.
    pub fn serialize<S: Serializer>(v: &[(Hash, Hash)], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for (a, b) in v {
            seq.serialize_element(&[to_hex(a), to_hex(b)])?;
        }
        seq.end()
    }

    /// Deserializes from a list of `[hex, hex]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Hash, Hash)>, D::Error> {
        let bad = || serde::de::Error::custom("expected a pair of hex hashes");
        Vec::<[String; 2]>::deserialize(d)?
            .iter()
            .map(|[a, b]| Ok((parse_hex(a).ok_or_else(bad)?, parse_hex(b).ok_or_else(bad)?)))
            .collect()
    }
}

/// A digest from its 32 bytes.
#[must_use]
pub const fn from_bytes(bytes: [u8; 32]) -> Hash {
    commonware_cryptography::sha256::Digest(bytes)
}
