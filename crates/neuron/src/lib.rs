//! Subnet miners and validators, over the node's typed client: what `alx miner run`,
//! `alx validator run` and `alx subnet commit|reveal` do, as a library that any front end can
//! drive.
//!
//! ```text
//!            ┌──────────── validator::run ────────────┐      miner::run
//!            │ join → permit → reveal saved → score → │      join → follow incentive
//!            │                  commit → next epoch ──┘
//!            ▼                  ▼              ▼
//!        Chain (chain.rs)   Scorer (score.rs, qa.rs)   WeightsStore (store.rs)
//!        ClientChain: the    held-out split of the     salt and weights on disk
//!        node's HTTP API     subnet's datanets         before the commit is sent
//! ```
//!
//! - [`chain`]: the reads and the one way to send a transaction a neuron needs, as a trait;
//!   [`chain::ClientChain`] implements it over `alx-client`.
//! - [`store`]: the weights store, so a commit's reveal survives a crash.
//! - [`weights`]: commit and reveal (the one implementation).
//! - [`validator`]: the validator loop; [`miner`]: the miner loop.
//! - [`score`] and [`qa`]: what validators measure, and the weights they derive from it.
//!
//! Epoch arithmetic is the chain's own ([`alx_types::subnet::EpochSchedule`], which the state
//! machine runs Yuma by). Progress is reported as events ([`validator::ValidatorEvent`],
//! [`miner::MinerEvent`]) that serialize as JSON and display as one line each.

#![forbid(unsafe_code)]

pub mod chain;
mod error;
pub mod miner;
pub mod qa;
pub mod score;
pub mod served;
pub mod store;
pub mod validator;
pub mod weights;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod testing;

pub use error::NeuronError;
