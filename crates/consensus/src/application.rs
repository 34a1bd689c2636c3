//! The application plugged into marshal: builds blocks (`propose`) and checks the blocks of
//! others (`verify`) by executing them on their parent's state.
//!
//! `propose` waits until transactions are available, up to `empty_block_interval`, so an idle
//! chain does not spin out empty blocks as fast as consensus can finalize them (a single
//! validator would otherwise do exactly that). The interval stays below the leader timeout.
//!
//! `verify` never answers `false` for a missing ancestor: it walks the ancestry back to a state
//! it knows (the committed tip or a pending execution) and executes forward.

use crate::block::{BlockContext, ChainBlock};
use alx_ledger::{Ledger, execute, receipts_root};
use alx_state::State;
use alx_types::{Block, BlockHeader, Height, SignedTx, limits::BLOCK_TXS_MAX};
use commonware_consensus::{
    Application, Heightable as _, marshal::ancestry::Ancestry, simplex::scheme::ed25519::Scheme,
};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Metrics, Spawner};
use futures::StreamExt as _;
use rand_core::CryptoRng;
use std::{sync::Arc, time::Duration};
use tracing::{debug, warn};

/// Block-building settings.
#[derive(Clone, Copy, Debug)]
pub struct AppConfig {
    /// Longest wait for transactions before proposing an empty block.
    pub empty_block_interval: Duration,
    /// Most transactions per block (at most [`BLOCK_TXS_MAX`]).
    pub block_txs_max: usize,
    /// How this validator's proposals are built: honestly, unless the simulation makes it a
    /// Byzantine proposer (feature `byzantine`, never in a node).
    pub proposals: Proposals,
}

/// How proposals are built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Proposals {
    /// Executed on the parent's state, with the roots of that execution.
    #[default]
    Honest,
    /// With a state root that is not the execution's: every other validator refuses them
    /// (the deterministic simulation's invalid proposer).
    #[cfg(feature = "byzantine")]
    WrongStateRoot,
}

/// The chain application.
#[derive(Clone)]
pub struct App {
    ledger: Arc<Ledger>,
    cfg: AppConfig,
}

impl App {
    /// An application over `ledger`.
    #[must_use]
    pub fn new(ledger: Arc<Ledger>, cfg: AppConfig) -> Self {
        Self { ledger, cfg }
    }

    /// The state after `parent`, executing any ancestors this node has not executed yet.
    async fn state_after(
        &self,
        parent: Digested<ChainBlock>,
        mut ancestry: impl Ancestry<ChainBlock>,
        rng: &mut impl CryptoRng,
    ) -> Option<State> {
        let committed_height = self.ledger.committed().block.height();
        let mut missing = Vec::new();
        let mut cursor = parent;
        let mut base = loop {
            if let Some(state) = self.ledger.state_after(&cursor.digest()) {
                break state;
            }
            if Height(cursor.height().get()) <= committed_height {
                // A fork below the committed tip can never be finalized.
                return None;
            }
            missing.push(cursor);
            cursor = ancestry.next().await?;
        };
        for block in missing.into_iter().rev() {
            let block = block.inner().shared();
            base = self.execute_and_check(&base, &block, rng)?;
        }
        Some(base)
    }

    /// Executes `block` on `parent`, checks its roots, and records it as pending.
    fn execute_and_check(
        &self,
        parent: &State,
        block: &Arc<Block>,
        rng: &mut impl CryptoRng,
    ) -> Option<State> {
        let sigs = self.ledger.verify_signatures(&block.txs, rng);
        let (mut state, receipts) = match execute(parent, block, &sigs) {
            Ok(out) => out,
            Err(err) => {
                warn!(%err, height = %block.height(), "block does not execute");
                return None;
            }
        };
        let h = &block.header;
        if Block::compute_tx_root(&block.txs) != h.tx_root
            || receipts_root(&receipts) != h.receipts_root
            || state.root() != h.state_root
        {
            warn!(height = %block.height(), "block roots do not match its execution");
            return None;
        }
        self.ledger.insert_pending(alx_ledger::Executed {
            block: block.clone(),
            state: state.clone(),
            receipts,
        });
        Some(state)
    }

    async fn wait_for_txs<E: Clock>(&self, clock: &E) {
        let deadline = clock.current() + self.cfg.empty_block_interval;
        while self.ledger.mempool_len() == 0 && clock.current() < deadline {
            clock.sleep(Duration::from_millis(5)).await;
        }
    }
}

fn now_ms<E: Clock>(clock: &E) -> u64 {
    clock
        .current()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl<E> Application<E> for App
where
    E: Clock + Spawner + Metrics + CryptoRng,
{
    type SigningScheme = Scheme;
    type Context = BlockContext;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (mut runtime, context): (E, BlockContext),
        mut ancestry: impl Ancestry<ChainBlock>,
        _input: (),
    ) -> Option<Digested<ChainBlock>> {
        let parent = ancestry.next().await?;
        let parent_block = parent.inner().shared();
        let parent_state = self.state_after(parent, ancestry, &mut runtime).await?;
        self.wait_for_txs(&runtime).await;
        let txs: Vec<SignedTx> =
            self.ledger.select_txs(&parent_state, self.cfg.block_txs_max.min(BLOCK_TXS_MAX));
        // Mempool transactions had their signatures verified on admission.
        let sigs = vec![true; txs.len()];
        let proposer = alx_types::Address::from_public_key(&context.leader);
        let mut header = BlockHeader {
            parent: parent_block.digest(),
            height: parent_block.height().next(),
            epoch: context.round.epoch().get(),
            view: context.round.view().get(),
            parent_view: context.parent.0.get(),
            proposer,
            timestamp_ms: now_ms(&runtime).max(parent_block.header.timestamp_ms),
            tx_root: Block::compute_tx_root(&txs),
            receipts_root: alx_types::hash::ZERO,
            state_root: alx_types::hash::ZERO,
        };
        let draft = Block::new(header.clone(), txs);
        let (mut state, receipts) = match execute(&parent_state, &draft, &sigs) {
            Ok(out) => out,
            Err(err) => {
                warn!(%err, "could not execute own proposal");
                return None;
            }
        };
        header.receipts_root = receipts_root(&receipts);
        header.state_root = state.root();
        #[cfg(feature = "byzantine")]
        if self.cfg.proposals == Proposals::WrongStateRoot {
            header.state_root =
                alx_types::hash::sha256(&[b"not this block's state", &header.state_root.0]);
        }
        let block = Arc::new(Block::new(header, draft.txs));
        debug!(height = %block.height(), txs = block.txs.len(), "proposed");
        self.ledger.insert_pending(alx_ledger::Executed { block: block.clone(), state, receipts });
        let digest = block.digest();
        let chain_block = ChainBlock::new(block)?;
        Some(Digested::precomputed(chain_block, digest))
    }

    async fn verify(
        &mut self,
        (mut runtime, _context): (E, BlockContext),
        mut ancestry: impl Ancestry<ChainBlock>,
    ) -> bool {
        let Some(candidate) = ancestry.next().await else {
            return false;
        };
        if self.ledger.pending(&candidate.digest()).is_some() {
            return true;
        }
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let block = candidate.inner().shared();
        if block.header.timestamp_ms < parent.inner().block().header.timestamp_ms {
            return false;
        }
        let Some(parent_state) = self.state_after(parent, ancestry, &mut runtime).await else {
            return false;
        };
        self.execute_and_check(&parent_state, &block, &mut runtime).is_some()
    }
}
