//! Who an answer owes: the passages retrieved into its prompt, the spans of its output found
//! in the model's datanet versions and (adapter models) its influence on the adapter's
//! training examples, combined into one split of the data fee by the rule
//! in [`alx_attribution::rule`] (the only copy of it; `alx receipt verify` calls it too). This
//! module only gathers the rule's inputs from the node (indexes, state) and its outputs into a
//! receipt.
//!
//! Flagged near-duplicates are left out of span shares by the index and of credits here.

use alx_attribution::{RetrievalConfig, rule};
use alx_indexer::{DatanetIndexes, Passage};
use alx_state::State;
use alx_types::{
    Amount,
    datanet::{ContributionId, DatanetId},
    model::{ModelId, ModelSpec},
    usage::Credit,
    usage_api::{Citation, INFLUENCE_RECORDED_MAX, InfluenceScore, ShareEntry},
};
use std::collections::BTreeMap;

pub use alx_attribution::rule::Key;

/// The typed ids of a rule key (the rule itself works on plain numbers).
const fn ids((datanet, contribution): Key) -> (DatanetId, ContributionId) {
    (DatanetId(datanet), ContributionId(contribution))
}

/// Longest excerpt kept in a citation, in bytes.
const EXCERPT_BYTES: usize = 160;

/// The passages relevant to `query` across the model's datanet versions, best first (see
/// `alx_attribution::retrieval` for the score and the relevance threshold).
pub fn retrieve(
    indexes: &DatanetIndexes,
    spec: &ModelSpec,
    query: &str,
) -> Vec<(DatanetId, Passage)> {
    let config = RetrievalConfig::DEFAULT;
    let mut lists = Vec::new();
    for d in &spec.datanets {
        match indexes.retrieve(d.datanet, d.version, query, &config) {
            Ok(found) => {
                lists.push((d.datanet.0, found.into_iter().map(|p| (p.score, p)).collect()));
            }
            Err(e) => {
                tracing::warn!(datanet = %d.datanet, version = d.version, err = %e, "retrieval skipped")
            }
        }
    }
    rule::merge_ranked(&lists, config.k).into_iter().map(|(d, p)| (DatanetId(d), p)).collect()
}

/// Citations of retrieved passages.
pub fn citations(passages: &[(DatanetId, Passage)]) -> Vec<Citation> {
    passages
        .iter()
        .enumerate()
        .map(|(rank, (datanet, p))| {
            let mut end = p.text.len().min(EXCERPT_BYTES);
            while !p.text.is_char_boundary(end) {
                end -= 1;
            }
            Citation {
                datanet: *datanet,
                contribution: p.contribution,
                contributor: p.contributor.clone(),
                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                excerpt: p.text[..end].to_owned(),
            }
        })
        .collect()
}

/// Span shares of `output` per (datanet, contribution), weighted by covered bytes.
pub fn span_shares(
    indexes: &DatanetIndexes,
    state: &State,
    spec: &ModelSpec,
    output: &str,
) -> BTreeMap<Key, u32> {
    let mut reports = Vec::new();
    for d in &spec.datanets {
        match indexes.attribute(state, d.datanet, Some(d.version), output, None) {
            Ok(r) => reports.push(r),
            Err(e) => tracing::debug!(datanet = %d.datanet, err = %e, "no span attribution"),
        }
    }
    span_weights(&reports)
}

/// Span shares from each datanet version's attribution report (the rule's span part).
/// Anyone holding the reports (from `POST /api/attribution`) recomputes a receipt's span part
/// with this.
#[must_use]
pub fn span_weights(
    reports: &[alx_types::attribution_api::AttributionReport],
) -> BTreeMap<Key, u32> {
    let reports: Vec<rule::SpanReport> = reports
        .iter()
        .map(|r| rule::SpanReport {
            datanet: r.datanet.0,
            covered_bytes: r.covered_bytes as u64,
            shares: r
                .contributions
                .iter()
                .filter_map(|s| Some((s.id.parse::<u64>().ok()?, s.bps)))
                .collect(),
        })
        .collect();
    rule::span_shares(&reports)
}

/// The combined shares (the rule's retrieval, span and influence parts).
pub fn combine(
    retrieved: &[(DatanetId, Passage)],
    spans: &BTreeMap<Key, u32>,
    influence: &BTreeMap<Key, u32>,
) -> BTreeMap<Key, u32> {
    let ranked: Vec<Key> = retrieved.iter().map(|(d, p)| (d.0, p.contribution.0)).collect();
    rule::combine(&ranked, spans, influence)
}

/// The scores of examples that are contributions of the model's datanet versions (approved, in
/// the version): a manifest's features may name any id, and those naming others are dropped
/// before anything is recorded or judged.
pub fn of_versions(state: &State, spec: &ModelSpec, scores: &[(Key, i64)]) -> Vec<(Key, i64)> {
    let held = |&((d, c), _): &(Key, i64)| {
        let Some(v) = spec.datanets.iter().find(|r| r.datanet.0 == d) else { return false };
        let (datanet, contribution) = ids((d, c));
        state.contribution(datanet, contribution).ok().flatten().is_some_and(|c| {
            c.status == alx_state::ContributionStatus::Approved
                && (1..=v.version).contains(&c.first_version)
        })
    };
    scores.iter().copied().filter(held).collect()
}

/// What a receipt records of every example's influence score: the
/// [`INFLUENCE_RECORDED_MAX`] highest (ties to the smaller key), in key order.
#[must_use]
pub fn recorded_influence(scores: &[(Key, i64)]) -> Vec<InfluenceScore> {
    let mut best: Vec<(Key, i64)> = scores.to_vec();
    best.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    best.truncate(INFLUENCE_RECORDED_MAX);
    best.sort_by_key(|s| s.0);
    best.into_iter()
        .map(|(key, score)| {
            let (datanet, contribution) = ids(key);
            InfluenceScore { datanet, contribution, score }
        })
        .collect()
}

/// The influence part of a receipt's recorded scores (the rule's influence part).
///
/// # Errors
/// An example recorded twice: no receipt the gateway writes does that.
pub fn influence_part(recorded: &[InfluenceScore]) -> Result<BTreeMap<Key, u32>, String> {
    let mut scores = BTreeMap::new();
    for s in recorded {
        if scores.insert((s.datanet.0, s.contribution.0), s.score).is_some() {
            return Err(format!(
                "contribution {} of datanet {} has two influence scores",
                s.contribution, s.datanet
            ));
        }
    }
    Ok(rule::influence_shares(&scores))
}

/// Share entries with contributors, from the state.
pub fn entries(state: &State, shares: &BTreeMap<Key, u32>) -> Vec<ShareEntry> {
    shares
        .iter()
        .map(|(&key, &bps)| {
            let (datanet, contribution) = ids(key);
            ShareEntry {
                datanet,
                contribution,
                contributor: state
                    .contribution(datanet, contribution)
                    .ok()
                    .flatten()
                    .map(|c| c.contributor.to_string())
                    .unwrap_or_default(),
                bps,
            }
        })
        .collect()
}

/// The data fee of `fee` paid to each share (the rule's credits). A flagged near-duplicate is
/// credited like any other: the chain pays its credit to the contribution it copies (or the
/// protection fund), so receipts issued before and after a flag settle the same way. A
/// contribution the state no longer holds is not credited.
pub fn credits(
    state: &State,
    model: ModelId,
    spec: &ModelSpec,
    fee: Amount,
    shares: &BTreeMap<Key, u32>,
) -> Vec<Credit> {
    let data = rule::data_share(fee.0, u32::from(spec.split.data_bps));
    let gone = |key: Key| {
        let (d, c) = ids(key);
        state.contribution(d, c).ok().flatten().is_none()
    };
    rule::credits(data, shares, gone)
        .into_iter()
        .map(|(key, amount)| {
            let (datanet, contribution) = ids(key);
            Credit { model, datanet, contribution, amount: Amount(amount) }
        })
        .collect()
}
