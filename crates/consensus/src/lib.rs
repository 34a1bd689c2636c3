//! Consensus for the Alexandria chain: the only crate that imports the BFT engine
//! (Commonware simplex with marshal).
//!
//! - [`block`]: the chain block as the engine sees it.
//! - [`ledger`]: committed chain, pending executions, mempool; the one place that commits.
//! - [`application`]: propose and verify by execution.
//! - [`finalizer`]: finalized blocks in, durable commits out, acknowledgements back.
//! - [`epochs`]: the validator set of each epoch, from the committed state.
//! - [`validator`]: the wiring of one validator, generic over runtime and network.
//! - [`network`]: authenticated TCP p2p on the tokio runtime.

pub mod application;
pub mod block;
pub mod epochs;
pub mod finalizer;
pub mod gossip;
pub mod ledger;
pub mod mempool;
pub mod network;
mod orchestrator;
pub mod signatures;
pub mod validator;

pub use application::AppConfig;
pub use ledger::{Executed, Finalized, Ledger, LedgerError, SubmitError};
pub use mempool::{AdmitError, MempoolConfig};
pub use validator::{Channels, Running, Timeouts, ValidatorConfig};
