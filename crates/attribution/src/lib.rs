//! Attribution index: which contributions an output quotes, and how much each is owed.
//!
//! An [`Index`] holds the UTF-8 text of a datanet version's documents in *segments*; each
//! segment has a compact suffix array over the text's raw bytes, so the index serves every
//! model whatever its tokenizer. It answers:
//!
//! - [`Searcher::count`]: exact occurrences of a substring;
//! - [`Searcher::documents`]: the documents containing it;
//! - [`Searcher::maximal_matches`]: every maximal span of an output of at least `L` bytes found
//!   in the index;
//! - [`Searcher::attribute`]: shares per contribution and per contributor, in integer basis
//!   points, with the spans as evidence (see [`shares`] for the formula);
//! - [`Searcher::coverage`]: how much of a new document the index already holds, for the
//!   near-duplicate rule.
//!
//! ```text
//!  append(batch) ──► new segment (text, SA, docs) ──► MANIFEST (temp + rename)
//!                          │ merge(policy): rebuild k small segments as one
//!                          ▼
//!  query ──► Searcher ──► every segment (binary searches) ──► sum / max / ordered union
//! ```
//!
//! Everything but [`Index`] (files, memory maps) is pure: same input, same output, on every
//! machine, however the corpus is split into segments.
//!
//! ```
//! use alx_attribution::{AttributionConfig, ContributionId, DocKey, Document, Sampling, SegmentData, Searcher};
//! let docs = vec![Document {
//!     key: DocKey { contribution: ContributionId(7), ordinal: 0 },
//!     contributor: Some("ada".into()),
//!     text: "the quick brown fox jumps over the lazy dog".into(),
//! }];
//! let seg = SegmentData::from_documents(&docs, Sampling::WordStarts)?;
//! let searcher = Searcher::new(vec![seg.view()], Sampling::WordStarts);
//! assert_eq!(searcher.count("the")?, 2);
//! let config = AttributionConfig { min_len: 16, ..AttributionConfig::DEFAULT };
//! let a = searcher.attribute("as they say, the quick brown fox jumps over it", &config)?;
//! assert_eq!(a.contributions[0].bps, 10_000);
//! # Ok::<(), alx_attribution::IndexError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod anchor;
pub mod coverage;
mod docs;
mod error;
mod manifest;
pub mod merge;
pub mod retrieval;
pub mod rule;
pub mod search;
pub mod segment;
pub mod shares;
mod store;

pub use anchor::Sampling;
pub use coverage::SourcedCoverage;
pub use docs::{CONTRIBUTOR_BYTES_MAX, DocTable};
pub use error::IndexError;
pub use retrieval::{Hit, RetrievalConfig, RetrievalIndex};
pub use search::{Coverage, MIN_SPAN_BYTES_DEFAULT, Match, QUERY_BYTES_MAX, Searcher};
pub use segment::{MERGED_SEGMENT_BYTES_MAX, SEGMENT_BYTES_MAX, SegmentData, SegmentView};
pub use shares::{
    Attribution, AttributionConfig, BPS_TOTAL, ContributionShare, ContributorShare, Span,
    SpanSource,
};
pub use store::{BUILD_PART_BYTES, Index, IndexStats, MergePolicy};

use serde::{Deserialize, Serialize};

/// The byte after every document in a segment's text. It never occurs in UTF-8, so no match
/// crosses from one document into the next.
pub const SEPARATOR: u8 = 0xFF;

/// Default near-duplicate threshold: a document whose bytes are at least 80% covered by
/// maximal matches of at least [`MIN_SPAN_BYTES_DEFAULT`] bytes.
pub const NEAR_DUPLICATE_BPS_DEFAULT: u32 = 8_000;

/// The id of a contribution (on chain: its id in the datanet; in a plain corpus: its line).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct ContributionId(pub u64);

/// A document: the `ordinal`-th document of a contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DocKey {
    /// The contribution.
    pub contribution: ContributionId,
    /// Its position within the contribution.
    pub ordinal: u32,
}

/// A document to index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Which contribution, and which of its documents.
    pub key: DocKey,
    /// Who contributed it, if known (at most [`CONTRIBUTOR_BYTES_MAX`] bytes).
    pub contributor: Option<String>,
    /// Its text.
    pub text: String,
}

/// Checks raw input bytes are UTF-8, with the position of the first bad byte otherwise.
pub fn utf8(bytes: &[u8]) -> Result<&str, IndexError> {
    std::str::from_utf8(bytes).map_err(|e| IndexError::NotUtf8 {
        reason: format!("invalid byte sequence at byte {}", e.valid_up_to()),
    })
}
