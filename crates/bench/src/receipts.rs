//! Settled receipts: what committing a batch to its receipt root costs the provider, what
//! checking a published batch costs an auditor, and what proving one receipt costs anyone.
//!
//! - `root_ms`: the Merkle sum tree over N settled receipts (`alx_types::settled::root`),
//!   against `plain_root_ms`, a plain Merkle tree over the same receipts' ids (what settlements
//!   committed to before: no sums), measured in the same run.
//! - `check_receipts_per_s`: a whole batch checked as `alx receipt settlement` and the auditor
//!   do (`SettledBatch::check`: every receipt's id and signature, every leaf against its
//!   receipt, the root rebuilt), against `signatures_per_s`, the ed25519 checks alone.
//! - `proof_us`: one leaf's path built and checked against the root.
//!
//! Deterministic inputs (seeded keys and amounts); timings from the wall clock (a benchmark,
//! not consensus).

use crate::{BenchError, stats::median};
use alx_types::{
    Amount, Hash,
    datanet::{ContributionId, DatanetId},
    hash::sha256,
    merkle::list_root,
    model::ModelId,
    settled::{LeafProof, SettledReceipt, root},
    settled_batch::SettledBatch,
    usage::Credit,
    usage_api::{NAMESPACE_RECEIPT, ReceiptBody, UsageReceipt},
};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::Serialize;
use std::time::Instant;

/// Distinct API keys in the batch (a settlement holds at most 32 key/model charges).
const KEYS: u64 = 16;
/// Distinct contributions credited (a settlement holds at most 64).
const CONTRIBUTIONS: u64 = 60;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Receipts in the batch.
    pub receipts: usize,
    /// Contributions each receipt credits.
    pub credits_per_receipt: usize,
    /// Timed runs of each figure (the median is reported).
    pub runs: usize,
}

/// The report of `alx bench receipts`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `receipts`.
    pub bench: &'static str,
    /// Receipts in the batch.
    pub receipts: usize,
    /// Contributions each receipt credits.
    pub credits_per_receipt: usize,
    /// Runs per figure.
    pub runs: usize,
    /// The receipt root (sum tree) over the batch, median, milliseconds.
    pub root_ms: f64,
    /// A plain Merkle tree over the receipts' ids, median, milliseconds (the peer).
    pub plain_root_ms: f64,
    /// `root_ms / plain_root_ms`.
    pub root_vs_plain: f64,
    /// Whole-batch checks, receipts per second.
    pub check_receipts_per_s: f64,
    /// Receipt signatures alone, per second (the peer of the check).
    pub signatures_per_s: f64,
    /// One leaf's path built and checked, microseconds.
    pub proof_us: f64,
}

/// A signed batch of `config.receipts` receipts and its leaves.
fn batch(config: &Config) -> (Vec<UsageReceipt>, Vec<SettledReceipt>) {
    let key = PrivateKey::from_seed(7);
    let provider = alx_types::Address::from_public_key(&key.public_key());
    let mut receipts = Vec::with_capacity(config.receipts);
    let mut leaves = Vec::with_capacity(config.receipts);
    for n in 0..config.receipts as u64 {
        let key_hash: Hash = sha256(&[&(n % KEYS).to_be_bytes()]);
        let mut credits: Vec<Credit> = (0..config.credits_per_receipt as u64)
            .map(|c| Credit {
                model: ModelId(0),
                datanet: DatanetId(0),
                contribution: ContributionId((n + c * 7) % CONTRIBUTIONS),
                amount: Amount(1 + u128::from(c)),
            })
            .collect();
        credits.sort_by_key(|c| c.contribution);
        credits.dedup_by_key(|c| c.contribution);
        let body = ReceiptBody {
            number: n,
            provider,
            model: ModelId(0),
            model_name: "bench".into(),
            key_hash,
            prompt_tokens: 400,
            completion_tokens: 64,
            fee: Amount(1_000 + u128::from(n % 13)),
            datanets: vec![],
            citations: vec![],
            span_shares: vec![],
            shares: vec![],
            credits: credits.clone(),
            output: "a generated answer of a few dozen bytes, as receipts carry them".into(),
            input: alx_types::usage_api::RequestInput::None,
            output_tokens: Vec::new(),
            greedy: false,
            penalties: None,
            influence: Vec::new(),
        };
        let id = body.id();
        let signature = hex::encode(key.sign(NAMESPACE_RECEIPT, &id.0).encode());
        leaves.push(SettledReceipt {
            number: n,
            id,
            key_hash,
            model: ModelId(0),
            prompt_tokens: 400,
            completion_tokens: 64,
            fee: body.fee,
            credits,
        });
        receipts.push(UsageReceipt { id, body, signature });
    }
    (receipts, leaves)
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// Runs the benchmark.
pub fn run(config: &Config) -> Result<Report, BenchError> {
    let (receipts, leaves) = batch(config);
    let tree = root(&leaves).map_err(|_| BenchError::Config {
        what: "the batch",
        rule: "within a settlement's limits (32 keys, 64 contributions)",
    })?;
    let settlement = alx_types::usage::Settlement::from_root(0, tree);
    let published = SettledBatch {
        provider: receipts[0].body.provider,
        first_receipt: 0,
        tx_hash: alx_types::hash::ZERO,
        leaves: leaves.clone(),
        receipts: receipts.clone(),
    };
    published.check(&settlement).map_err(|e| BenchError::Check(e.to_string()))?;
    let ids: Vec<Hash> = receipts.iter().map(|r| r.id).collect();
    let root_s = timed(config.runs, || root(&leaves).map(|r| r.digest).ok());
    let plain_s = timed(config.runs, || list_root(&ids));
    let check_s = timed(config.runs, || published.check(&settlement).is_ok());
    let sig_s = timed(config.runs, || receipts.iter().filter(|r| r.verify()).count());
    let last = leaves.len() - 1;
    let proof_s =
        timed(config.runs, || LeafProof::of(&leaves, last).and_then(|p| p.root_of(&leaves[last])));
    let n = config.receipts as f64;
    Ok(Report {
        bench: "receipts",
        receipts: config.receipts,
        credits_per_receipt: config.credits_per_receipt,
        runs: config.runs,
        root_ms: root_s * 1e3,
        plain_root_ms: plain_s * 1e3,
        root_vs_plain: root_s / plain_s.max(f64::MIN_POSITIVE),
        check_receipts_per_s: n / check_s.max(f64::MIN_POSITIVE),
        signatures_per_s: n / sig_s.max(f64::MIN_POSITIVE),
        proof_us: proof_s * 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_batch_reports_every_figure() {
        let r = run(&Config { receipts: 50, credits_per_receipt: 3, runs: 1 }).unwrap();
        assert_eq!(r.receipts, 50);
        assert!(r.root_ms > 0.0 && r.plain_root_ms > 0.0 && r.proof_us > 0.0);
        assert!(r.check_receipts_per_s > 0.0 && r.signatures_per_s > 0.0);
    }
}
