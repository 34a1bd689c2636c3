//! Bringing the indexes level with the committed state.

use crate::DatanetIndexes;
use alx_attribution::{DocKey, Document, Index, IndexError, MergePolicy, Sampling};
use alx_blobs::{BlobError, ingest};
use alx_state::{CorruptState, State};
use alx_types::{
    datanet::{ContributionId, DatanetId},
    hash::to_hex,
};
use std::{collections::BTreeMap, io::Write as _};
use tracing::{info, warn};

/// Segments per size tier before they are merged.
const MERGE_FAN_IN: usize = 4;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] CorruptState),
    /// An index could not be written.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The blob store failed.
    #[error(transparent)]
    Blobs(#[from] BlobError),
    /// Local disk I/O failed.
    #[error("{0}")]
    Io(String),
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// `(datanet, version)` snapshots built.
    pub versions: Vec<(DatanetId, u32)>,
    /// Documents added.
    pub documents: u64,
    /// Contributions whose blob this node does not hold yet: their datanets wait.
    pub missing: Vec<(DatanetId, ContributionId)>,
    /// Contributions whose blob is not ingestible text: indexed as nothing, never retried.
    pub unreadable: Vec<(DatanetId, ContributionId)>,
}

impl DatanetIndexes {
    /// Indexes every version the state has published and this node has not, in order. A
    /// datanet whose next version needs a blob this node lacks stops there (listed in
    /// `missing`) and is retried by the next sync; the others go on.
    pub fn sync(
        &self,
        state: &State,
        runtime: &tokio::runtime::Handle,
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        for datanet in (0..state.datanet_count()?).map(DatanetId) {
            let Some(record) = state.datanet(datanet)? else { continue };
            let mut indexed = self.indexed_version(datanet);
            while indexed < record.version {
                let version = indexed + 1;
                if !self.index_version(state, runtime, datanet, version, &mut report)? {
                    break;
                }
                indexed = version;
            }
        }
        Ok(report)
    }

    /// Returns false when a blob is missing (nothing was written).
    fn index_version(
        &self,
        state: &State,
        runtime: &tokio::runtime::Handle,
        datanet: DatanetId,
        version: u32,
        report: &mut SyncReport,
    ) -> Result<bool, SyncError> {
        let dir = self.datanet_dir(datanet);
        let live_dir = dir.join("live");
        let mut live = if live_dir.join("MANIFEST").exists() {
            Index::open(&live_dir)?
        } else {
            Index::create(&live_dir, Sampling::WordStarts)?
        };
        let mut docs = Vec::new();
        let mut unreadable = Vec::new();
        for (id, c) in state.version_contents(datanet, version)? {
            if live.contains(alx_attribution::ContributionId(id.0)) {
                continue;
            }
            let hash = c.content.hash;
            let bytes = runtime.block_on(async {
                // A quorum of validators held it when it was approved: fetch it from them.
                if !self.peers.is_empty() {
                    self.peers.fetch_into(&self.blobs, &hash).await?;
                }
                self.blobs.get_verified(&hash).await
            })?;
            let Some(bytes) = bytes else {
                let first = self.warned.lock().map_or(true, |mut w| w.insert((datanet, id)));
                if first {
                    warn!(%datanet, contribution = %id, blob = %to_hex(&hash), "blob not held here nor by any peer: the version waits (this warning is given once)");
                }
                report.missing.push((datanet, id));
                return Ok(false);
            };
            match ingest::documents(c.content.media_type, &bytes) {
                Ok(texts) => {
                    for (ordinal, text) in texts.into_iter().enumerate() {
                        docs.push(Document {
                            key: DocKey {
                                contribution: alx_attribution::ContributionId(id.0),
                                ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
                            },
                            contributor: Some(c.contributor.to_string()),
                            text,
                        });
                    }
                }
                Err(e) => {
                    // Approved yet unreadable (a curator's mistake): it can draw no share,
                    // and the version must not wait for it forever.
                    warn!(%datanet, contribution = %id, err = %e, "approved content is not text: indexed as empty");
                    unreadable.push((datanet, id));
                }
            }
        }
        report.documents += docs.len() as u64;
        live.append(&docs)?;
        live.merge(MergePolicy { fan_in: MERGE_FAN_IN })?;
        let snapshot = self.version_dir(datanet, version);
        if snapshot.exists() {
            // Left by a crash after the snapshot but before INDEXED moved: rebuild it.
            std::fs::remove_dir_all(&snapshot).map_err(|e| SyncError::Io(e.to_string()))?;
        }
        live.snapshot(&snapshot)?;
        write_indexed(&dir, version)?;
        report.unreadable.extend(unreadable);
        report.versions.push((datanet, version));
        info!(%datanet, version, documents = docs.len(), "datanet version indexed");
        Ok(true)
    }

    /// Which contributions of a datanet are flagged near-duplicates (they earn no share).
    pub(crate) fn flagged(
        state: &State,
        datanet: DatanetId,
    ) -> Result<BTreeMap<ContributionId, bool>, CorruptState> {
        Ok(state
            .contributions(datanet)?
            .into_iter()
            .map(|(id, c)| (id, c.near_duplicate))
            .collect())
    }
}

fn write_indexed(dir: &std::path::Path, version: u32) -> Result<(), SyncError> {
    let io = |e: std::io::Error| SyncError::Io(format!("{}: {e}", dir.display()));
    let tmp = dir.join("INDEXED.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(version.to_string().as_bytes()).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, dir.join("INDEXED")).map_err(io)
}
