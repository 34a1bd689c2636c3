//! Integration tests of the gateway: a real ledger on a temporary store, fed blocks built here
//! (the mempool's transactions included, so the settler's settlements commit or fail for real).

mod adapters;
mod catalog;
mod core;
mod evaluate;
mod influence;
mod settle;

use alx_ledger::{
    Ledger, MempoolConfig,
    ledger::{execute, receipts_root},
};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{
    Address, Amount, Block, Receipt, SignedTx, Transaction,
    block::BlockHeader,
    datanet::{ContributionId, DatanetId},
    tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{collections::BTreeMap, sync::Arc};

pub(crate) const MIN_FEE: u128 = 1_000;
pub(crate) const ALX: u128 = 1_000_000_000;

pub(crate) fn key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(i)
}

pub(crate) fn addr(i: u64) -> Address {
    Address::from_public_key(&key(i).public_key())
}

/// Accounts 0..5 with 10,000 ALX; account 0 is the validator, the proposer and the provider.
fn genesis() -> Genesis {
    Genesis {
        chain_id: "alx-test".parse().expect("chain id"),
        params: Params { min_fee: Amount(MIN_FEE), epoch_length: 100_000, validators_max: 4 },
        accounts: (0..5)
            .map(|i| GenesisAccount { address: addr(i), balance: Amount(10_000 * ALX) })
            .collect(),
        validators: vec![GenesisValidator {
            address: addr(0),
            stake: Amount(1_000 * ALX),
            p2p_addr: "127.0.0.1:1".parse().expect("socket address"),
        }],
        emission: None,
        providers: vec![alx_state::GenesisProvider { address: addr(0), bond: Amount(1 << 100) }],
    }
}

/// A ledger fed by [`Chain::block`].
pub(crate) struct Chain {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) dir: tempfile::TempDir,
    nonces: std::sync::Mutex<BTreeMap<u64, u64>>,
}

impl Chain {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mempool = MempoolConfig { capacity: 1_000, per_sender_max: 100 };
        let ledger = Arc::new(
            Ledger::open(&dir.path().join("chain.redb"), &genesis(), mempool).expect("ledger"),
        );
        Self { ledger, dir, nonces: std::sync::Mutex::default() }
    }

    /// Commits the next block: `txs` (signed here, with the senders' next nonces) first, then
    /// whatever waits in the mempool. Returns the receipts of both, in order.
    pub(crate) fn block(&self, txs: Vec<(u64, Payload)>) -> Vec<Receipt> {
        self.block_with(txs, true)
    }

    /// Commits a block of nothing, leaving the mempool as it is (a leader that never picks
    /// what waits there).
    pub(crate) fn empty_block(&self) {
        self.block_with(vec![], false);
    }

    fn block_with(&self, txs: Vec<(u64, Payload)>, mempool: bool) -> Vec<Receipt> {
        let parent = self.ledger.committed();
        let mut nonces = self.nonces.lock().unwrap();
        let mut signed: Vec<SignedTx> = txs
            .into_iter()
            .map(|(from, payload)| {
                let committed = parent.state.account(&addr(from)).unwrap().map_or(0, |a| a.nonce);
                let next = nonces.entry(from).or_insert(committed);
                *next = (*next).max(committed);
                *next += 1;
                let chain_id = *parent.state.chain_id();
                Transaction {
                    chain_id,
                    sender: addr(from),
                    nonce: *next - 1,
                    fee: Amount(MIN_FEE),
                    payload,
                }
                .sign(&key(from))
            })
            .collect();
        if mempool {
            signed.extend(self.ledger.select_txs(&parent.state, 1_000));
        }
        let height = parent.block.height().next();
        let mut header = BlockHeader {
            parent: parent.block.digest(),
            height,
            epoch: 0,
            view: height.0,
            parent_view: height.0 - 1,
            proposer: addr(0),
            timestamp_ms: parent.block.header.timestamp_ms,
            tx_root: Block::compute_tx_root(&signed),
            receipts_root: alx_types::hash::ZERO,
            state_root: alx_types::hash::ZERO,
        };
        let draft = Block::new(header.clone(), signed);
        let mut rng = commonware_utils::rng::test_rng();
        let sigs = self.ledger.verify_signatures(&draft.txs, &mut rng);
        let (mut state, receipts) = execute(&parent.state, &draft, &sigs).expect("executes");
        header.receipts_root = receipts_root(&receipts);
        header.state_root = state.root();
        let block = Arc::new(Block::new(header, draft.txs));
        assert!(self.ledger.commit(&block, &mut rng).expect("commits"));
        receipts
    }

    /// Runs `payload` from `from` alone and checks it applied.
    pub(crate) fn ok(&self, from: u64, payload: Payload) {
        let receipts = self.block(vec![(from, payload)]);
        assert_eq!(receipts[0].error, None, "{receipts:?}");
    }
}

/// The base model hash the served chain's model names.
pub(crate) fn base_model() -> alx_types::Hash {
    alx_types::hash::sha256(&[b"weights"])
}

/// The hash of payer `payer`'s API key, `alx-sk-{payer}`.
pub(crate) fn key_of(payer: u64) -> alx_types::Hash {
    alx_types::hash::sha256(&[format!("alx-sk-{payer}").as_bytes()])
}

/// A chain serving one model: datanet 0 with contribution 0 (by 2) in version 1; model 0 "m"
/// (owned by 1) on it, on [`base_model`], at `price` per 1,000 tokens in and out; and keys for
/// payers 3 and 4 at provider 0, each with 1 ALX of allowance.
pub(crate) fn served_chain(price: Amount) -> Chain {
    use alx_types::{
        datanet::{ContentRef, DatanetOp, DatanetSpec, MediaType, Policy},
        hash::sha256,
        model::{DatanetVersionRef, FeeSplit, ModelOp, ModelSpec},
        usage::UsageOp,
    };
    let chain = Chain::new();
    let spec = DatanetSpec {
        name: "d".into(),
        description: String::new(),
        tags: vec![],
        license: "MIT".into(),
        policy: Policy::Open,
        contribution_fee: Amount(0),
        contribution_stake: Amount(0),
        daily_byte_cap: 0,
        curators: vec![],
        duplicate_threshold_bps: 0,
    };
    chain.ok(1, Payload::Datanet(DatanetOp::Create(Box::new(spec))));
    let content = ContentRef { hash: sha256(&[b"c"]), size: 10, media_type: MediaType::Text };
    chain.ok(2, Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content }));
    let report = alx_types::availability::DataReport {
        datanet: DatanetId(0),
        contribution: ContributionId(0),
        verdict: alx_types::availability::DataVerdict::Held {
            text_hash: sha256(&[b"text"]),
            coverage_bps: 0,
            covered_by: None,
            against_version: 0,
        },
    };
    chain.ok(0, Payload::Datanet(DatanetOp::Attest { reports: vec![report] }));
    chain.ok(1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) }));
    let model = ModelSpec {
        name: "m".into(),
        base_model: base_model(),
        adapter: None,
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        price_input_per_1k: price,
        price_output_per_1k: price,
        split: FeeSplit::DEFAULT,
    };
    chain.ok(1, Payload::Model(ModelOp::Register(Box::new(model))));
    for payer in [3, 4] {
        chain.ok(payer, Payload::Usage(UsageOp::Deposit { amount: Amount(ALX) }));
        let create = UsageOp::CreateApiKey {
            key_hash: key_of(payer),
            provider: addr(0),
            allowance: Amount(ALX),
        };
        chain.ok(payer, Payload::Usage(create));
    }
    chain
}

/// The gateway of provider 0 on `chain`, generating with `backend`, with an empty blob store
/// (so retrieval finds no passages).
pub(crate) fn gateway_over(
    chain: &Chain,
    backend: Arc<dyn alx_gateway::Backend>,
    config: alx_gateway::GatewayConfig,
) -> Arc<alx_gateway::Gateway> {
    let blobs = alx_blobs::BlobStore::open(
        &alx_blobs::BlobConfig::default(),
        chain.dir.path(),
        &chain.dir.path().join("staging"),
        1 << 20,
    )
    .expect("blob store");
    let indexes =
        Arc::new(alx_indexer::DatanetIndexes::new(&chain.dir.path().join("index"), blobs));
    alx_gateway::Gateway::new(
        chain.ledger.clone(),
        indexes,
        backend,
        &chain.dir.path().join("receipts"),
        key(0),
        config,
    )
    .expect("gateway")
}
