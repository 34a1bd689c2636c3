//! The node: composition root. Reads the home directory (config, genesis, validator key),
//! starts the runtime, the ledger, the p2p network, consensus and the API, and stops them on
//! Ctrl-C or on the first fatal error.

#![forbid(unsafe_code)]

mod availability;
pub mod chain;
mod collect;
pub mod config;
pub mod descriptors;
mod disputes;
pub mod error;
mod history;
pub mod home;
mod indexer;
pub mod lock;
pub mod node_key;
pub mod run;
pub mod supervise;

pub use config::NodeConfig;
pub use error::{Listener, StartError};
pub use run::{Overrides, Ready, StopSignal, run, run_with};
