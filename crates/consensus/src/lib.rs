//! Consensus for the Alexandria chain: the only crate that imports the BFT engine
//! (Commonware simplex with marshal).
//!
//! - [`block`]: the chain block as the engine sees it.
//! - the ledger (`alx-ledger`, re-exported): committed chain, pending executions, mempool; the
//!   one place that commits.
//! - [`application`]: propose and verify by execution.
//! - [`finalizer`]: finalized blocks in, durable commits out, acknowledgements back.
//! - [`epochs`]: the validator set of each epoch, from the committed state.
//! - [`validator`]: the wiring of one validator, generic over runtime and network.
//! - [`network`]: authenticated TCP p2p on the tokio runtime.

pub mod application;
pub mod block;
#[cfg(feature = "byzantine")]
pub mod byzantine;
pub mod epochs;
pub mod evidence;
pub mod finalizer;
pub mod gossip;
pub mod network;
mod orchestrator;
pub mod validator;

pub use alx_ledger::{
    AdmitError, ChainView, Executed, Finalized, Ledger, LedgerError, MempoolConfig, SubmitError,
    ledger, mempool, signatures,
};
pub use application::{AppConfig, Proposals};
pub use validator::{Certificates, Channels, Running, Timeouts, ValidatorConfig};
