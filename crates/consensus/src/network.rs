//! Authenticated, encrypted TCP between validators (commonware `p2p::authenticated::lookup`:
//! every peer's address is known from the state, and only the peers of the tracked epochs
//! may connect; the orchestrator tells the network each epoch's peers).

use crate::{epochs::TRACKED_PEERS_MAX, validator::Channels};
use alx_types::{NAMESPACE_P2P, limits::BLOCK_SIZE_MAX};
use commonware_cryptography::{
    ChaCha20Poly1305,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::authenticated::lookup::{self, Network};
use commonware_runtime::{Clock, Handle, Metrics, Network as RNetwork, Quota, Resolver, Spawner};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize};
use rand_core::CryptoRng;
use std::{net::SocketAddr, time::Duration};

/// Where this validator listens.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Listen address.
    pub listen: SocketAddr,
}

/// Channel numbers on the wire. Stable: changing one splits the network.
mod channel {
    pub(super) const VOTES: u64 = 0;
    pub(super) const CERTIFICATES: u64 = 1;
    pub(super) const RESOLVER: u64 = 2;
    pub(super) const BLOCKS: u64 = 3;
    pub(super) const BACKFILL: u64 = 4;
    pub(super) const TXS: u64 = 5;
}

/// The running network of one validator.
pub struct Started<S, R, O> {
    /// The channels for the validator.
    pub channels: Channels<S, R>,
    /// The peer oracle (blocker and peer provider).
    pub oracle: O,
    /// The network task.
    pub handle: Handle<()>,
}

/// Most p2p handshakes in flight at once (each holds a descriptor until it completes or times
/// out after 5 s).
pub const HANDSHAKES_IN_FLIGHT_MAX: u32 = 128;

/// Largest message: a full block plus framing headroom.
pub const MAX_MESSAGE_SIZE: u32 = (BLOCK_SIZE_MAX + (64 << 10)) as u32;

/// Starts the network.
#[allow(clippy::type_complexity)]
pub fn start<E>(
    context: E,
    signer: &PrivateKey,
    cfg: &NetworkConfig,
) -> Started<lookup::Sender<PublicKey, E>, lookup::Receiver<PublicKey>, lookup::Oracle<PublicKey>>
where
    E: Spawner + Clock + CryptoRng + RNetwork + Resolver + Metrics,
{
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    // Lookup refuses (panics on) a tracked set above the limit: size it for the largest set
    // an epoch can have, not for today's.
    let limit = NZUsize!(TRACKED_PEERS_MAX);
    let net_cfg = lookup::Config::local(
        handshake,
        NAMESPACE_P2P,
        cfg.listen,
        limit,
        MAX_MESSAGE_SIZE,
        NZUsize!(1024),
    );
    // Each handshake in flight holds a descriptor, and anyone may open one: the local
    // defaults allow 1,024 at once, which alone could take a default descriptor limit. 128 is
    // far above what a validator set reconnecting needs, and leaves storage its share (the
    // API listener takes at most half the limit; see alx_api::server).
    let mut net_cfg = net_cfg;
    net_cfg.max_concurrent_handshakes = NZU32!(HANDSHAKES_IN_FLIGHT_MAX);
    let (mut network, oracle) = Network::new(context, net_cfg);
    // Per-peer rates. The network sizes each channel's inbound mailbox as one second's burst
    // from every peer it may retain, so these stay near what the protocol needs (simplex sends
    // a few votes per view; gossip sends batches): generous quotas cost memory up front.
    let quota = |n| Quota::per_second(n);
    let channels = Channels {
        votes: network.register(channel::VOTES, quota(NZU32!(300))),
        certificates: network.register(channel::CERTIFICATES, quota(NZU32!(300))),
        resolver: network.register(channel::RESOLVER, quota(NZU32!(100))),
        blocks: network.register(channel::BLOCKS, quota(NZU32!(100))),
        backfill: network.register(channel::BACKFILL, quota(NZU32!(200))),
        txs: network.register(channel::TXS, quota(NZU32!(50))),
    };
    let handle = network.start();
    Started { channels, oracle, handle }
}
