//! The ledger: the figures of docs/BENCHMARKS.md, measured in one run.
//!
//! - `ed25519_batch_verify_per_s`: the machine's raw batch-verification rate over all cores,
//!   the physical limit of a signed-transaction ledger here (and per core).
//! - `tx_per_s`: signed transfers per second end to end on one validator: submitted over HTTP,
//!   admitted, proposed, finalized and committed to disk.
//! - finality latency p50/p99 with 1 validator (and 4, as `alx up` processes on loopback, when
//!   [`Config::alx_binary`] is given), and with 4 the same throughput run (`tx_per_s_4v`).
//! - cold start of a network to its first finalized block.
//!
//! ```text
//!   sign transfers ─► verify rates (no node) ─► 1 validator in process: throughput,
//!                                            │  latency, cold start
//!                                            └► 4 validators (`alx up`): cold start,
//!                                               throughput, latency
//! ```

mod network;
mod settlements;
mod transfers;

use crate::BenchError;
use alx_types::Address;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use network::{FourNodes, SingleNode};
use serde::Serialize;
use std::{fmt, num::NonZeroUsize, path::PathBuf, time::Duration};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Transfers in the throughput run.
    pub txs: NonZeroUsize,
    /// Distinct senders in the throughput run.
    pub senders: NonZeroUsize,
    /// Latency samples per network.
    pub samples: NonZeroUsize,
    /// Transactions per request in the throughput run (the node takes up to 10,000).
    pub batch: NonZeroUsize,
    /// Concurrent HTTP clients in the throughput run.
    pub clients: NonZeroUsize,
    /// How long each batch-verification rate is measured.
    pub verify_duration: Duration,
    /// The `alx` binary, to run four validators with `alx up` for the 4-validator figures;
    /// `None` skips them.
    pub alx_binary: Option<PathBuf>,
    /// The mixed run: one settlement (of 64 receipts) after every this many transfers, as
    /// many transfers as the throughput run, on the same node; 0 skips it.
    pub settlements_every: usize,
}

/// Where a run is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Signing the transfers.
    Signing {
        /// Transfers.
        txs: usize,
        /// Senders.
        senders: usize,
    },
    /// Measuring the raw batch-verification rate.
    Verifying,
    /// Sending every transfer to one validator.
    Throughput {
        /// Transfers.
        txs: usize,
    },
    /// Measuring finality latency on one validator.
    LatencyOneValidator,
    /// Transfers with settlements in the mix, on the same validator.
    Mixed {
        /// Transfers.
        transfers: usize,
        /// Settlements.
        settlements: usize,
    },
    /// Starting four validators, then measuring their throughput and finality latency.
    FourValidators {
        /// Transfers in their throughput run.
        txs: usize,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signing { txs, senders } => {
                write!(f, "signing {txs} transfers from {senders} senders…")
            }
            Self::Verifying => f.write_str("measuring ed25519 batch verification…"),
            Self::Throughput { txs } => write!(f, "end-to-end throughput: {txs} transfers…"),
            Self::LatencyOneValidator => f.write_str("finality latency, 1 validator…"),
            Self::Mixed { transfers, settlements } => write!(
                f,
                "end-to-end throughput with settlements: {transfers} transfers, {settlements} settlements of {} receipts…",
                settlements::RECEIPTS_PER_SETTLEMENT
            ),
            Self::FourValidators { txs } => write!(
                f,
                "4 validators on loopback (processes): cold start, throughput ({txs} transfers) \
                 and finality latency…"
            ),
        }
    }
}

/// The report of `alx bench ledger`. Times in milliseconds, rates per second; the 4-validator
/// figures are `None` when they were skipped.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Cores the verification rate ran on.
    pub machine_cores: usize,
    /// Raw batch verification over all cores.
    pub ed25519_batch_verify_per_s: f64,
    /// Raw batch verification on one core.
    pub ed25519_batch_verify_per_s_one_core: f64,
    /// Transfers committed per second, end to end.
    pub tx_per_s: f64,
    /// `tx_per_s / ed25519_batch_verify_per_s`.
    pub tx_per_s_vs_verify_limit: f64,
    /// Transfers in the throughput run.
    pub txs: usize,
    /// Transactions (transfers and settlements) committed per second in the mixed run, on
    /// the same node (`None`: skipped).
    pub mixed_tx_per_s: Option<f64>,
    /// `mixed_tx_per_s / tx_per_s`: the transfer figure of the same run is the peer.
    pub mixed_vs_transfers: Option<f64>,
    /// Settlements in the mixed run (each of 64 receipts).
    pub mixed_settlements: usize,
    /// Receipts settled per second in the mixed run.
    pub mixed_receipts_per_s: Option<f64>,
    /// Finality latency, one validator, median.
    pub finality_ms_p50_1v: f64,
    /// Finality latency, one validator, 99th percentile.
    pub finality_ms_p99_1v: f64,
    /// Transfers committed per second end to end by four validator processes on loopback:
    /// the same transfers as `tx_per_s`, sent to validator 0.
    pub tx_per_s_4v: Option<f64>,
    /// `tx_per_s_4v / ed25519_batch_verify_per_s`.
    pub tx_per_s_4v_vs_verify_limit: Option<f64>,
    /// Finality latency, four validators, median.
    pub finality_ms_p50_4v: Option<f64>,
    /// Finality latency, four validators, 99th percentile.
    pub finality_ms_p99_4v: Option<f64>,
    /// Laying out a one-validator home to its first finalized block.
    pub cold_start_ms_1v: f64,
    /// The same for four validator processes.
    pub cold_start_ms_4v: Option<f64>,
}

/// Runs the whole benchmark, reporting each step to `progress`. The networks live in
/// temporary directories and are stopped before this returns, on success or failure.
///
/// # Errors
/// Any failure to start a network, a refused or uncommitted transfer, or a timeout.
pub fn run(config: &Config, mut progress: impl FnMut(Progress)) -> Result<Report, BenchError> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let (txs_count, senders) = (config.txs.get(), config.senders.get());
    progress(Progress::Signing { txs: txs_count, senders });
    let keys: Vec<PrivateKey> =
        (0..senders as u64).map(|i| PrivateKey::from_seed(10_000 + i)).collect();
    let txs = transfers::sign(&keys, txs_count);

    progress(Progress::Verifying);
    let (verify_all, verify_one) = transfers::verify_rates(&txs, cores, config.verify_duration);

    let mix = (config.settlements_every > 0).then(|| Mix::new(txs_count, senders, config));
    let (tx_per_s, lat1, cold_1v, mixed) = {
        // Declared first, so dropped last: the node stops before its directory goes away.
        let tmp = tempfile::tempdir().map_err(BenchError::io("create a temporary directory"))?;
        let mut funded: Vec<Address> =
            keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
        funded.extend(mix.iter().flat_map(Mix::funded));
        let node = SingleNode::start(tmp.path(), funded)?;
        progress(Progress::Throughput { txs: txs.len() });
        let tx_per_s = transfers::throughput(&node.client, &txs, config)?;
        progress(Progress::LatencyOneValidator);
        let lat =
            transfers::latency(&node.client, &keys[0], txs_count / senders, config.samples.get())?;
        let mixed = match mix.as_ref() {
            Some(m) => Some(m.run(&node.client, config, &mut progress)?),
            None => None,
        };
        (tx_per_s, lat, node.cold_start_ms, mixed)
    };
    let (tx_per_s_4v, lat4, cold_4v) = match &config.alx_binary {
        None => (None, None, None),
        Some(alx) => {
            progress(Progress::FourValidators { txs: txs.len() });
            let funded: Vec<Address> =
                keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
            let nodes = FourNodes::start(alx, &funded)?;
            // The same signed transfers: every benchmark network runs the dev chain.
            let tx_per_s = transfers::throughput(&nodes.client, &txs, config)?;
            let next_nonce = txs_count / senders;
            let lat =
                transfers::latency(&nodes.client, &keys[0], next_nonce, config.samples.get())?;
            (Some(tx_per_s), Some(lat), Some(nodes.cold_start_ms))
        }
    };
    Ok(Report {
        machine_cores: cores,
        ed25519_batch_verify_per_s: verify_all,
        ed25519_batch_verify_per_s_one_core: verify_one,
        tx_per_s,
        tx_per_s_vs_verify_limit: tx_per_s / verify_all,
        txs: txs.len(),
        mixed_tx_per_s: mixed.map(|m| m.0),
        mixed_vs_transfers: mixed.map(|m| m.0 / tx_per_s),
        mixed_settlements: mixed.map_or(0, |m| m.1),
        mixed_receipts_per_s: mixed.map(|m| m.2),
        finality_ms_p50_1v: lat1.0,
        finality_ms_p99_1v: lat1.1,
        tx_per_s_4v,
        tx_per_s_4v_vs_verify_limit: tx_per_s_4v.map(|t| t / verify_all),
        finality_ms_p50_4v: lat4.map(|l| l.0),
        finality_ms_p99_4v: lat4.map(|l| l.1),
        cold_start_ms_1v: cold_1v,
        cold_start_ms_4v: cold_4v,
    })
}

/// The mixed run's keys: transfer senders of its own, four providers, a model owner, a payer.
struct Mix {
    senders: Vec<PrivateKey>,
    providers: Vec<PrivateKey>,
    owner: PrivateKey,
    payer: PrivateKey,
    transfers: usize,
    settlements: usize,
}

impl Mix {
    fn new(transfers: usize, senders: usize, config: &Config) -> Self {
        let key = PrivateKey::from_seed;
        Self {
            senders: (0..senders as u64).map(|i| key(20_000 + i)).collect(),
            providers: (0..4).map(|i| key(30_000 + i)).collect(),
            owner: key(30_100),
            payer: key(30_101),
            transfers,
            settlements: (transfers / config.settlements_every).max(1),
        }
    }

    fn funded(&self) -> Vec<Address> {
        self.senders
            .iter()
            .chain(&self.providers)
            .chain([&self.owner, &self.payer])
            .map(|k| Address::from_public_key(&k.public_key()))
            .collect()
    }

    /// (transactions per second, settlements, receipts settled per second).
    fn run(
        &self,
        client: &alx_client::Client,
        config: &Config,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(f64, usize, f64), BenchError> {
        let per_provider = self.settlements.div_ceil(self.providers.len());
        let model =
            settlements::set_up(client, &self.owner, &self.payer, &self.providers, per_provider)?;
        let signed = settlements::sign(&self.providers, model, per_provider);
        let settlements: usize = signed.iter().map(Vec::len).sum();
        progress(Progress::Mixed { transfers: self.transfers, settlements });
        let mixed = settlements::interleave(
            transfers::sign(&self.senders, self.transfers),
            signed,
            config.settlements_every,
        );
        let tx_per_s = transfers::throughput(client, &mixed, config)?;
        // A refused settlement still commits (with a failed receipt): check each provider's
        // range moved over every receipt.
        let expected = (per_provider as u64) * u64::from(settlements::RECEIPTS_PER_SETTLEMENT);
        for p in &self.providers {
            let address = Address::from_public_key(&p.public_key());
            let next = client.provider(&address)?.next_receipt;
            if next != expected {
                return Err(BenchError::Refused {
                    count: 1,
                    first: format!("provider {address} settled up to {next}, not {expected}"),
                });
            }
        }
        let seconds = mixed.len() as f64 / tx_per_s;
        let receipts = settlements * settlements::RECEIPTS_PER_SETTLEMENT as usize;
        Ok((tx_per_s, settlements, receipts as f64 / seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, Progress, run};
    use std::{num::NonZeroUsize, time::Duration};

    fn n(x: usize) -> NonZeroUsize {
        NonZeroUsize::new(x).expect("non-zero")
    }

    /// One validator on loopback, 40 transfers from 4 senders: every transfer commits, and
    /// every figure is a positive time or rate.
    #[test]
    fn one_validator_commits_every_transfer() {
        let config = Config {
            txs: n(40),
            senders: n(4),
            samples: n(3),
            batch: n(16),
            clients: n(2),
            verify_duration: Duration::from_millis(50),
            alx_binary: None,
            settlements_every: 4,
        };
        let mut seen = Vec::new();
        let report = run(&config, |p| seen.push(p)).expect("ledger bench");
        assert_eq!(
            seen,
            [
                Progress::Signing { txs: 40, senders: 4 },
                Progress::Verifying,
                Progress::Throughput { txs: 40 },
                Progress::LatencyOneValidator,
                Progress::Mixed { transfers: 40, settlements: 12 },
            ]
        );
        // Ten settlements asked, three per provider of four: every one applied (the run checks
        // each provider's settled range).
        assert_eq!(report.mixed_settlements, 12);
        assert!(report.mixed_tx_per_s.is_some_and(|t| t > 0.0));
        assert!(report.mixed_receipts_per_s.is_some_and(|r| r > 0.0));
        assert_eq!(report.txs, 40);
        assert!(report.machine_cores >= 1);
        assert!(report.ed25519_batch_verify_per_s > 0.0);
        assert!(report.ed25519_batch_verify_per_s_one_core > 0.0);
        assert!(report.tx_per_s > 0.0);
        let ratio = report.tx_per_s / report.ed25519_batch_verify_per_s;
        assert!((report.tx_per_s_vs_verify_limit - ratio).abs() < 1e-12);
        assert!(report.finality_ms_p50_1v > 0.0);
        assert!(report.finality_ms_p99_1v >= report.finality_ms_p50_1v);
        assert!(report.cold_start_ms_1v > 0.0);
        assert_eq!((report.finality_ms_p50_4v, report.tx_per_s_4v), (None, None));
        assert_eq!(report.cold_start_ms_4v, None);
        let json = serde_json::to_value(&report).expect("serialize");
        assert!(json["finality_ms_p99_4v"].is_null(), "skipped figures stay in the JSON");
    }
}
