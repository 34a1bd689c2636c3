//! SLIP-0010 key derivation for ed25519 (<https://github.com/satoshilabs/slips/blob/master/slip-0010.md>).
//!
//! ```text
//! master:  I = HMAC-SHA512(key = "ed25519 seed", data = seed)
//!          k = I[0..32], c = I[32..64]
//! child i': I = HMAC-SHA512(key = c, data = 0x00 || k || ser32(i + 2^31))
//!          k = I[0..32], c = I[32..64]
//! ```
//!
//! ed25519 has only hardened children, so every index is hardened: `i` and `i + 2^31` name the
//! same child. The final `k` is a 32-byte ed25519 seed (RFC 8032 secret key).

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha512;
use zeroize::{Zeroize as _, Zeroizing};

/// The bit that marks a hardened index.
pub const HARDENED: u32 = 1 << 31;

/// The HMAC key of the master key derivation.
const MASTER_HMAC_KEY: &[u8] = b"ed25519 seed";

/// A private key and its chain code: one node of the derivation tree.
struct Node {
    key: Zeroizing<[u8; 32]>,
    chain_code: Zeroizing<[u8; 32]>,
}

impl Node {
    /// Splits `HMAC-SHA512(hmac_key, parts...)` into key and chain code.
    fn from_hmac(hmac_key: &[u8], parts: &[&[u8]]) -> Self {
        // HMAC accepts keys of any length, so this never fails.
        let mut mac = <Hmac<Sha512>>::new_from_slice(hmac_key)
            .unwrap_or_else(|_| unreachable!("hmac accepts keys of any length"));
        for part in parts {
            mac.update(part);
        }
        let mut out = mac.finalize().into_bytes();
        let mut key = Zeroizing::new([0u8; 32]);
        let mut chain_code = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&out[..32]);
        chain_code.copy_from_slice(&out[32..]);
        out.as_mut_slice().zeroize();
        Self { key, chain_code }
    }

    fn child(&self, index: u32) -> Self {
        let index = (index | HARDENED).to_be_bytes();
        Self::from_hmac(&self.chain_code[..], &[&[0u8], &self.key[..], &index])
    }
}

/// Derives the ed25519 seed at `path` (every index hardened) from a BIP39 seed.
#[must_use]
pub fn derive_ed25519(seed: &[u8], path: &[u32]) -> Zeroizing<[u8; 32]> {
    let mut node = Node::from_hmac(MASTER_HMAC_KEY, &[seed]);
    for &index in path {
        node = node.child(index);
    }
    node.key
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::ReadExt as _;
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    /// Checks the derived private key and public key (SLIP-10 writes it with a 0x00 prefix).
    fn check(seed: &str, path: &[u32], private: &str, public: &str) {
        let seed = hex::decode(seed).unwrap();
        let key = derive_ed25519(&seed, path);
        assert_eq!(hex::encode(*key), private, "private key at {path:?}");
        let signer = PrivateKey::read(&mut commonware_codec::Copying(&key[..])).unwrap();
        let public_key = signer.public_key();
        let public_hex = format!("00{}", hex::encode(public_key.as_ref()));
        assert_eq!(public_hex, public, "public key at {path:?}");
    }

    #[test]
    fn slip10_ed25519_test_vector_1() {
        let seed = "000102030405060708090a0b0c0d0e0f";
        let vectors: &[(&[u32], &str, &str)] = &[
            (
                &[],
                "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
                "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
            ),
            (
                &[0],
                "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
                "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
            ),
            (
                &[0, 1],
                "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
                "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
            ),
            (
                &[0, 1, 2],
                "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
                "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
            ),
            (
                &[0, 1, 2, 2],
                "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
                "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
            ),
            (
                &[0, 1, 2, 2, 1_000_000_000],
                "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
                "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
            ),
        ];
        for (path, private, public) in vectors {
            check(seed, path, private, public);
        }
    }

    #[test]
    fn hardened_bit_is_implied() {
        let seed = [7u8; 64];
        assert_eq!(
            *derive_ed25519(&seed, &[44, 7700]),
            *derive_ed25519(&seed, &[44 | HARDENED, 7700 | HARDENED]),
        );
        assert_ne!(*derive_ed25519(&seed, &[0]), *derive_ed25519(&seed, &[1]));
    }
}
