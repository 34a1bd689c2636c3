//! Receives finalized blocks from marshal (in height order, at least once) and commits them to
//! the ledger, acknowledging each only after its commit is durable. A commit failure stops the
//! node: running on after a failed storage write, or on a state that disagrees with the
//! finalized chain, would serve wrong answers.

use crate::block::ChainBlock;
use alx_ledger::Ledger;
use commonware_actor::Feedback;
use commonware_consensus::{Reporter, marshal::Update};
use commonware_utils::{Acknowledgement as _, channel::mpsc};
use rand_core::CryptoRng;
use std::sync::Arc;
use tracing::{error, info};

/// The reporter handed to marshal: forwards updates to [`run`].
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<Update<ChainBlock>>,
}

impl Finalizer {
    /// A finalizer and the receiving end for [`run`].
    #[must_use]
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Update<ChainBlock>>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }
}

impl Reporter for Finalizer {
    type Activity = Update<ChainBlock>;
    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match self.sender.send(activity) {
            Ok(()) => Feedback::Ok,
            Err(_) => Feedback::Closed,
        }
    }
}

/// Commits finalized blocks until the channel closes or a commit fails (returns the error).
pub async fn run(
    ledger: Arc<Ledger>,
    mut updates: mpsc::UnboundedReceiver<Update<ChainBlock>>,
    mut rng: impl CryptoRng,
) -> Result<(), alx_ledger::LedgerError> {
    while let Some(update) = updates.recv().await {
        let Update::Block(block, ack) = update else {
            continue;
        };
        let block = block.inner().shared();
        match ledger.commit(&block, &mut rng) {
            Ok(true) if block.height().0 % 100 == 0 || !block.txs.is_empty() => {
                info!(height = %block.height(), txs = block.txs.len(), "committed");
            }
            Ok(_) => {}
            Err(err) => {
                error!(%err, height = %block.height(), "failed to commit finalized block; stopping");
                // Dropping the acknowledgement stops marshal too.
                return Err(err);
            }
        }
        ack.acknowledge();
    }
    Ok(())
}
