//! A node's attribution indexes: one per published datanet version, built from the approved
//! contributions' blobs and kept in step with the committed chain.
//!
//! ```text
//! ROOT/<datanet>/live/          the growing index (segments appended version by version)
//! ROOT/<datanet>/v<N>/          version N: a snapshot of live (hard links, immutable)
//! ROOT/<datanet>/INDEXED        the last version snapshotted (a decimal number)
//! ```
//!
//! Version `N` holds exactly the contributions the state lists for it
//! ([`alx_state::State::version_contents`]), so every node that holds the blobs builds the same
//! documents, and the attribution of an output against version `N` is the same everywhere.
//! The indexer is the only writer of `ROOT`; queries read snapshots only.

#![forbid(unsafe_code)]

mod availability;
mod query;
mod retrieve;
mod sync;

pub use query::{AttributionReport, ContributionCoverage, QueryError, ReportShare, ReportSpan};
pub use retrieve::Passage;
pub use sync::{SyncError, SyncReport};

use alx_attribution::Index;
use alx_blobs::{BlobStore, Peers};
use alx_types::datanet::{ContributionId, DatanetId};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

/// Version snapshots kept open for queries; the oldest opened is closed beyond this.
const OPEN_VERSIONS_MAX: usize = 32;

/// An open version snapshot: its attribution index, and its retrieval index built on first use.
pub(crate) struct OpenVersion {
    pub(crate) index: Arc<Index>,
    pub(crate) retrieval: std::sync::OnceLock<Arc<alx_attribution::RetrievalIndex>>,
}

/// Open snapshots by `(datanet, version)`, with the tick of their last use.
type OpenVersions = BTreeMap<(DatanetId, u32), (u64, Arc<OpenVersion>)>;

/// The attribution indexes of every datanet version this node has built.
pub struct DatanetIndexes {
    root: PathBuf,
    blobs: BlobStore,
    /// Where blobs this node lacks are fetched from.
    peers: Peers,
    open: Mutex<OpenVersions>,
    opened: Mutex<u64>,
    /// Blobs already reported missing, so a waiting version warns once, not every block.
    warned: Mutex<BTreeSet<(DatanetId, ContributionId)>>,
}

impl std::fmt::Debug for DatanetIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatanetIndexes").field("root", &self.root).finish_non_exhaustive()
    }
}

impl DatanetIndexes {
    /// The indexes under `root` (created on first use), reading blobs from `blobs`.
    #[must_use]
    pub fn new(root: &Path, blobs: BlobStore) -> Self {
        Self {
            root: root.to_owned(),
            blobs,
            peers: Peers::none(),
            open: Mutex::new(BTreeMap::new()),
            opened: Mutex::new(0),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// Fetches blobs this node lacks from `peers`.
    #[must_use]
    pub fn with_peers(mut self, peers: Peers) -> Self {
        self.peers = peers;
        self
    }

    /// The peers blobs are fetched from.
    #[must_use]
    pub const fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The blob store the indexes are built from.
    #[must_use]
    pub const fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    fn datanet_dir(&self, datanet: DatanetId) -> PathBuf {
        self.root.join(datanet.to_string())
    }

    fn version_dir(&self, datanet: DatanetId, version: u32) -> PathBuf {
        self.datanet_dir(datanet).join(format!("v{version}"))
    }

    /// The last version of `datanet` indexed here (0: none).
    #[must_use]
    pub fn indexed_version(&self, datanet: DatanetId) -> u32 {
        std::fs::read_to_string(self.datanet_dir(datanet).join("INDEXED"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The snapshot of one version, opened once and shared.
    fn version(&self, datanet: DatanetId, version: u32) -> Result<Arc<Index>, QueryError> {
        Ok(self.open_version(datanet, version)?.index.clone())
    }

    /// The open snapshot of one version, with its lazily built retrieval index.
    pub(crate) fn open_version(
        &self,
        datanet: DatanetId,
        version: u32,
    ) -> Result<Arc<OpenVersion>, QueryError> {
        let key = (datanet, version);
        let mut open = self.open.lock().map_err(|_| QueryError::Poisoned)?;
        let mut clock = self.opened.lock().map_err(|_| QueryError::Poisoned)?;
        *clock += 1;
        if let Some((used, index)) = open.get_mut(&key) {
            *used = *clock;
            return Ok(index.clone());
        }
        if version == 0 || version > self.indexed_version(datanet) {
            return Err(QueryError::NotIndexed { datanet, version });
        }
        let index = Arc::new(OpenVersion {
            index: Arc::new(Index::open(&self.version_dir(datanet, version))?),
            retrieval: std::sync::OnceLock::new(),
        });
        if open.len() >= OPEN_VERSIONS_MAX
            && let Some(oldest) = open.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| *k)
        {
            open.remove(&oldest);
        }
        open.insert(key, (*clock, index.clone()));
        Ok(index)
    }
}
