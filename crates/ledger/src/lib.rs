//! The ledger of one node, below consensus: the committed chain (durable), the blocks executed
//! but not yet final, the mempool and batch signature verification; and [`ChainView`], the
//! narrow view of it the node's services use.
//!
//! - [`ledger`]: the one place a finalized block becomes durable state ([`Ledger::commit`]).
//! - [`mempool`]: bounded, nonce-ordered per sender, fee-prioritized, deduplicated.
//! - [`signatures`]: batch verification of transaction signatures.
//! - [`view`]: [`ChainView`] (committed state, reads of committed blocks, submit, subscribe).
//!
//! Consensus (`alx-consensus`) drives the ledger: it proposes from the mempool, executes,
//! records pending executions, and commits what the BFT engine finalizes. Nothing here imports
//! the BFT engine.

pub mod ledger;
pub mod mempool;
pub mod signatures;
pub mod view;

pub use ledger::{
    Executed, Finalized, Ledger, LedgerError, SubmitError, execute, genesis_block, receipts_root,
};
pub use mempool::{AdmitError, MempoolConfig};
pub use view::ChainView;
