//! Retrieval for retrieval-augmented models: the passages of a datanet version most relevant
//! to a query, by BM25 over the version's documents (the same bytes the attribution index
//! holds, so a citation always points at indexed content).
//!
//! Terms are lowercase runs of ASCII letters, digits and `_` of at least 2 bytes. Documents are
//! scanned on every query: fine for the datanets a single node serves (a few MB); a persistent
//! inverted index is the next step for large ones. Ties rank the lower contribution first, so
//! the same query gives the same passages on every node.

use crate::{DatanetIndexes, QueryError};
use alx_types::datanet::DatanetId;
use std::collections::{BTreeMap, BTreeSet};

/// BM25 parameters (the usual defaults).
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Longest passage returned, in bytes (cut at a character boundary).
const PASSAGE_BYTES_MAX: usize = 1_200;

/// A retrieved passage.
#[derive(Clone, Debug, PartialEq)]
pub struct Passage {
    /// The contribution.
    pub contribution: u64,
    /// Its document within the contribution.
    pub ordinal: u32,
    /// Who contributed it.
    pub contributor: String,
    /// BM25 score.
    pub score: f64,
    /// The passage text (the document's start, or its best window for long documents).
    pub text: String,
}

fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 2)
        .map(str::to_ascii_lowercase)
}

/// The window of `doc` around its first query term, at most `PASSAGE_BYTES_MAX` bytes.
fn window(doc: &str, query: &BTreeSet<String>) -> String {
    if doc.len() <= PASSAGE_BYTES_MAX {
        return doc.to_owned();
    }
    let lower = doc.to_ascii_lowercase();
    let hit = query.iter().filter_map(|t| lower.find(t.as_str())).min().unwrap_or(0);
    let mut start = hit.saturating_sub(PASSAGE_BYTES_MAX / 4);
    while !doc.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + PASSAGE_BYTES_MAX).min(doc.len());
    while !doc.is_char_boundary(end) {
        end -= 1;
    }
    doc[start..end].to_owned()
}

impl DatanetIndexes {
    /// The `k` passages of version `version` of `datanet` that best match `query`, best first
    /// (none when no document shares a term with the query).
    pub fn retrieve(
        &self,
        datanet: DatanetId,
        version: u32,
        query: &str,
        k: usize,
    ) -> Result<Vec<Passage>, QueryError> {
        let index = self.version(datanet, version)?;
        let query: BTreeSet<String> = terms(query).collect();
        if query.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // One pass for document frequencies and lengths, then score.
        struct Doc<'a> {
            text: &'a str,
            contribution: u64,
            ordinal: u32,
            contributor: &'a str,
            len: usize,
            tf: BTreeMap<&'a str, u32>,
        }
        let searcher = index.searcher();
        let mut docs = Vec::new();
        for seg in searcher.segments() {
            let (text, table) = (seg.text(), seg.docs());
            for i in 0..table.len() {
                let start = usize::try_from(table.start(i)).unwrap_or(usize::MAX);
                let end = if i + 1 < table.len() {
                    usize::try_from(table.start(i + 1)).unwrap_or(usize::MAX)
                } else {
                    text.len()
                };
                let Some(bytes) = text.get(start..end.saturating_sub(1)) else { continue };
                let Ok(doc) = std::str::from_utf8(bytes) else { continue };
                let mut tf = BTreeMap::new();
                let mut len = 0;
                for term in doc.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if term.len() < 2 {
                        continue;
                    }
                    len += 1;
                    if let Some(q) = query.iter().find(|q| q.eq_ignore_ascii_case(term)) {
                        *tf.entry(q.as_str()).or_insert(0) += 1;
                    }
                }
                let key = table.key(i);
                docs.push(Doc {
                    text: doc,
                    contribution: key.contribution.0,
                    ordinal: key.ordinal,
                    contributor: table.contributor(i).unwrap_or(""),
                    len,
                    tf,
                });
            }
        }
        let n = docs.len() as f64;
        let avg = docs.iter().map(|d| d.len as f64).sum::<f64>() / n.max(1.0);
        let df = |t: &str| docs.iter().filter(|d| d.tf.contains_key(t)).count() as f64;
        let idf: BTreeMap<&str, f64> = query
            .iter()
            .map(|t| (t.as_str(), ((n - df(t) + 0.5) / (df(t) + 0.5) + 1.0).ln()))
            .collect();
        let mut scored: Vec<(f64, &Doc<'_>)> = docs
            .iter()
            .filter(|d| !d.tf.is_empty())
            .map(|d| {
                let norm = K1 * (1.0 - B + B * d.len as f64 / avg.max(1.0));
                let score =
                    d.tf.iter()
                        .map(|(t, &f)| idf[t] * f64::from(f) * (K1 + 1.0) / (f64::from(f) + norm))
                        .sum();
                (score, d)
            })
            .collect();
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(a.1.contribution.cmp(&b.1.contribution))
                .then(a.1.ordinal.cmp(&b.1.ordinal))
        });
        Ok(scored
            .into_iter()
            .take(k)
            .map(|(score, d)| Passage {
                contribution: d.contribution,
                ordinal: d.ordinal,
                contributor: d.contributor.to_owned(),
                score,
                text: window(d.text, &query),
            })
            .collect())
    }
}
