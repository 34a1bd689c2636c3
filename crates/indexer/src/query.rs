//! Queries over version snapshots: attribution of a text, and a contribution's coverage (what
//! reviewers look at before approving).

use crate::DatanetIndexes;
use alx_attribution::{
    AttributionConfig, IndexError, MIN_SPAN_BYTES_DEFAULT, NEAR_DUPLICATE_BPS_DEFAULT,
};
use alx_blobs::{BlobError, ingest};
use alx_state::{ContributionStatus, CorruptState, State};
pub use alx_types::attribution_api::{
    AttributionReport, ContributionCoverage, ReportShare, ReportSpan,
};
use alx_types::datanet::{ContributionId, DatanetId};
use std::collections::BTreeSet;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No such datanet.
    #[error("datanet {0} does not exist")]
    UnknownDatanet(DatanetId),
    /// No such contribution.
    #[error("datanet {datanet} has no contribution {contribution}")]
    UnknownContribution {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
    },
    /// The version is not published, or not indexed here yet.
    #[error("version {version} of datanet {datanet} is not indexed on this node")]
    NotIndexed {
        /// The datanet.
        datanet: DatanetId,
        /// The version.
        version: u32,
    },
    /// The contribution's blob is not held here.
    #[error("the content of contribution {contribution} is not stored on this node")]
    MissingBlob {
        /// The contribution.
        contribution: ContributionId,
    },
    /// The contribution's content is not text.
    #[error("the content cannot be read as text: {0}")]
    Unreadable(#[from] ingest::IngestError),
    /// A bad query (text not UTF-8, span length out of range, …) or a damaged index.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] CorruptState),
    /// The blob store failed.
    #[error(transparent)]
    Blobs(#[from] BlobError),
    /// A thread panicked while holding the cache.
    #[error("index cache poisoned")]
    Poisoned,
}

impl QueryError {
    /// Whether the caller's input caused the failure (a 4xx rather than a 5xx).
    #[must_use]
    pub const fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::UnknownDatanet(_)
                | Self::UnknownContribution { .. }
                | Self::NotIndexed { .. }
                | Self::MissingBlob { .. }
                | Self::Unreadable(_)
                | Self::Index(
                    IndexError::Query(_) | IndexError::NotUtf8 { .. } | IndexError::TooLarge { .. }
                )
        )
    }
}

impl DatanetIndexes {
    /// Attributes `text` to version `version` of `datanet` (default: the latest indexed).
    pub fn attribute(
        &self,
        state: &State,
        datanet: DatanetId,
        version: Option<u32>,
        text: &str,
        min_len: Option<usize>,
    ) -> Result<AttributionReport, QueryError> {
        if state.datanet(datanet)?.is_none() {
            return Err(QueryError::UnknownDatanet(datanet));
        }
        let version = version.unwrap_or_else(|| self.indexed_version(datanet));
        let index = self.version(datanet, version)?;
        let config = AttributionConfig {
            min_len: min_len.unwrap_or(MIN_SPAN_BYTES_DEFAULT),
            ..AttributionConfig::DEFAULT
        };
        let excluded: BTreeSet<alx_attribution::ContributionId> = Self::flagged(state, datanet)?
            .into_iter()
            .filter(|(_, flagged)| *flagged)
            .map(|(id, _)| alx_attribution::ContributionId(id.0))
            .collect();
        let a = index.searcher().attribute_excluding(text, &config, &excluded)?;
        let mut covered = vec![false; text.len()];
        for s in &a.spans {
            covered.get_mut(s.start..s.end).into_iter().flatten().for_each(|b| *b = true);
        }
        let in_spans: BTreeSet<alx_attribution::ContributionId> =
            a.spans.iter().flat_map(|s| s.sources.iter().map(|x| x.contribution)).collect();
        Ok(AttributionReport {
            datanet,
            version,
            min_len: config.min_len,
            text_bytes: text.len(),
            covered_bytes: covered.iter().filter(|b| **b).count(),
            spans: a
                .spans
                .iter()
                .map(|s| ReportSpan {
                    start: s.start,
                    end: s.end,
                    count: s.count,
                    weight: s.weight,
                    contributions: s
                        .sources
                        .iter()
                        .map(|x| ContributionId(x.contribution.0))
                        .collect(),
                })
                .collect(),
            contributions: a
                .contributions
                .iter()
                .map(|c| ReportShare { id: c.contribution.0.to_string(), bps: c.bps })
                .collect(),
            contributors: a
                .contributors
                .iter()
                .map(|c| ReportShare { id: c.contributor.clone().unwrap_or_default(), bps: c.bps })
                .collect(),
            excluded: excluded.intersection(&in_spans).map(|c| ContributionId(c.0)).collect(),
        })
    }

    /// How much of contribution `contribution` the version before it already holds: the
    /// latest indexed version for a pending one, the version before its first for an
    /// approved one.
    pub async fn coverage(
        &self,
        state: &State,
        datanet: DatanetId,
        contribution: ContributionId,
    ) -> Result<ContributionCoverage, QueryError> {
        if state.datanet(datanet)?.is_none() {
            return Err(QueryError::UnknownDatanet(datanet));
        }
        let c = state
            .contribution(datanet, contribution)?
            .ok_or(QueryError::UnknownContribution { datanet, contribution })?;
        let version = match c.status {
            ContributionStatus::Approved => c.first_version.saturating_sub(1),
            _ => self.indexed_version(datanet),
        };
        let bytes = self
            .blobs
            .get_verified(&c.content.hash)
            .await?
            .ok_or(QueryError::MissingBlob { contribution })?;
        let docs = ingest::documents(c.content.media_type, &bytes)?;
        let total: u64 = docs.iter().map(|d| d.len() as u64).sum();
        let mut covered = 0u64;
        if version > 0 {
            // Windowed over the whole text: a contribution of any size is measured.
            let index = self.version(datanet, version)?;
            let searcher = index.searcher();
            let mut tally = std::collections::BTreeMap::new();
            for doc in &docs {
                covered += searcher
                    .sourced_coverage(doc, MIN_SPAN_BYTES_DEFAULT, &mut tally)?
                    .covered_bytes;
            }
        }
        let bps = if total == 0 {
            0
        } else {
            u32::try_from(u128::from(covered) * 10_000 / u128::from(total)).unwrap_or(10_000)
        };
        Ok(ContributionCoverage {
            datanet,
            contribution,
            version,
            covered_bytes: covered,
            total_bytes: total,
            bps,
            near_duplicate: total > 0 && bps >= NEAR_DUPLICATE_BPS_DEFAULT,
        })
    }
}
