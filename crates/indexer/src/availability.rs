//! A validator's verdict on a contribution's data (the rules: `alx_types::availability`): the
//! bytes against the declared hash and size, their text against the declared media type, the
//! hash of their normalized text, and how much of them the datanet held at the version the
//! contribution was offered against, with its main source.
//!
//! Every step is a pure function of the blob and that version's index, which every node builds
//! alike, so honest validators report the same verdict and anyone can recheck one.

use crate::{DatanetIndexes, QueryError};
use alx_attribution::{MIN_SPAN_BYTES_DEFAULT, coverage::main_source};
use alx_blobs::ingest;
use alx_state::Contribution;
use alx_types::{
    availability::DataVerdict,
    datanet::{ContributionId, DatanetId},
};
use std::collections::BTreeMap;

impl DatanetIndexes {
    /// The verdict on contribution `c` of `datanet` from its `bytes` (which hash to its content
    /// hash), or `None` while the version it is measured against is not indexed here yet.
    pub fn data_verdict(
        &self,
        datanet: DatanetId,
        c: &Contribution,
        bytes: &[u8],
    ) -> Result<Option<DataVerdict>, QueryError> {
        let actual = bytes.len() as u64;
        if actual != c.content.size {
            return Ok(Some(DataVerdict::WrongSize { actual }));
        }
        let Ok(documents) = ingest::documents(c.content.media_type, bytes) else {
            return Ok(Some(DataVerdict::Unreadable));
        };
        let text_hash = ingest::text_hash(&documents);
        let against_version = c.base_version;
        if against_version == 0 {
            return Ok(Some(DataVerdict::Held {
                text_hash,
                coverage_bps: 0,
                covered_by: None,
                against_version,
            }));
        }
        if self.indexed_version(datanet) < against_version {
            return Ok(None);
        }
        let index = self.version(datanet, against_version)?;
        let searcher = index.searcher();
        let mut tally = BTreeMap::new();
        let (mut covered, mut total) = (0u64, 0u64);
        for doc in &documents {
            let c = searcher.sourced_coverage(doc, MIN_SPAN_BYTES_DEFAULT, &mut tally)?;
            covered += c.covered_bytes;
            total += c.total_bytes;
        }
        let bps = if total == 0 { 0 } else { u128::from(covered) * 10_000 / u128::from(total) };
        Ok(Some(DataVerdict::Held {
            text_hash,
            coverage_bps: u16::try_from(bps.min(10_000)).unwrap_or(10_000),
            covered_by: main_source(&tally).map(|(id, _)| ContributionId(id.0)),
            against_version,
        }))
    }
}

impl DatanetIndexes {
    /// How much of flagged contribution `c` of `datanet` (its text from `bytes`) the original
    /// its flag names covers, in basis points of its bytes: spans of the original found in it,
    /// measured against the last version without `c` (so its own text cannot cover it). `None`
    /// when this node cannot measure it: no flag, that version not indexed here, or the
    /// original not in it (an original that entered the same version as its copy cannot be
    /// measured this way).
    pub fn flag_coverage(
        &self,
        state: &alx_state::State,
        datanet: DatanetId,
        c: &Contribution,
        bytes: &[u8],
    ) -> Result<Option<u16>, QueryError> {
        let Some(copies) = c.copy_of else { return Ok(None) };
        let Some(original) = state.contribution(datanet, copies)? else { return Ok(None) };
        // The last version without it: before the one it entered, or (not in any version yet)
        // the one it was offered against. Chosen by the chain's records, so every validator
        // measures against the same version.
        let indexed = self.indexed_version(datanet);
        let version = if c.first_version == 0 { c.base_version } else { c.first_version - 1 };
        if original.first_version == 0 || original.first_version > version || indexed < version {
            return Ok(None);
        }
        let Ok(documents) = ingest::documents(c.content.media_type, bytes) else {
            return Ok(Some(0));
        };
        let index = self.version(datanet, version)?;
        let searcher = index.searcher();
        let mut tally = BTreeMap::new();
        let mut total = 0u64;
        for doc in &documents {
            total +=
                searcher.sourced_coverage(doc, MIN_SPAN_BYTES_DEFAULT, &mut tally)?.total_bytes;
        }
        let by_original =
            tally.iter().find(|(id, _)| id.0 == copies.0).map_or(0, |(_, bytes)| *bytes);
        let bps = if total == 0 { 0 } else { u128::from(by_original) * 10_000 / u128::from(total) };
        Ok(Some(u16::try_from(bps.min(10_000)).unwrap_or(10_000)))
    }
}
