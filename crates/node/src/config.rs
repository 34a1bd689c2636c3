//! `config.toml`: one file per node, strictly parsed (unknown fields are errors), validated at
//! startup, then split into the components' own configs.

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// The file name inside a node's home.
pub const CONFIG_FILE: &str = "config.toml";

/// A node's configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Human-readable name of the node (logs only).
    pub moniker: String,
    /// Where the HTTP API listens.
    pub api_addr: SocketAddr,
    /// Where the p2p network listens (must match this validator's entry in the genesis).
    pub p2p_addr: SocketAddr,
    /// The genesis file, relative to the home directory.
    pub genesis_file: PathBuf,
    /// The validator key file, relative to the home directory.
    pub key_file: PathBuf,
    /// The data directory, relative to the home directory.
    pub data_dir: PathBuf,
    /// Consensus timing and block building.
    pub consensus: ConsensusSection,
    /// Mempool limits.
    pub mempool: MempoolSection,
    /// Where contribution bytes are stored (default: `blobs/` in the data directory).
    #[serde(default)]
    pub blobs: alx_blobs::BlobConfig,
    /// The OpenAI-compatible gateway.
    #[serde(default)]
    pub gateway: GatewaySection,
    /// Limits of the HTTP listener.
    #[serde(default)]
    pub api: ApiSection,
    /// Where contribution data this node lacks is fetched from, and how long unreferenced
    /// blobs are kept.
    #[serde(default)]
    pub data: DataSection,
    /// Who may upload blobs, and how much.
    #[serde(default)]
    pub uploads: UploadsSection,
}

/// `[uploads]`: a node stores bytes only for an account that signs for them and holds funds, or
/// for one of its API keys, within an hourly quota (see `alx_api::UploadPolicy`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsSection {
    /// Least an account must hold (balance plus prepaid), in ALX, to sign uploads.
    pub min_balance_alx: String,
    /// Most bytes one uploader (account or API key) stores per clock hour.
    pub bytes_per_hour: u64,
    /// Most bytes all uploaders together store per clock hour.
    pub bytes_per_hour_total: u64,
}

impl Default for UploadsSection {
    fn default() -> Self {
        Self {
            min_balance_alx: "1".into(),
            bytes_per_hour: 256 << 20,
            bytes_per_hour_total: 4 << 30,
        }
    }
}

impl UploadsSection {
    /// The least balance, parsed.
    pub fn min_balance(&self) -> anyhow::Result<alx_types::Amount> {
        alx_types::Amount::parse_alx(&self.min_balance_alx).map_err(|e| {
            anyhow::anyhow!("uploads: min_balance_alx {:?}: {e}", self.min_balance_alx)
        })
    }
}

/// `[data]`: contributions' bytes are uploaded to one node; the validators that must confirm
/// them held, and the nodes that index datanet versions, fetch them from the nodes listed here
/// (checked against their hash, so a peer can never plant content). Blobs no contribution
/// references (never offered, or refused) are deleted once older than the grace period.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// API base URLs of other nodes (`http://host:port`). `alx up --validators N` lists every
    /// other validator.
    pub peers: Vec<String>,
    /// Seconds an unreferenced blob is kept (time to offer it in a transaction).
    pub unreferenced_grace_secs: u64,
    /// Seconds between two sweeps of unreferenced blobs.
    pub collect_interval_secs: u64,
}

impl Default for DataSection {
    fn default() -> Self {
        Self { peers: Vec::new(), unreferenced_grace_secs: 24 * 3600, collect_interval_secs: 3600 }
    }
}

/// `[api]`: what HTTP clients may hold open (see `alx_api::server`). The node never lets the
/// listener take more than half of the process's descriptor limit, whatever `connections_max`
/// says: the other half stays for storage, consensus and peers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Connections open at once; more are answered `503` and closed.
    pub connections_max: usize,
    /// Connections open at once from one IP address; more are answered `503` and closed.
    pub connections_per_ip_max: usize,
    /// Seconds a client has to send a request's headers (and an idle kept-alive connection
    /// stays open).
    pub header_timeout_secs: u64,
    /// Longest silence, in seconds, between two chunks of a request body.
    pub body_timeout_secs: u64,
    /// Seconds a response may wait for the client to read it without any progress.
    pub write_timeout_secs: u64,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            connections_max: 1024,
            connections_per_ip_max: 128,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            write_timeout_secs: 30,
        }
    }
}

impl ApiSection {
    /// The listener's limits, with connections capped at half of `nofile` descriptors.
    #[must_use]
    pub fn limits(&self, nofile: u64) -> alx_api::ServerLimits {
        let positive =
            |n: usize| std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN);
        alx_api::ServerLimits {
            connections_max: alx_api::descriptor_budget(positive(self.connections_max), nofile),
            connections_per_ip_max: positive(self.connections_per_ip_max),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            write_timeout: Duration::from_secs(self.write_timeout_secs),
        }
    }
}

/// `[gateway]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Directory of the GGUF weights this node serves, relative to the home directory.
    pub models_dir: PathBuf,
    /// Requests waiting for a worker at once; more get HTTP 429.
    pub queue_max: usize,
    /// Largest `max_tokens` accepted.
    pub max_tokens_max: u32,
    /// Seconds between settlement rounds.
    pub settle_interval_secs: u64,
    /// Threads a model uses to generate; 0 (the default) takes `CANDLE_NUM_THREADS` (else
    /// `RAYON_NUM_THREADS`) when set, else every core, so a prompt's prefill is not bound to
    /// one. Set 1 on a machine whose cores other work keeps busy: parallel kernels collapse
    /// when they cannot get every thread.
    pub threads: usize,
    /// Requests in progress at once (each on its own thread: retrieval, tokenizing, waiting
    /// for its tokens from the batch, the receipt); requests beyond them wait in a queue of
    /// `queue_max`. Consensus and the API never share these threads.
    pub workers: usize,
    /// Sequences of one model generated together in one batch (continuous batching).
    pub batch_max: usize,
    /// Key/value cache memory the sequences of one model may hold at once, in MiB; each
    /// takes (prompt + max_tokens) × the model's bytes per token (45 KiB for SmolLM2-135M).
    pub cache_budget_mib: u64,
    /// Repetition penalty of a request that sets none, in [1, 2] (1 is off): small models
    /// loop under greedy decoding without one.
    pub repetition_penalty: f32,
    /// Memory the adapters of fine-tuned models may hold at once, in MiB (least recently used
    /// first out; SmolLM2 rank-8 adapters take about 3.5 MiB each).
    pub adapter_memory_mib: u64,
    /// Models (by name) served with their adapter folded into their own copy of the base:
    /// the fastest for one model, at the memory of a second base.
    pub merge: Vec<String>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            models_dir: "models".into(),
            queue_max: 16,
            max_tokens_max: 4096,
            settle_interval_secs: 5,
            threads: 0,
            workers: 16,
            batch_max: 16,
            cache_budget_mib: 2048,
            repetition_penalty: 1.15,
            adapter_memory_mib: 512,
            merge: Vec::new(),
        }
    }
}

/// `[consensus]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// Wait for a leader's proposal before voting to skip its view.
    pub leader_timeout_ms: u64,
    /// Wait for certification of a notarized block.
    pub certification_timeout_ms: u64,
    /// Longest wait for transactions before proposing an empty block.
    pub empty_block_interval_ms: u64,
    /// Most transactions this node puts in a block.
    pub block_txs_max: usize,
}

/// `[mempool]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions held.
    pub capacity: usize,
    /// Most transactions held per sender.
    pub per_sender_max: usize,
}

impl NodeConfig {
    /// The defaults of a local node listening on the given ports.
    #[must_use]
    pub fn local(moniker: &str, api_addr: SocketAddr, p2p_addr: SocketAddr) -> Self {
        Self {
            moniker: moniker.to_owned(),
            api_addr,
            p2p_addr,
            genesis_file: "genesis.json".into(),
            key_file: "node_key.json".into(),
            data_dir: "data".into(),
            consensus: ConsensusSection {
                leader_timeout_ms: 2000,
                certification_timeout_ms: 3000,
                empty_block_interval_ms: 1000,
                block_txs_max: alx_types::limits::BLOCK_TXS_MAX,
            },
            mempool: MempoolSection { capacity: 200_000, per_sender_max: 10_000 },
            blobs: alx_blobs::BlobConfig::default(),
            gateway: GatewaySection::default(),
            api: ApiSection::default(),
            data: DataSection::default(),
            uploads: UploadsSection::default(),
        }
    }

    /// Reads and validates `home/config.toml`.
    pub fn load(home: &Path) -> anyhow::Result<Self> {
        let path = home.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let cfg: Self =
            toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        cfg.validate().with_context(|| format!("invalid {}", path.display()))?;
        Ok(cfg)
    }

    /// Writes the file.
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let path = home.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Checks value ranges.
    pub fn validate(&self) -> anyhow::Result<()> {
        let c = &self.consensus;
        if c.leader_timeout_ms == 0 || c.certification_timeout_ms <= c.leader_timeout_ms {
            bail!("consensus: need 0 < leader_timeout_ms < certification_timeout_ms");
        }
        if c.empty_block_interval_ms >= c.leader_timeout_ms {
            bail!(
                "consensus: empty_block_interval_ms must be below leader_timeout_ms, or leaders time out while waiting for transactions"
            );
        }
        if c.block_txs_max == 0 || c.block_txs_max > alx_types::limits::BLOCK_TXS_MAX {
            bail!("consensus: block_txs_max must be 1..={}", alx_types::limits::BLOCK_TXS_MAX);
        }
        let g = &self.gateway;
        if g.queue_max == 0
            || g.max_tokens_max == 0
            || g.settle_interval_secs == 0
            || g.workers == 0
            || g.batch_max == 0
            || g.cache_budget_mib == 0
        {
            bail!(
                "gateway: queue_max, max_tokens_max, settle_interval_secs, workers, batch_max and cache_budget_mib must be positive"
            );
        }
        if !(1.0..=2.0).contains(&g.repetition_penalty) {
            bail!("gateway: repetition_penalty must be between 1 and 2 (1 is off)");
        }
        if g.cache_budget_mib > 1 << 30 || g.adapter_memory_mib > 1 << 30 {
            bail!(
                "gateway: cache_budget_mib and adapter_memory_mib must be under 2^30 (a petabyte)"
            );
        }
        let a = &self.api;
        if a.connections_max == 0
            || a.connections_per_ip_max == 0
            || a.header_timeout_secs == 0
            || a.body_timeout_secs == 0
            || a.write_timeout_secs == 0
        {
            bail!("api: connections_max, connections_per_ip_max and the timeouts must be positive");
        }
        self.uploads.min_balance()?;
        if self.uploads.bytes_per_hour == 0 || self.uploads.bytes_per_hour_total == 0 {
            bail!("uploads: bytes_per_hour and bytes_per_hour_total must be positive");
        }
        if self.data.collect_interval_secs == 0 {
            bail!("data: collect_interval_secs must be positive");
        }
        for peer in &self.data.peers {
            if !(peer.starts_with("http://") || peer.starts_with("https://")) {
                bail!("data: peer {peer:?} is not an http(s):// URL");
            }
        }
        if self.mempool.capacity == 0 || self.mempool.per_sender_max == 0 {
            bail!("mempool: capacity and per_sender_max must be positive");
        }
        Ok(())
    }

    /// Consensus timeouts as durations.
    #[must_use]
    pub const fn timeouts(&self) -> (Duration, Duration, Duration) {
        (
            Duration::from_millis(self.consensus.leader_timeout_ms),
            Duration::from_millis(self.consensus.certification_timeout_ms),
            Duration::from_millis(self.consensus.empty_block_interval_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_fields_refused() {
        let cfg = NodeConfig::local(
            "n",
            "127.0.0.1:7700".parse().unwrap(),
            "127.0.0.1:7800".parse().unwrap(),
        );
        let text = toml::to_string_pretty(&cfg).unwrap();
        assert_eq!(toml::from_str::<NodeConfig>(&text).unwrap(), cfg);
        let bad = text.replace("moniker", "monicker");
        assert!(toml::from_str::<NodeConfig>(&bad).is_err());
        cfg.validate().unwrap();
        let mut slow = cfg;
        slow.consensus.empty_block_interval_ms = 5000;
        assert!(slow.validate().is_err());
    }
}
