//! Byzantine validators for the deterministic simulation (feature `byzantine`, never in a
//! node): commonware's own simplex mocks, speaking on the vote channel of epoch 0 as a real
//! validator's orchestrator would.

use alx_types::NAMESPACE_CONSENSUS;
use commonware_consensus::simplex::{
    mocks::conflicter::{Config, Conflicter},
    scheme::ed25519::Scheme,
};
use commonware_cryptography::{
    Sha256,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::{Receiver, Sender, utils::mux::Muxer};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Supervisor};
use commonware_utils::ordered::Set;
use rand_core::CryptoRng;

/// Starts a validator that answers every vote it receives with a notarize and a finalize of
/// another proposal for the same round: an equivocator. It never proposes or certifies.
pub async fn start_conflicter<E, S, R>(
    context: E,
    key: PrivateKey,
    participants: Set<PublicKey>,
    votes: (S, R),
) -> Handle<()>
where
    E: Spawner + Clock + Metrics + Supervisor + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let (mux, mut handle) = Muxer::new(context.child("conflicter_mux"), votes.0, votes.1);
    mux.start();
    let epoch0 = handle.register(0).await.expect("epoch 0's vote subchannel");
    let scheme = Scheme::signer(NAMESPACE_CONSENSUS, participants, key)
        .expect("the conflicter is a participant");
    Conflicter::<_, Scheme, Sha256>::new(context.child("conflicter"), Config { scheme })
        .start(epoch0)
}
