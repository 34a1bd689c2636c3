//! The weights store: one file per subnet and committing address holding the weights and the
//! salt of the outstanding commit, so that a process that dies between a commit and its
//! reveal reveals after a restart.
//!
//! ```text
//! <dir>/<subnet>-<address>.json   {"subnet", "uid", "dests", "values", "salt" (64 hex)}   0600
//! ```
//!
//! A file is replaced in one step (write a temporary file, flush it, rename it over the old
//! one, flush the directory), so a reader finds the old weights or the new ones, never a part,
//! and a file that [`WeightsStore::save`] returned from survives a power cut. Files are read as
//! hostile input: bounded size, known fields only, equal lengths.

use crate::NeuronError;
use alx_types::{
    Address, Hash,
    subnet::{Salt, SubnetId, UIDS_MAX, Uid, weights_commit},
};
use serde::{Deserialize, Serialize};
use std::{
    io::Read as _,
    path::{Path, PathBuf},
};

/// Largest file read back (256 pairs take under 4 KiB).
const FILE_LEN_MAX: u64 = 64 << 10;

/// Weights committed and not yet revealed: everything the reveal needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingWeights {
    /// The subnet.
    pub subnet: SubnetId,
    /// The committer's uid.
    pub uid: Uid,
    /// Destination uids.
    pub dests: Vec<Uid>,
    /// One weight per destination.
    pub values: Vec<u16>,
    /// The secret that hides the weights until the reveal (hex).
    #[serde(with = "salt_hex")]
    pub salt: Salt,
}

impl PendingWeights {
    /// The commit these weights reveal.
    #[must_use]
    pub fn commit(&self) -> Hash {
        weights_commit(self.subnet, self.uid, &self.dests, &self.values, &self.salt)
    }
}

/// A directory of pending weights (`<home>/weights` for the CLI).
#[derive(Clone, Debug)]
pub struct WeightsStore {
    dir: PathBuf,
}

impl WeightsStore {
    /// The store in `dir` (created on the first save, 0700).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where `address`'s pending weights in `subnet` are kept.
    #[must_use]
    pub fn path(&self, subnet: SubnetId, address: &Address) -> PathBuf {
        self.dir.join(format!("{subnet}-{address}.json"))
    }

    /// The pending weights of `address` in `subnet`, if any.
    pub fn load(
        &self,
        subnet: SubnetId,
        address: &Address,
    ) -> Result<Option<PendingWeights>, NeuronError> {
        let path = self.path(subnet, address);
        let Some(bytes) = read_bounded(&path)? else { return Ok(None) };
        let bad = |reason: String| NeuronError::BadStoreFile { path: path.clone(), reason };
        let pending: PendingWeights =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if pending.dests.len() != pending.values.len()
            || pending.dests.len() > usize::from(UIDS_MAX)
        {
            return Err(bad("malformed weights".into()));
        }
        if pending.subnet != subnet {
            return Err(bad(format!("it holds weights for subnet {}", pending.subnet)));
        }
        Ok(Some(pending))
    }

    /// Saves `pending` as `address`'s, durably, before the caller sends its commit. Returns
    /// what the file held before, for [`WeightsStore::restore`].
    pub fn save(
        &self,
        address: &Address,
        pending: &PendingWeights,
    ) -> Result<Option<Vec<u8>>, NeuronError> {
        let path = self.path(pending.subnet, address);
        let previous = read_bounded(&path)?;
        let bytes = serde_json::to_vec_pretty(pending)
            .map_err(|e| NeuronError::BadStoreFile { path: path.clone(), reason: e.to_string() })?;
        write_private(&path, &bytes).map_err(|source| NeuronError::Io { path, source })?;
        Ok(previous)
    }

    /// Puts back what a file held before a [`WeightsStore::save`] whose commit never reached
    /// the chain (`None`: there was no file).
    pub fn restore(
        &self,
        subnet: SubnetId,
        address: &Address,
        previous: Option<Vec<u8>>,
    ) -> Result<(), NeuronError> {
        let path = self.path(subnet, address);
        let put_back = match previous {
            Some(bytes) => write_private(&path, &bytes),
            None => remove(&path),
        };
        put_back.map_err(|source| NeuronError::Io { path, source })
    }

    /// Deletes `address`'s pending weights in `subnet` (revealed, expired, or not on chain).
    pub fn remove(&self, subnet: SubnetId, address: &Address) -> Result<(), NeuronError> {
        let path = self.path(subnet, address);
        remove(&path).map_err(|source| NeuronError::Io { path, source })
    }
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, NeuronError> {
    let io = |source| NeuronError::Io { path: path.to_owned(), source };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(FILE_LEN_MAX + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > FILE_LEN_MAX {
        return Err(NeuronError::BadStoreFile {
            path: path.to_owned(),
            reason: format!("over {FILE_LEN_MAX} bytes"),
        });
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to a fresh 0600 file next to `path`, flushes it, renames it over `path`,
/// and flushes the directory so that the rename is durable too.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // A directory can be opened and synced on unix; elsewhere the rename is as durable as
    // the platform makes it.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A salt as 64 hex characters.
mod salt_hex {
    use alx_types::subnet::Salt;
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(salt: &Salt, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(salt))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Salt, D::Error> {
        let text = String::deserialize(d)?;
        let mut salt = [0u8; 32];
        hex::decode_to_slice(&text, &mut salt)
            .map_err(|e| D::Error::custom(format!("salt is not 64 hex characters: {e}")))?;
        Ok(salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_weights_round_trip_privately_and_refuse_junk() {
        let dir = tempfile::tempdir().unwrap();
        let store = WeightsStore::new(dir.path().join("weights"));
        let me = Address([9; 32]);
        assert_eq!(store.load(SubnetId(3), &me).unwrap(), None);
        let pending = PendingWeights {
            subnet: SubnetId(3),
            uid: 1,
            dests: vec![0, 2],
            values: vec![7, 9],
            salt: [5; 32],
        };
        assert_eq!(store.save(&me, &pending).unwrap(), None);
        assert_eq!(store.load(SubnetId(3), &me).unwrap(), Some(pending.clone()));
        assert_eq!(pending.commit(), weights_commit(SubnetId(3), 1, &[0, 2], &[7, 9], &[5; 32]));
        let path = store.path(SubnetId(3), &me);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // A second save returns the first file, and restoring puts it back.
        let second = PendingWeights { salt: [6; 32], ..pending.clone() };
        let previous = store.save(&me, &second).unwrap();
        store.restore(SubnetId(3), &me, previous).unwrap();
        assert_eq!(store.load(SubnetId(3), &me).unwrap(), Some(pending));
        for junk in [
            "{",
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[1],"salt":"00"}"#,
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[],"salt":"SALT"}"#,
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[1],"salt":"SALT","extra":1}"#,
            r#"{"subnet":4,"uid":1,"dests":[0],"values":[1],"salt":"SALT"}"#,
        ] {
            std::fs::write(&path, junk.replace("SALT", &"ab".repeat(32))).unwrap();
            let err = store.load(SubnetId(3), &me).unwrap_err();
            assert_eq!(err.code(), "bad_weights_file", "{junk}");
        }
        std::fs::write(&path, vec![b' '; 70_000]).unwrap();
        assert!(store.load(SubnetId(3), &me).is_err(), "oversized");
        store.remove(SubnetId(3), &me).unwrap();
        store.remove(SubnetId(3), &me).unwrap();
        assert_eq!(store.load(SubnetId(3), &me).unwrap(), None);
        store.restore(SubnetId(3), &me, None).unwrap();
    }
}
