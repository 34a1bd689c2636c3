//! Integration tests of the HTTP API: a ledger on a temporary store, fed blocks built here (no
//! consensus, no node process), served on loopback and read through `alx-client` and raw
//! requests (for the error shapes).

mod limits;
mod subnets;
mod uploads;

use alx_api::ApiState;
use alx_client::Client;
use alx_ledger::{
    Ledger, MempoolConfig,
    ledger::{execute, receipts_root},
};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{
    Address, Amount, Block, Receipt, SignedTx, Transaction, block::BlockHeader, tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::sync::Arc;

pub(crate) const MIN_FEE: u128 = 1_000;
/// One ALX in base units.
pub(crate) const ALX: u128 = 1_000_000_000;

pub(crate) fn key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(i)
}

pub(crate) fn addr(i: u64) -> Address {
    Address::from_public_key(&key(i).public_key())
}

/// Minted per block (a flat curve: halving far beyond any test).
const PER_BLOCK: u128 = ALX;

/// Accounts 0..5 funded with 10,000 ALX; account 0 is the only validator (and proposer); each
/// block mints [`PER_BLOCK`], split by the defaults (so subnets earn every block).
fn genesis() -> Genesis {
    use alx_emission::{Curve, EmissionParams, Schedule, ScheduleParams, Split, SubnetSplit};
    let curve = Curve::Halving { initial_per_block: Amount(PER_BLOCK), interval_blocks: 1 << 40 };
    let schedule = Schedule::new(ScheduleParams { curve, cap: Amount(10u128.pow(27)) });
    Genesis {
        chain_id: "alx-test".parse().expect("chain id"),
        params: Params { min_fee: Amount(MIN_FEE), epoch_length: 1_000, validators_max: 4 },
        accounts: (0..5)
            .map(|i| GenesisAccount { address: addr(i), balance: Amount(10_000 * ALX) })
            .collect(),
        validators: vec![GenesisValidator {
            address: addr(0),
            stake: Amount(1_000 * ALX),
            p2p_addr: "127.0.0.1:1".parse().expect("socket address"),
        }],
        emission: Some(EmissionParams {
            schedule: schedule.expect("schedule"),
            split: Split::DEFAULT,
            subnet_split: SubnetSplit::DEFAULT,
        }),
        providers: [0, 1]
            .map(|i| alx_state::GenesisProvider { address: addr(i), bond: Amount(1_000 * ALX) })
            .to_vec(),
    }
}

/// A ledger fed by [`Chain::block`] and an API server over it.
pub(crate) struct Chain {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) client: Client,
    pub(crate) url: String,
    // Dropped last: the server runs on it and reads the store in the directory.
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// The validator's report that contribution `id` of `datanet`, offered before any version, is
/// held with the normalized text `text`.
pub(crate) fn held_report(
    datanet: alx_types::datanet::DatanetId,
    id: alx_types::datanet::ContributionId,
    text: &[u8],
) -> Payload {
    use alx_types::availability::{DataReport, DataVerdict};
    Payload::Datanet(alx_types::datanet::DatanetOp::Attest {
        reports: vec![DataReport {
            datanet,
            contribution: id,
            verdict: DataVerdict::Held {
                text_hash: alx_types::hash::sha256(&[text]),
                coverage_bps: 0,
                covered_by: None,
                against_version: 0,
            },
        }],
    })
}

/// Limits loose enough for any test that is not about them.
pub(crate) const LOOSE: alx_api::ServerLimits = alx_api::ServerLimits {
    connections_max: std::num::NonZeroUsize::new(256).expect("positive"),
    connections_per_ip_max: std::num::NonZeroUsize::new(256).expect("positive"),
    header_timeout: std::time::Duration::from_secs(10),
    body_timeout: std::time::Duration::from_secs(10),
    write_timeout: std::time::Duration::from_secs(10),
};

impl Chain {
    pub(crate) fn new() -> Self {
        Self::with_limits(LOOSE)
    }

    /// A chain whose API listener has `limits`.
    pub(crate) fn with_limits(limits: alx_api::ServerLimits) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mempool = MempoolConfig { capacity: 1_000, per_sender_max: 100 };
        let ledger = Arc::new(
            Ledger::open(&dir.path().join("chain.redb"), &genesis(), mempool).expect("ledger"),
        );
        let blobs = alx_blobs::BlobStore::open(
            &alx_blobs::BlobConfig::Local { dir: "blobs".into() },
            dir.path(),
            &dir.path().join("staging"),
            1 << 20,
        )
        .expect("blob store");
        let indexes =
            Arc::new(alx_indexer::DatanetIndexes::new(&dir.path().join("index"), blobs.clone()));
        let connections = Arc::new(alx_api::ConnectionStats::default());
        let state = ApiState {
            chain: ledger.clone(),
            metrics: Arc::new(String::new),
            receipts: Arc::new(|_| None),
            batches: Arc::new(|_, _| None),
            finalizations: Arc::new(|_| Box::pin(async { None })),
            version: "test",
            blobs,
            indexes,
            connections: connections.clone(),
            uploads: Arc::new(alx_api::UploadPolicy::new(addr(0), Amount(ALX), 1 << 20, 4 << 20)),
            audit: Arc::default(),
            light_genesis: Arc::new(alx_types::api::LightGenesis {
                chain_id: "test".into(),
                epoch_length: 100,
                validators: vec![addr(0)],
            }),
            history: Arc::new(
                alx_history::History::open(
                    &dir.path().join("history.redb"),
                    &ledger.genesis().digest(),
                )
                .expect("history index"),
            ),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        runtime.spawn(alx_api::serve(listener, alx_api::router(state), limits, connections));
        Self { ledger, client: Client::new(&url), url, _runtime: runtime, _dir: dir }
    }

    pub(crate) fn height(&self) -> u64 {
        self.ledger.committed().block.height().0
    }

    /// Executes and commits the next block holding `txs` (each signed by account `from` with
    /// its next nonce); returns the receipts.
    pub(crate) fn block(&self, txs: Vec<(u64, Payload)>) -> Vec<Receipt> {
        let parent = self.ledger.committed();
        let mut nonces = std::collections::BTreeMap::new();
        let txs: Vec<SignedTx> = txs
            .into_iter()
            .map(|(from, payload)| {
                let next = nonces.entry(from).or_insert_with(|| {
                    parent.state.account(&addr(from)).expect("account").map_or(0, |a| a.nonce)
                });
                *next += 1;
                let sender = addr(from);
                let chain_id = *parent.state.chain_id();
                let fee = Amount(MIN_FEE);
                Transaction { chain_id, sender, nonce: *next - 1, fee, payload }.sign(&key(from))
            })
            .collect();
        let height = parent.block.height().next();
        let mut header = BlockHeader {
            parent: parent.block.digest(),
            height,
            epoch: 0,
            view: height.0,
            parent_view: height.0 - 1,
            proposer: addr(0),
            timestamp_ms: parent.block.header.timestamp_ms,
            tx_root: Block::compute_tx_root(&txs),
            receipts_root: alx_types::hash::ZERO,
            state_root: alx_types::hash::ZERO,
        };
        let draft = Block::new(header.clone(), txs);
        let (mut state, receipts) =
            execute(&parent.state, &draft, &vec![true; draft.txs.len()]).expect("executes");
        header.receipts_root = receipts_root(&receipts);
        header.state_root = state.root();
        let block = Arc::new(Block::new(header, draft.txs));
        let mut rng = commonware_utils::rng::sys_rng();
        assert!(self.ledger.commit(&block, &mut rng).expect("commits"));
        receipts
    }

    /// Runs `payload` from `from` alone in a block and checks it succeeded.
    pub(crate) fn ok(&self, from: u64, payload: Payload) {
        let receipts = self.block(vec![(from, payload)]);
        assert_eq!(receipts[0].error, None, "{receipts:?}");
    }

    /// Empty blocks up to and including `height`.
    pub(crate) fn advance_to(&self, height: u64) {
        while self.height() < height {
            self.block(vec![]);
        }
    }

    /// `GET path`: the status and the JSON body.
    pub(crate) fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::blocking::get(format!("{}{path}", self.url)).expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or_default())
    }
}
