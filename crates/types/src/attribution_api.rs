//! JSON of attribution queries: `POST /api/attribution` and a contribution's coverage.

use crate::datanet::{ContributionId, DatanetId};
use serde::{Deserialize, Serialize};

/// `POST /api/attribution`: attribute a text to a datanet version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionRequest {
    /// The datanet.
    pub datanet: DatanetId,
    /// The version (default: the latest this node has indexed).
    #[serde(default)]
    pub version: Option<u32>,
    /// The text, e.g. a model's output.
    pub text: String,
    /// Shortest span counted, in bytes (default 32).
    #[serde(default)]
    pub min_len: Option<usize>,
}

/// One span of the text and the contributions holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSpan {
    /// First byte in the text.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Occurrences in the version.
    pub count: u64,
    /// Its weight (0 when too common to pay).
    pub weight: u64,
    /// Contribution ids holding it.
    pub contributions: Vec<ContributionId>,
}

/// A share in basis points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportShare {
    /// Contribution id, or contributor address.
    pub id: String,
    /// Basis points (they sum to 10,000 when anything is attributed).
    pub bps: u32,
}

/// The attribution of a text against one datanet version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionReport {
    /// The datanet.
    pub datanet: DatanetId,
    /// The version attributed against.
    pub version: u32,
    /// Shortest span counted, bytes.
    pub min_len: usize,
    /// Bytes of the text.
    pub text_bytes: usize,
    /// Bytes of the text inside at least one span.
    pub covered_bytes: usize,
    /// The spans, by start.
    pub spans: Vec<ReportSpan>,
    /// Shares per contribution.
    pub contributions: Vec<ReportShare>,
    /// Shares per contributor.
    pub contributors: Vec<ReportShare>,
    /// Flagged near-duplicates: evidence only, no share.
    pub excluded: Vec<ContributionId>,
}

/// How much of a contribution an earlier version already holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionCoverage {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// The version compared against (0: none yet, nothing is covered).
    pub version: u32,
    /// Bytes of its documents covered by spans of at least 32 bytes found in that version.
    pub covered_bytes: u64,
    /// Bytes of its documents.
    pub total_bytes: u64,
    /// `covered_bytes * 10_000 / total_bytes`.
    pub bps: u32,
    /// Whether that reaches the near-duplicate threshold (80%).
    pub near_duplicate: bool,
}

/// `PUT`/`POST /api/blobs`: what was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobResponse {
    /// BLAKE3 of the bytes, hex.
    #[serde(with = "crate::hash::serde_hex")]
    pub hash: crate::Hash,
    /// Length in bytes.
    pub size: u64,
    /// False when the blob was already stored (nothing changed).
    pub created: bool,
}
