//! Retrieval for retrieval-augmented models: the passages of a datanet version relevant to a
//! question, by the integer BM25 of [`alx_attribution::retrieval`] over the version's
//! documents (the same bytes the attribution index holds, so a citation always points at
//! indexed content).
//!
//! A version's inverted index is built on its first query and kept with the open snapshot, so
//! a query costs a few posting-list reads, not a scan of the datanet.

use crate::{DatanetIndexes, QueryError};
use alx_attribution::{DocKey, RetrievalConfig, RetrievalIndex};
use alx_types::datanet::{ContributionId, DatanetId};
use std::sync::Arc;

/// A retrieved passage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passage {
    /// The contribution.
    pub contribution: ContributionId,
    /// Its document within the contribution.
    pub ordinal: u32,
    /// Who contributed it.
    pub contributor: String,
    /// Its retrieval score (integer BM25, see `alx_attribution::retrieval`).
    pub score: u64,
    /// The passage text.
    pub text: String,
}

impl DatanetIndexes {
    /// The retrieval index of version `version` of `datanet`, built on first use.
    pub fn retrieval(
        &self,
        datanet: DatanetId,
        version: u32,
    ) -> Result<Arc<RetrievalIndex>, QueryError> {
        let open = self.open_version(datanet, version)?;
        Ok(open
            .retrieval
            .get_or_init(|| {
                let searcher = open.index.searcher();
                let mut documents: Vec<(DocKey, Option<&str>, &str)> = Vec::new();
                for seg in searcher.segments() {
                    let (text, table) = (seg.text(), seg.docs());
                    for i in 0..table.len() {
                        let start = usize::try_from(table.start(i)).unwrap_or(usize::MAX);
                        let end = if i + 1 < table.len() {
                            usize::try_from(table.start(i + 1)).unwrap_or(usize::MAX)
                        } else {
                            text.len()
                        };
                        // Each document is followed by its separator byte.
                        let Some(bytes) = text.get(start..end.saturating_sub(1)) else {
                            continue;
                        };
                        let Ok(doc) = std::str::from_utf8(bytes) else { continue };
                        documents.push((table.key(i), table.contributor(i), doc));
                    }
                }
                Arc::new(RetrievalIndex::build(documents))
            })
            .clone())
    }

    /// The passages of version `version` of `datanet` relevant to `query`, best first, at most
    /// `config.k` (none when nothing in the version is relevant).
    pub fn retrieve(
        &self,
        datanet: DatanetId,
        version: u32,
        query: &str,
        config: &RetrievalConfig,
    ) -> Result<Vec<Passage>, QueryError> {
        let index = self.retrieval(datanet, version)?;
        Ok(index
            .search(query, config)
            .into_iter()
            .filter_map(|hit| {
                let p = index.passage(hit)?;
                Some(Passage {
                    contribution: ContributionId(p.key.contribution.0),
                    ordinal: p.key.ordinal,
                    contributor: p.contributor.clone().unwrap_or_default(),
                    score: hit.score,
                    text: p.text.clone(),
                })
            })
            .collect())
    }
}
