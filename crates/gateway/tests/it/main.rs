//! Integration tests of the gateway: a real ledger on a temporary store, fed blocks built here
//! (the mempool's transactions included, so the settler's settlements commit or fail for real).

mod catalog;
mod settle;

use alx_ledger::{
    Ledger, MempoolConfig,
    ledger::{execute, receipts_root},
};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{
    Address, Amount, Block, Receipt, SignedTx, Transaction, block::BlockHeader, tx::Payload,
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
