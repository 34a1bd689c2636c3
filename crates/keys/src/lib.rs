//! The wallet keystore: key generation, derivation and encrypted storage.
//!
//! # Derivation
//!
//! A new key starts as a 24-word BIP39 English mnemonic (256 bits from the operating system's
//! random number generator). The account key is derived from it as:
//!
//! ```text
//! mnemonic ──BIP39, empty passphrase──▶ 64-byte seed
//!          ──SLIP-10 ed25519, m/44'/7700'/0'/0'/0'──▶ 32-byte ed25519 seed
//!          ──RFC 8032──▶ PrivateKey ──▶ PublicKey ──▶ Address (alx1…)
//! ```
//!
//! SLIP-10 is implemented in [`slip10`] and checked against the specification's test vector, so
//! the same phrase gives the same address in any SLIP-10 wallet using this path.
//!
//! # Storage
//!
//! A keystore is a directory (mode 0700) of key files `<name>.json` (mode 0600), one per key.
//! A file holds the name, the address, an `encrypted` flag, Argon2id parameters and salt, an
//! XChaCha20Poly1305 nonce, and the ciphertext of the 32-byte ed25519 seed (never the mnemonic),
//! with the address as associated data. See [`keyfile`] for the exact shape.
//! Dev keys (`encrypted: false`) are sealed with the empty passphrase, so every file has the
//! same shape and no key is ever written in plaintext.
//!
//! Writes are atomic and never overwrite an existing key. Reads treat the file as hostile: size,
//! fields and KDF costs are bounded, and no content makes this crate panic.
//!
//! ```
//! use alx_keys::{KdfParams, Keystore};
//! # fn main() -> Result<(), alx_keys::KeystoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! // Cheap KDF parameters keep this example fast; real wallets use the default.
//! let store = Keystore::open(dir.path())?.with_kdf_params(KdfParams::new(64, 1, 1)?);
//! let (info, mnemonic) = store.create("alice", Some("correct horse"))?;
//! assert!(info.address.to_string().starts_with("alx1"));
//! assert_eq!(mnemonic.word_count(), 24);
//! assert!(store.needs_passphrase("alice")?);
//! let key = store.unlock("alice", "correct horse")?;
//! # let _ = key;
//! # Ok(())
//! # }
//! ```
//!
//! # Secrets
//!
//! Mnemonics, seeds and derived encryption keys are zeroed when dropped ([`zeroize`]). Neither
//! [`Mnemonic`] nor [`PrivateKey`] prints its secret through `Debug`, and no error message
//! carries a passphrase or a word of a mnemonic.
//!
//! [`PrivateKey`]: commonware_cryptography::ed25519::PrivateKey

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod error;
pub mod kdf;
pub mod keyfile;
pub mod mnemonic;
pub mod slip10;
pub mod store;

pub use error::{KeystoreError, Result};
pub use kdf::KdfParams;
pub use keyfile::FORMAT_VERSION;
pub use mnemonic::{DERIVATION_PATH, MNEMONIC_WORDS, Mnemonic};
pub use store::{
    KEYS_MAX, KeyInfo, KeyList, Keystore, NAME_LEN_MAX, PASSPHRASE_LEN_MAX, validate_name,
};
