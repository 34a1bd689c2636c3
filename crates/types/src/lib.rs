//! Alexandria's shared vocabulary: addresses, amounts, transactions, blocks, receipts, the
//! canonical encoding of each (commonware-codec), signing namespaces, protocol limits and the
//! JSON shapes of the public API.
//!
//! Everything here is pure: no I/O, no clock, no randomness. Every decoder treats its input as
//! hostile and bounds every length it reads by a constant from [`limits`].

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod amount;
pub mod api;
mod api_payload;
pub mod attribution_api;
pub mod availability;
pub mod block;
pub mod chain_id;
pub mod challenge;
pub mod datanet;
pub mod datanet_api;
pub mod dispute;
pub mod equivocation;
pub mod eval_api;
pub mod hash;
mod id;
pub mod limits;
pub mod merkle;
pub mod model;
pub mod model_api;
pub mod receipt;
pub mod settled;
pub mod settled_batch;
pub mod staking;
pub mod staking_api;
pub mod strict;
pub mod subnet;
pub mod subnet_api;
pub mod tx;
pub mod upload;
pub mod usage;
pub mod usage_api;
pub mod withheld;

pub use address::{Address, AddressError};
pub use amount::Amount;
pub use block::{Block, BlockHeader, Height};
pub use chain_id::ChainId;
pub use hash::Hash;
pub use receipt::{ErrorCode, Receipt, TxStatus};
pub use tx::{Nonce, Payload, SignedTx, Transaction, TxHash};

/// Signing namespace of transactions: a signature made for any other purpose never verifies as
/// a transaction signature.
pub const NAMESPACE_TX: &[u8] = b"_ALX_TX";
/// Namespace of the consensus votes of validators.
pub const NAMESPACE_CONSENSUS: &[u8] = b"_ALX_CONSENSUS";
/// Namespace of the p2p handshake.
pub const NAMESPACE_P2P: &[u8] = b"_ALX_P2P";
