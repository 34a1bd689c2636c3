//! The keystore directory: one `<name>.json` key file per key.
//!
//! Writes are atomic and never replace a key: the file is written under a temporary name in the
//! same directory, flushed to disk, then hard-linked to `<name>.json` (which fails if that name
//! exists, even when two writers race) and the temporary name removed. A plain `rename` would
//! silently replace a key created between the existence check and the rename.

use crate::{
    error::{KeystoreError, Result},
    kdf::KdfParams,
    keyfile::{KEY_FILE_LEN_MAX, KeyFile},
    mnemonic::Mnemonic,
};
use alx_types::Address;
use commonware_cryptography::ed25519::PrivateKey;
use serde::Serialize;
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read as _, Write as _},
    path::{Path, PathBuf},
};

/// The longest key name, in characters.
pub const NAME_LEN_MAX: usize = 64;

/// The most key files [`Keystore::list`] reads.
pub const KEYS_MAX: usize = 10_000;

/// The longest passphrase accepted for a new key, in bytes.
pub const PASSPHRASE_LEN_MAX: usize = 1024;

/// The public facts of a stored key; reading them needs no passphrase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The key's name, which is also its file name without `.json`.
    pub name: String,
    /// The account address (`alx1…`).
    pub address: Address,
    /// Whether unlocking needs a passphrase. `false` for dev keys.
    pub encrypted: bool,
}

/// What [`Keystore::list`] found: the readable keys and, separately, the files that could not
/// be read, so one bad file neither hides the other keys nor goes unnoticed.
#[derive(Debug, Default)]
pub struct KeyList {
    /// Readable keys, sorted by name.
    pub keys: Vec<KeyInfo>,
    /// One error per unreadable key file (usually [`KeystoreError::Corrupt`]), sorted by name.
    pub errors: Vec<KeystoreError>,
}

/// A directory of encrypted key files.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
    kdf: KdfParams,
}

impl Keystore {
    /// Opens the keystore in `dir`, creating the directory (mode 0700 on unix) if it is missing.
    /// New keys are sealed with [`KdfParams::RECOMMENDED`].
    ///
    /// # Errors
    /// [`KeystoreError::Io`] if `dir` cannot be created or is not a directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
                return Err(KeystoreError::io(dir, source));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_private_dir(&dir)?,
            Err(e) => return Err(KeystoreError::io(dir, e)),
        }
        Ok(Self { dir, kdf: KdfParams::RECOMMENDED })
    }

    /// The same keystore, sealing new keys with `kdf` instead. Existing keys keep the
    /// parameters stored in their files.
    #[must_use]
    pub const fn with_kdf_params(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    /// The keystore directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of key `name`'s file (which may not exist).
    ///
    /// # Errors
    /// [`KeystoreError::InvalidName`] if `name` is not a valid key name.
    pub fn key_path(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Generates a 24-word mnemonic and stores its key under `name`, sealed with `passphrase`
    /// (`None`: a dev key, unlocked without a prompt). The mnemonic is returned to be shown to
    /// the user once; it is not stored.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidName`], [`KeystoreError::AlreadyExists`],
    /// [`KeystoreError::EmptyPassphrase`], [`KeystoreError::PassphraseTooLong`],
    /// [`KeystoreError::Randomness`] or [`KeystoreError::Io`].
    pub fn create(&self, name: &str, passphrase: Option<&str>) -> Result<(KeyInfo, Mnemonic)> {
        // Checked before generating, so a taken name is refused before a mnemonic is shown.
        self.check_new(name, passphrase)?;
        let mnemonic = Mnemonic::generate()?;
        let info = self.store(name, &mnemonic.private_key(), passphrase)?;
        Ok((info, mnemonic))
    }

    /// Stores the key of an existing mnemonic under `name` (see [`Keystore::create`]).
    ///
    /// # Errors
    /// [`KeystoreError::InvalidMnemonic`], and the errors of [`Keystore::create`].
    pub fn import_mnemonic(
        &self,
        name: &str,
        phrase: &str,
        passphrase: Option<&str>,
    ) -> Result<KeyInfo> {
        self.check_new(name, passphrase)?;
        let mnemonic = Mnemonic::parse(phrase)?;
        self.store(name, &mnemonic.private_key(), passphrase)
    }

    /// Stores `key` under `name` (see [`Keystore::create`]).
    ///
    /// # Errors
    /// The errors of [`Keystore::create`].
    pub fn import_private_key(
        &self,
        name: &str,
        key: &PrivateKey,
        passphrase: Option<&str>,
    ) -> Result<KeyInfo> {
        self.store(name, key, passphrase)
    }

    /// Every key in the directory, sorted by name. Files that are not `<valid name>.json`
    /// (temporary files among them) are skipped; key files that cannot be read are reported in
    /// [`KeyList::errors`].
    ///
    /// # Errors
    /// [`KeystoreError::Io`] if the directory cannot be read, [`KeystoreError::TooManyKeys`]
    /// past [`KEYS_MAX`] key files.
    pub fn list(&self) -> Result<KeyList> {
        let entries = fs::read_dir(&self.dir).map_err(|e| KeystoreError::io(&self.dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| KeystoreError::io(&self.dir, e))?;
            let file_name = entry.file_name();
            // A name that is not UTF-8 cannot be a valid key name.
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if validate_name(name).is_err() {
                continue;
            }
            if names.len() == KEYS_MAX {
                return Err(KeystoreError::TooManyKeys { max: KEYS_MAX });
            }
            names.push(name.to_owned());
        }
        names.sort_unstable();
        let mut list = KeyList::default();
        for name in names {
            match self.read(&name) {
                Ok(file) => list.keys.push(info_of(&file)),
                Err(e) => list.errors.push(e),
            }
        }
        Ok(list)
    }

    /// The name, address and encrypted flag of key `name`; needs no passphrase.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidName`], [`KeystoreError::NotFound`], [`KeystoreError::Corrupt`]
    /// or [`KeystoreError::Io`].
    pub fn info(&self, name: &str) -> Result<KeyInfo> {
        Ok(info_of(&self.read(name)?))
    }

    /// Whether unlocking key `name` needs a passphrase (false for dev keys).
    ///
    /// # Errors
    /// The errors of [`Keystore::info`].
    pub fn needs_passphrase(&self, name: &str) -> Result<bool> {
        Ok(self.info(name)?.encrypted)
    }

    /// Decrypts key `name`. For a key stored without a passphrase, `passphrase` is ignored
    /// (pass `""`).
    ///
    /// # Errors
    /// [`KeystoreError::WrongPassphrase`], and the errors of [`Keystore::info`].
    pub fn unlock(&self, name: &str, passphrase: &str) -> Result<PrivateKey> {
        self.read(name)?.unseal(passphrase)
    }

    /// Refuses a bad name, an empty or overlong passphrase, or a name already taken.
    fn check_new(&self, name: &str, passphrase: Option<&str>) -> Result<()> {
        let path = self.key_path(name)?;
        match passphrase {
            Some("") => return Err(KeystoreError::EmptyPassphrase),
            Some(p) if p.len() > PASSPHRASE_LEN_MAX => {
                return Err(KeystoreError::PassphraseTooLong { max: PASSPHRASE_LEN_MAX });
            }
            _ => {}
        }
        match fs::symlink_metadata(&path) {
            Ok(_) => Err(KeystoreError::AlreadyExists(name.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KeystoreError::io(path, e)),
        }
    }

    /// Seals `key` and writes it as a new key file.
    fn store(&self, name: &str, key: &PrivateKey, passphrase: Option<&str>) -> Result<KeyInfo> {
        self.check_new(name, passphrase)?;
        let file = KeyFile::seal(name, key, passphrase, self.kdf)?;
        self.write_new(name, &file.encode())?;
        Ok(info_of(&file))
    }

    /// Reads and checks key `name`'s file, without decrypting it.
    fn read(&self, name: &str) -> Result<KeyFile> {
        let path = self.key_path(name)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeystoreError::NotFound(name.to_owned()));
            }
            Err(e) => return Err(KeystoreError::io(path, e)),
        };
        let mut bytes = Vec::new();
        file.take(KEY_FILE_LEN_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| KeystoreError::io(&path, e))?;
        if bytes.len() as u64 > KEY_FILE_LEN_MAX {
            return Err(KeystoreError::corrupt(
                name,
                format!("the file is larger than {KEY_FILE_LEN_MAX} bytes"),
            ));
        }
        KeyFile::decode(name, &bytes)
    }

    /// Writes `bytes` as `<name>.json` atomically, failing if that file exists.
    fn write_new(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.key_path(name)?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(KeystoreError::Randomness)?;
        // The leading dot makes the name an invalid key name, so `list` never reads it.
        let tmp = self.dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
        let result = write_private_file(&tmp, bytes).and_then(|()| link_new(&tmp, &path));
        // The temporary name is removed on success (the key lives on under its own name) and on
        // failure; if removal fails too, a stray `.tmp` file is harmless and `list` skips it.
        let _ = fs::remove_file(&tmp);
        match result {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(KeystoreError::AlreadyExists(name.to_owned()))
            }
            Err(e) => Err(KeystoreError::io(path, e)),
        }
    }
}

/// Checks that `name` is 1-[`NAME_LEN_MAX`] characters of `[A-Za-z0-9_-]`, which keeps it a
/// plain file name on every platform (no separators, no dot files, no `..`).
///
/// # Errors
/// [`KeystoreError::InvalidName`] with the name, cut to [`NAME_LEN_MAX`] characters.
pub fn validate_name(name: &str) -> Result<()> {
    let valid = (1..=NAME_LEN_MAX).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    let mut shown: String = name.chars().take(NAME_LEN_MAX).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    Err(KeystoreError::InvalidName(shown))
}

fn info_of(file: &KeyFile) -> KeyInfo {
    KeyInfo { name: file.name.clone(), address: file.address, encrypted: file.encrypted }
}

/// Creates `dir` and any missing parents, readable only by the owner on unix.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| KeystoreError::io(dir, e))
}

/// Creates `path` (which must not exist) readable only by the owner, writes `bytes` and flushes
/// them to disk.
fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Gives the file at `tmp` the name `path`, failing with `AlreadyExists` if `path` exists.
fn link_new(tmp: &Path, path: &Path) -> io::Result<()> {
    match fs::hard_link(tmp, path) {
        // A file system without hard links: check, then rename. Only here can a racing writer
        // of the same name slip in between the two steps.
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(tmp, path)
        }
        other => other,
    }
}

/// Flushes the directory entry of a new file, so the key survives a crash right after `create`.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| KeystoreError::io(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "alice", "Bob_2", "dev-key", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in
            ["", &"x".repeat(65), "a.b", "../x", "a/b", "a b", ".hidden", "é", "a\0b", "con:"]
        {
            assert!(matches!(validate_name(bad), Err(KeystoreError::InvalidName(_))), "{bad:?}");
        }
        let Err(KeystoreError::InvalidName(shown)) = validate_name(&"y".repeat(1000)) else {
            panic!("expected InvalidName");
        };
        assert_eq!(shown.chars().count(), NAME_LEN_MAX + 1);
    }
}
