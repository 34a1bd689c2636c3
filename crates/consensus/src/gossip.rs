//! Transaction gossip between validators: a transaction admitted from a client on one
//! validator is forwarded, in batches, to every other validator, so whichever leads next can
//! include it. Best effort and bounded: batches carry at most [`GOSSIP_BATCH_MAX`]
//! transactions, the outbound queue drops batches when full, and received transactions are
//! admitted exactly as client submissions (same checks) but never forwarded again; every
//! validator is connected to every other, so one hop reaches all.

use alx_ledger::Ledger;
use alx_types::SignedTx;
use commonware_codec::{EncodeSize as _, RangeCfg, Read as _, Write as _};
use commonware_p2p::{Receiver, Recipients, Sender};
use rand_core::CryptoRng;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::debug;

/// Most transactions in one gossip message.
pub const GOSSIP_BATCH_MAX: usize = 1024;
/// Batches waiting to be sent before new ones are dropped.
pub const GOSSIP_QUEUE_MAX: usize = 256;

/// Encodes a batch: a length-prefixed list of signed transactions.
#[must_use]
pub fn encode_batch(txs: &[SignedTx]) -> bytes::Bytes {
    let mut buf = bytes::BytesMut::with_capacity(txs.encode_size());
    txs.write(&mut buf);
    buf.freeze()
}

/// Decodes a batch, refusing more than [`GOSSIP_BATCH_MAX`] transactions.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<SignedTx>, commonware_codec::Error> {
    let cfg: (RangeCfg<usize>, ()) = ((..=GOSSIP_BATCH_MAX).into(), ());
    let mut buf = commonware_codec::Copying(bytes);
    let txs = Vec::<SignedTx>::read_cfg(&mut buf, &cfg)?;
    if !buf.0.is_empty() {
        return Err(commonware_codec::Error::ExtraData(buf.0.len()));
    }
    Ok(txs)
}

/// Forwards locally admitted batches to peers and admits peers' batches, until both ends close.
pub async fn run<S, R>(
    ledger: Arc<Ledger>,
    mut outbound: mpsc::Receiver<Vec<SignedTx>>,
    (mut sender, mut receiver): (S, R),
    mut rng: impl CryptoRng,
) where
    S: Sender,
    R: Receiver,
{
    loop {
        tokio::select! {
            // No random branch choice: the deterministic simulator replays runs exactly.
            biased;
            batch = outbound.recv() => {
                let Some(batch) = batch else { return };
                for chunk in batch.chunks(GOSSIP_BATCH_MAX) {
                    let _ = sender.send(Recipients::All, encode_batch(chunk), false);
                }
            }
            message = receiver.recv() => {
                let Ok((peer, bytes)) = message else { return };
                match decode_batch(bytes.as_ref()) {
                    Ok(txs) => {
                        let admitted = ledger
                            .submit_from_peer(txs, &mut rng)
                            .iter()
                            .filter(|r| r.is_ok())
                            .count();
                        debug!(?peer, admitted, "gossiped transactions");
                    }
                    Err(err) => debug!(?peer, %err, "undecodable gossip batch"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;

    #[test]
    fn batches_round_trip_and_are_bounded() {
        assert!(decode_batch(&encode_batch(&[])).unwrap().is_empty());
        // A length prefix over the bound is refused before any transaction is read.
        let hostile = (GOSSIP_BATCH_MAX + 1).encode();
        assert!(decode_batch(&hostile).is_err());
        assert!(decode_batch(&[0xff; 3]).is_err());
    }
}
