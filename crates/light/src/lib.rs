//! The light client: checks, with no node code and without trusting the node it asks, that a
//! block header was finalized by a quorum of its epoch's validators.
//!
//! ```text
//! genesis file ─► epoch 0's validators ─┐
//!                                       ▼
//! headers h..=h' + certificate of h' ─► verify_finalization ─► the headers, finalized
//!
//! epoch e's set + its last block, finalized + the stored set and its state proof
//!                                       ─► next_set ─► epoch e + 1's set
//! ```
//!
//! A simplex finalization certificate (ed25519 scheme) is the proposal the validators voted
//! for — epoch, view, parent view, the block's digest — and the signatures of at least a quorum
//! (`n − ⌊(n − 1)/3⌋`, more than two thirds) of the epoch's validators, each over the proposal
//! under the namespace `_ALX_CONSENSUS_FINALIZE`. A header is finalized if its digest is the
//! certificate's payload, or if it is an ancestor of such a header through parent links (a
//! block is final when a descendant is; not every height has its own certificate).
//!
//! This crate re-implements only the message and the quorum rule, over commonware's own
//! ed25519 verification (so it accepts exactly the signatures consensus accepts); a test in
//! `alx-consensus` holds it to certificates the consensus engine itself assembles.

mod certificate;
mod client;
mod epochs;
mod error;
pub mod fixture;
mod set;

pub use certificate::{FINALIZE_NAMESPACE, HEADERS_MAX, Proposal, verify_finalization};
pub use client::{Finalized, LightClient, ProofSource};
pub use epochs::next_set;
pub use error::LightError;
pub use set::ValidatorSet;
