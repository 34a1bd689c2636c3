//! Upload grants: an account's signed permission for a node to store one blob.
//!
//! A node stores bytes only for someone who answers for them: an account that signs for the
//! exact blob (its hash and size) and holds funds, or an API key of that node. The signature
//! binds the chain, the bytes and an expiry height, so a grant cannot be replayed elsewhere or
//! later, nor stretched to other content.
//!
//! ```text
//! message   = NAMESPACE_UPLOAD ‖ chain id ‖ blob hash (32) ‖ size (u64 BE) ‖ expires_at (u64 BE)
//! header    x-alx-upload: <alx1… address>:<hash hex>:<size>:<expires_at>:<signature hex>
//! ```

use crate::{Address, ChainId, Hash, Height, hash::to_hex};
use commonware_codec::{Encode as _, ReadExt as _};
use commonware_cryptography::{
    Signer as _, Verifier as _,
    ed25519::{PrivateKey, Signature},
};

/// Namespace of upload grants: a grant never verifies as a transaction, and the reverse.
pub const NAMESPACE_UPLOAD: &[u8] = b"_ALX_UPLOAD";
/// The HTTP header that carries a grant.
pub const UPLOAD_GRANT_HEADER: &str = "x-alx-upload";
/// Longest a grant may stay valid, in blocks from the node's current height (about an hour at
/// one block a second): a client asks for a few minutes; a grant for a far-off height is
/// refused rather than trusted for long.
pub const GRANT_BLOCKS_MAX: u64 = 3_600;

/// A signed permission to store one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadGrant {
    /// Who answers for the bytes.
    pub uploader: Address,
    /// BLAKE3 of the bytes.
    pub hash: Hash,
    /// Their size.
    pub size: u64,
    /// The last height at which the grant is good.
    pub expires_at: Height,
    /// The uploader's signature over the message above.
    pub signature: Signature,
}

fn message(chain_id: &ChainId, hash: &Hash, size: u64, expires_at: Height) -> Vec<u8> {
    let mut m = Vec::with_capacity(80);
    m.extend_from_slice(&chain_id.encode());
    m.extend_from_slice(&hash.0);
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(&expires_at.0.to_be_bytes());
    m
}

impl UploadGrant {
    /// Signs a grant for `hash` (`size` bytes) on `chain_id`, good up to `expires_at`.
    #[must_use]
    pub fn sign(
        key: &PrivateKey,
        chain_id: &ChainId,
        hash: Hash,
        size: u64,
        expires_at: Height,
    ) -> Self {
        let signature = key.sign(NAMESPACE_UPLOAD, &message(chain_id, &hash, size, expires_at));
        Self {
            uploader: Address::from_public_key(&key.public_key()),
            hash,
            size,
            expires_at,
            signature,
        }
    }

    /// True if the uploader signed it for `chain_id`, under the strict rule of
    /// [`crate::strict`].
    #[must_use]
    pub fn verify(&self, chain_id: &ChainId) -> bool {
        let Some(key) = self.uploader.to_public_key() else { return false };
        crate::strict::is_strict_signature(self.signature.as_ref())
            && key.verify(
                NAMESPACE_UPLOAD,
                &message(chain_id, &self.hash, self.size, self.expires_at),
                &self.signature,
            )
    }

    /// The header value.
    #[must_use]
    pub fn to_header(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.uploader,
            to_hex(&self.hash),
            self.size,
            self.expires_at,
            hex::encode(self.signature.as_ref())
        )
    }

    /// Parses a header value (structure only: call [`Self::verify`]).
    pub fn from_header(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.trim().split(':').collect();
        let [uploader, hash, size, expires_at, signature] = parts[..] else {
            return Err("expected ADDRESS:HASH:SIZE:EXPIRES_AT:SIGNATURE".into());
        };
        let uploader: Address = uploader.parse().map_err(|e| format!("uploader: {e}"))?;
        let hash = crate::hash::parse_hex(hash).ok_or("hash: not 64 hex characters")?;
        let size = size.parse().map_err(|_| "size: not a number")?;
        let expires_at = expires_at.parse().map_err(|_| "expires_at: not a number")?;
        let raw = hex::decode(signature).map_err(|_| "signature: not hex")?;
        let signature = Signature::read(&mut commonware_codec::Copying(raw.as_slice()))
            .map_err(|_| "signature: not 64 bytes")?;
        if raw.len() != 64 {
            return Err("signature: not 64 bytes".into());
        }
        Ok(Self { uploader, hash, size, expires_at, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_verify_round_trip_and_bind_everything() {
        let key = PrivateKey::from_seed(3);
        let chain: ChainId = "alx-test".parse().unwrap();
        let hash = crate::hash::sha256(&[b"bytes"]);
        let grant = UploadGrant::sign(&key, &chain, hash, 5, Height(100));
        assert!(grant.verify(&chain));
        let back = UploadGrant::from_header(&grant.to_header()).unwrap();
        assert_eq!(back, grant);
        assert!(!grant.verify(&"alx-other".parse().unwrap()), "another chain");
        for altered in [
            UploadGrant { size: 6, ..grant.clone() },
            UploadGrant { expires_at: Height(101), ..grant.clone() },
            UploadGrant { hash: crate::hash::ZERO, ..grant.clone() },
            UploadGrant {
                uploader: Address::from_public_key(&PrivateKey::from_seed(4).public_key()),
                ..grant.clone()
            },
        ] {
            assert!(!altered.verify(&chain), "{altered:?}");
        }
        // A small-order "uploader" with a forged signature is refused like any weak key.
        let weak = crate::strict::SMALL_ORDER_ENCODINGS[0];
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&weak);
        let forged = UploadGrant {
            uploader: Address(weak),
            signature: Signature::read(&mut commonware_codec::Copying(&raw[..])).unwrap(),
            ..grant
        };
        assert!(!forged.verify(&chain));
        for bad in ["", "a:b", "alx1x:00:1:2:00", &format!("{}:zz:1:2:00", forged.uploader)] {
            assert!(UploadGrant::from_header(bad).is_err(), "{bad}");
        }
    }
}
