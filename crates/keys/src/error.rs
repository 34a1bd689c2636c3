//! The one error type of the keystore.
//!
//! No variant ever carries secret material: a mnemonic error names the position of a bad word,
//! never the word, and a passphrase error names the key, never the passphrase.

use std::{io, path::PathBuf};

/// Why a keystore operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// There is no key file with this name.
    #[error("no key named {0:?}")]
    NotFound(String),
    /// A key with this name exists already; keys are never overwritten.
    #[error("a key named {0:?} already exists")]
    AlreadyExists(String),
    /// The name is not 1-64 characters of `[A-Za-z0-9_-]`.
    #[error("invalid key name {0:?}: use 1-64 characters from A-Z, a-z, 0-9, '_' and '-'")]
    InvalidName(String),
    /// The passphrase does not decrypt the key (or the key file was altered).
    #[error("wrong passphrase for key {0:?}")]
    WrongPassphrase(String),
    /// `Some("")` was given as a passphrase; a key without a passphrase is asked for with `None`.
    #[error("the passphrase is empty; create a key without a passphrase instead")]
    EmptyPassphrase,
    /// The passphrase of a new key is longer than [`crate::PASSPHRASE_LEN_MAX`] bytes.
    #[error("the passphrase is longer than {max} bytes")]
    PassphraseTooLong {
        /// The bound that was exceeded.
        max: usize,
    },
    /// The text is not a valid English BIP39 mnemonic.
    #[error("invalid mnemonic: {0}")]
    InvalidMnemonic(String),
    /// A key file exists but cannot be read as a version 1 key file.
    #[error("key file {name:?} is corrupt: {reason}")]
    Corrupt {
        /// The key name, taken from the file name.
        name: String,
        /// What is wrong with the file.
        reason: String,
    },
    /// Argon2id parameters outside the range this keystore accepts.
    #[error("invalid kdf parameters: {0}")]
    InvalidKdfParams(String),
    /// The directory holds more key files than [`crate::KEYS_MAX`].
    #[error("keystore holds more than {max} key files")]
    TooManyKeys {
        /// The bound that was exceeded.
        max: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Randomness(#[source] getrandom::Error),
    /// A file system operation failed.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl KeystoreError {
    /// An [`KeystoreError::Io`] error for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A [`KeystoreError::Corrupt`] error for key `name`.
    pub(crate) fn corrupt(name: &str, reason: impl Into<String>) -> Self {
        Self::Corrupt { name: name.to_owned(), reason: reason.into() }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = KeystoreError> = std::result::Result<T, E>;
