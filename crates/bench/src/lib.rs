//! What `alx bench` measures, as a library: each benchmark is a module with a plain `Config`
//! in, a `run` that measures, and a `serde::Serialize` `Report` out. The `alx` command parses
//! flags into the config, calls `run` (with a progress callback where the benchmark has
//! steps: each progress value displays as one line) and prints the report;
//! docs/BENCHMARKS.md quotes the reports' JSON.
//!
//! ```text
//!   module      needs                                 reports
//!   ledger      nothing (starts its own networks)     tx/s, verify limit, finality, cold start
//!   yuma        nothing                               epoch and per-block times
//!   staking     nothing (an in-memory chain)          a block's reward distribution by delegators
//!   inference   a GGUF file (a peer Python, a node)   tokens/s against llama.cpp
//!   influence   a GGUF file                           LDS of influence against span attribution
//!   overhead    a running node's gateway              gateway ms per request
//!   serving     a running node's gateway (a peer)     tokens/s and TTFT by client count
//!   load        a running node's gateway              chain pace under gateway load
//! ```
//!
//! Timings come from the wall clock: these are measurements of a machine, never inputs to
//! consensus. Nothing here prints; errors are [`BenchError`].

#![forbid(unsafe_code)]

mod endpoint;
mod error;
pub mod inference;
pub mod influence;
pub mod ledger;
pub mod load;
pub mod overhead;
pub mod receipts;
pub mod serving;
pub mod staking;
mod stats;
pub mod yuma;

pub use endpoint::Endpoint;
pub use error::BenchError;
