//! The key file, version 1: its JSON shape, and sealing a private key into it.
//!
//! ```text
//! {
//!   "version": 1,
//!   "name": "alice",
//!   "address": "alx1…",
//!   "encrypted": true,
//!   "kdf": { "algorithm": "argon2id", "m_cost": 19456, "t_cost": 2, "p_cost": 1, "salt": "<hex>" },
//!   "cipher": { "algorithm": "xchacha20poly1305", "nonce": "<hex, 24 bytes>" },
//!   "ciphertext": "<hex, 32-byte ed25519 seed + 16-byte tag>"
//! }
//! ```
//!
//! Sealing: `k = Argon2id(passphrase, salt)`, then
//! `ciphertext = XChaCha20Poly1305(k, nonce, plaintext = key seed, aad = the 32 address bytes)`.
//! A key without a passphrase (`"encrypted": false`) is sealed the same way with the empty
//! passphrase, so there is one file shape; the flag only tells a wallet not to prompt.
//!
//! Reading treats the file as hostile: its size is bounded, every field is checked (lengths,
//! algorithms, KDF costs) before use, and after decryption the key must match its address.

use crate::{
    error::{KeystoreError, Result},
    kdf::KdfParams,
    mnemonic::private_key_from_seed,
};
use alx_types::Address;
use chacha20poly1305::{AeadInOut as _, KeyInit as _, Tag, XChaCha20Poly1305, XNonce};
use commonware_codec::Write as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The only key file version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The largest key file read, in bytes. A real one is about 500 bytes.
pub const KEY_FILE_LEN_MAX: u64 = 16 * 1024;

const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "xchacha20poly1305";
/// Salt length of new files; files may carry any salt in `SALT_LEN_MIN..=SALT_LEN_MAX`.
const SALT_LEN: usize = 16;
const SALT_LEN_MIN: usize = 8;
const SALT_LEN_MAX: usize = 64;
const NONCE_LEN: usize = 24;
const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
const CIPHERTEXT_LEN: usize = SEED_LEN + TAG_LEN;

/// The JSON text of a key file, field for field.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    version: u32,
    name: String,
    address: String,
    encrypted: bool,
    kdf: KdfJson,
    cipher: CipherJson,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    algorithm: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherJson {
    algorithm: String,
    nonce: String,
}

/// Read first, so a file of another version gets a clear error instead of a field mismatch.
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<u64>,
}

/// A checked key file: every field well-formed, the private key still sealed.
pub(crate) struct KeyFile {
    pub(crate) name: String,
    pub(crate) address: Address,
    pub(crate) encrypted: bool,
    kdf: KdfParams,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: [u8; CIPHERTEXT_LEN],
}

impl KeyFile {
    /// Seals `key` under `passphrase` (`None`: the empty passphrase, `"encrypted": false`).
    pub(crate) fn seal(
        name: &str,
        key: &PrivateKey,
        passphrase: Option<&str>,
        kdf: KdfParams,
    ) -> Result<Self> {
        let address = Address::from_public_key(&key.public_key());
        let mut salt = vec![0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut salt).map_err(KeystoreError::Randomness)?;
        getrandom::fill(&mut nonce).map_err(KeystoreError::Randomness)?;
        let cipher = cipher(&*kdf.derive_key(passphrase.unwrap_or(""), &salt)?);

        let mut sealed = Zeroizing::new([0u8; SEED_LEN]);
        key.write(&mut &mut sealed[..]);
        let tag = cipher
            .encrypt_inout_detached(&XNonce::from(nonce), &address.0, (&mut sealed[..]).into())
            .unwrap_or_else(|e| unreachable!("32 bytes are never too long to encrypt: {e}"));
        let mut ciphertext = [0u8; CIPHERTEXT_LEN];
        ciphertext[..SEED_LEN].copy_from_slice(&sealed[..]);
        ciphertext[SEED_LEN..].copy_from_slice(&tag);
        Ok(Self {
            name: name.to_owned(),
            address,
            encrypted: passphrase.is_some(),
            kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts the private key. A key stored without a passphrase ignores `passphrase`.
    ///
    /// # Errors
    /// [`KeystoreError::WrongPassphrase`] if an encrypted key does not authenticate, and
    /// [`KeystoreError::Corrupt`] if a key without a passphrase does not, or if the decrypted key
    /// does not match the file's address.
    pub(crate) fn unseal(&self, passphrase: &str) -> Result<PrivateKey> {
        let passphrase = if self.encrypted { passphrase } else { "" };
        let cipher = cipher(&*self.kdf.derive_key(passphrase, &self.salt)?);
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        seed.copy_from_slice(&self.ciphertext[..SEED_LEN]);
        let tag = Tag::try_from(&self.ciphertext[SEED_LEN..])
            .unwrap_or_else(|_| unreachable!("the tag is {TAG_LEN} bytes"));
        let nonce = XNonce::from(self.nonce);
        if cipher
            .decrypt_inout_detached(&nonce, &self.address.0, (&mut seed[..]).into(), &tag)
            .is_err()
        {
            return Err(if self.encrypted {
                KeystoreError::WrongPassphrase(self.name.clone())
            } else {
                KeystoreError::corrupt(&self.name, "the sealed key does not authenticate")
            });
        }
        let key = private_key_from_seed(&seed);
        if Address::from_public_key(&key.public_key()) != self.address {
            return Err(KeystoreError::corrupt(
                &self.name,
                "the sealed key does not match the address",
            ));
        }
        Ok(key)
    }

    /// Parses and checks the bytes of the file of key `name`.
    ///
    /// # Errors
    /// [`KeystoreError::Corrupt`] saying what is wrong; never a panic, whatever the bytes.
    pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| KeystoreError::corrupt(name, reason);
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a key file: {e}")))?;
        match probe.version {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(corrupt(format!(
                    "unsupported version {v}, this build reads version {FORMAT_VERSION}"
                )));
            }
            None => return Err(corrupt("missing field `version`".into())),
        }
        let json: KeyFileJson =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if json.name != name {
            return Err(corrupt(format!("the file holds key {:?}", json.name)));
        }
        let address =
            json.address.parse::<Address>().map_err(|e| corrupt(format!("address: {e}")))?;
        if json.kdf.algorithm != KDF_ALGORITHM {
            return Err(corrupt(format!("unsupported kdf {:?}", json.kdf.algorithm)));
        }
        let kdf = KdfParams::new(json.kdf.m_cost, json.kdf.t_cost, json.kdf.p_cost)
            .map_err(|e| corrupt(e.to_string()))?;
        let salt = hex::decode(&json.kdf.salt).map_err(|e| corrupt(format!("kdf.salt: {e}")))?;
        if !(SALT_LEN_MIN..=SALT_LEN_MAX).contains(&salt.len()) {
            return Err(corrupt(format!(
                "kdf.salt is {} bytes, expected {SALT_LEN_MIN} to {SALT_LEN_MAX}",
                salt.len()
            )));
        }
        if json.cipher.algorithm != CIPHER_ALGORITHM {
            return Err(corrupt(format!("unsupported cipher {:?}", json.cipher.algorithm)));
        }
        let mut nonce = [0u8; NONCE_LEN];
        hex::decode_to_slice(&json.cipher.nonce, &mut nonce)
            .map_err(|e| corrupt(format!("cipher.nonce: {e}")))?;
        let mut ciphertext = [0u8; CIPHERTEXT_LEN];
        hex::decode_to_slice(&json.ciphertext, &mut ciphertext)
            .map_err(|e| corrupt(format!("ciphertext: {e}")))?;
        Ok(Self {
            name: json.name,
            address,
            encrypted: json.encrypted,
            kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// The file's bytes: pretty JSON and a final newline.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let json = KeyFileJson {
            version: FORMAT_VERSION,
            name: self.name.clone(),
            address: self.address.to_string(),
            encrypted: self.encrypted,
            kdf: KdfJson {
                algorithm: KDF_ALGORITHM.into(),
                m_cost: self.kdf.m_cost_kib(),
                t_cost: self.kdf.t_cost(),
                p_cost: self.kdf.p_cost(),
                salt: hex::encode(&self.salt),
            },
            cipher: CipherJson {
                algorithm: CIPHER_ALGORITHM.into(),
                nonce: hex::encode(self.nonce),
            },
            ciphertext: hex::encode(self.ciphertext),
        };
        let mut out = serde_json::to_vec_pretty(&json)
            .unwrap_or_else(|e| unreachable!("strings and integers always serialize: {e}"));
        out.push(b'\n');
        out
    }
}

/// The cipher keyed with a 32-byte key from the KDF.
fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("xchacha20poly1305 keys are 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;
    use serde_json::{Value, json};

    fn params() -> KdfParams {
        KdfParams::new(64, 1, 1).unwrap()
    }

    fn sealed(passphrase: Option<&str>) -> (PrivateKey, Value) {
        let key = PrivateKey::from_seed(3);
        let file = KeyFile::seal("k", &key, passphrase, params()).unwrap();
        (key, serde_json::from_slice(&file.encode()).unwrap())
    }

    fn decode(value: &Value) -> Result<KeyFile> {
        KeyFile::decode("k", &serde_json::to_vec(value).unwrap())
    }

    /// `edit` applied to a valid file gives a `Corrupt` error whose reason contains `expect`.
    fn check_corrupt(edit: impl FnOnce(&mut Value), expect: &str) {
        let (_, mut value) = sealed(Some("pw"));
        edit(&mut value);
        match decode(&value) {
            Err(KeystoreError::Corrupt { name, reason }) => {
                assert_eq!(name, "k");
                assert!(reason.contains(expect), "{reason:?} lacks {expect:?}");
            }
            Err(other) => panic!("expected Corrupt({expect}), got {other:?}"),
            Ok(_) => panic!("expected Corrupt({expect}), got a key"),
        }
    }

    #[test]
    fn round_trip_with_and_without_passphrase() {
        for passphrase in [Some("correct horse"), None] {
            let (key, value) = sealed(passphrase);
            assert_eq!(value["encrypted"], json!(passphrase.is_some()));
            assert_eq!(value["kdf"]["m_cost"], json!(64));
            let file = decode(&value).unwrap();
            assert_eq!(file.address, Address::from_public_key(&key.public_key()));
            assert_eq!(file.unseal(passphrase.unwrap_or("")).unwrap().encode(), key.encode());
        }
        // A key without a passphrase ignores whatever passphrase it is given.
        let (key, value) = sealed(None);
        let unsealed = decode(&value).unwrap().unseal("anything").unwrap();
        assert_eq!(unsealed.encode(), key.encode());
    }

    #[test]
    fn wrong_passphrase_and_tampering() {
        let (_, value) = sealed(Some("pw"));
        assert!(matches!(
            decode(&value).unwrap().unseal("pW"),
            Err(KeystoreError::WrongPassphrase(name)) if name == "k"
        ));
        // Another valid address: the associated data no longer matches.
        let (_, mut value) = sealed(Some("pw"));
        let other = Address::from_public_key(&PrivateKey::from_seed(4).public_key());
        value["address"] = json!(other.to_string());
        assert!(matches!(
            decode(&value).unwrap().unseal("pw"),
            Err(KeystoreError::WrongPassphrase(_))
        ));
        // A key without a passphrase that fails to authenticate is corrupt.
        let (_, mut value) = sealed(None);
        let mut text = value["ciphertext"].as_str().unwrap().to_owned();
        text.replace_range(0..2, if &text[0..2] == "00" { "01" } else { "00" });
        value["ciphertext"] = json!(text);
        assert!(matches!(decode(&value).unwrap().unseal(""), Err(KeystoreError::Corrupt { .. })));
    }

    #[test]
    fn hostile_files_are_corrupt_not_panics() {
        for bytes in [
            &b""[..],
            b"{",
            b"null",
            b"[]",
            b"\xff\xfe garbage",
            b"{\"version\": \"1\"}",
            &[b'['; 10_000],
        ] {
            assert!(matches!(KeyFile::decode("k", bytes), Err(KeystoreError::Corrupt { .. })));
        }
        let (_, value) = sealed(Some("pw"));
        let full = serde_json::to_vec(&value).unwrap();
        for len in 0..full.len() {
            assert!(KeyFile::decode("k", &full[..len]).is_err(), "truncated to {len}");
        }

        check_corrupt(|v| v["version"] = json!(2), "unsupported version 2");
        check_corrupt(|v| drop(v.as_object_mut().unwrap().remove("version")), "missing");
        check_corrupt(|v| drop(v.as_object_mut().unwrap().remove("kdf")), "missing field `kdf`");
        check_corrupt(|v| v["extra"] = json!(1), "unknown field");
        check_corrupt(|v| v["name"] = json!("other"), "holds key \"other\"");
        check_corrupt(|v| v["address"] = json!("alx1nope"), "address");
        check_corrupt(|v| v["kdf"]["algorithm"] = json!("scrypt"), "unsupported kdf");
        check_corrupt(|v| v["kdf"]["m_cost"] = json!(u32::MAX), "m_cost");
        check_corrupt(|v| v["kdf"]["t_cost"] = json!(1_000_000), "t_cost");
        check_corrupt(|v| v["kdf"]["p_cost"] = json!(0), "p_cost");
        check_corrupt(|v| v["kdf"]["m_cost"] = json!(-1), "expected u32");
        check_corrupt(|v| v["kdf"]["salt"] = json!("zz"), "kdf.salt");
        check_corrupt(|v| v["kdf"]["salt"] = json!("00"), "kdf.salt is 1 bytes");
        check_corrupt(|v| v["cipher"]["algorithm"] = json!("aes"), "unsupported cipher");
        check_corrupt(|v| v["cipher"]["nonce"] = json!("0011"), "cipher.nonce");
        check_corrupt(|v| v["ciphertext"] = json!(""), "ciphertext");
        check_corrupt(|v| v["ciphertext"] = json!("ab".repeat(49)), "ciphertext");
    }
}
