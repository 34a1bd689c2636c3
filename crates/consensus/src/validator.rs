//! Wiring of one validator: marshal (block dissemination, backfill, finalized archive), the
//! per-epoch simplex engines (started by the [`Orchestrator`]) wrapped around [`App`] by
//! marshal's `Deferred` adapter, and the finalizer.
//! Generic over the runtime and the p2p implementation, so the same code runs on tokio with
//! authenticated TCP and in the deterministic simulator.

use crate::{
    application::{App, AppConfig},
    block::ChainBlock,
    epochs::{self, EpochSchemes, MAX_PENDING_ACKS},
    finalizer::{self, Finalizer},
    orchestrator::Orchestrator,
};
use alx_ledger::{Ledger, LedgerError};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self, Start,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        resolver::p2p as marshal_resolver,
        standard::{Deferred, Standard},
    },
    simplex::scheme::ed25519::Scheme,
    types::ViewDelta,
};
use commonware_cryptography::{
    Digested, Signer as _,
    certificate::Verifier as _,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::{AddressableManager, Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize};
use rand_core::CryptoRng;
use std::{sync::Arc, time::Duration};

/// Consensus timing.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for a leader's proposal before voting to skip the view.
    pub leader: Duration,
    /// How long to wait for certification of a notarized block.
    pub certification: Duration,
}

/// One validator's settings.
#[derive(Clone)]
pub struct ValidatorConfig {
    /// The validator's key (consensus and p2p identity). Validator sets come from the state:
    /// outside the active set the node follows, verifying without voting.
    pub signer: PrivateKey,
    /// Prefix of the storage partitions (unique per node, stable across restarts).
    pub partition_prefix: String,
    /// Block building.
    pub app: AppConfig,
    /// Consensus timing.
    pub timeouts: Timeouts,
}

/// The p2p channels a validator uses, all of one network implementation.
pub struct Channels<S, R> {
    /// Simplex votes.
    pub votes: (S, R),
    /// Simplex certificates.
    pub certificates: (S, R),
    /// Simplex certificate resolver.
    pub resolver: (S, R),
    /// Full blocks (buffered broadcast).
    pub blocks: (S, R),
    /// Marshal backfill of missing finalized blocks.
    pub backfill: (S, R),
    /// Transaction gossip.
    pub txs: (S, R),
}

/// The running tasks of a validator.
pub struct Running {
    /// The per-epoch consensus engines (ends with an error if the state cannot describe the
    /// next epoch).
    pub orchestrator: Handle<Result<(), LedgerError>>,
    /// Marshal.
    pub marshal: Handle<()>,
    /// Block broadcast.
    pub broadcast: Handle<()>,
    /// The finalizer (ends with an error if a commit failed).
    pub finalizer: Handle<Result<(), alx_ledger::LedgerError>>,
    /// Transaction gossip.
    pub gossip: Handle<()>,
    /// The finalization certificates marshal keeps, for light clients.
    pub certificates: Certificates,
}

/// The finalization certificates this validator holds (marshal's archive), by height.
#[derive(Clone)]
pub struct Certificates {
    marshal: MarshalMailbox<Scheme, Standard<ChainBlock>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

impl Certificates {
    /// The encoded simplex finalization of the block at `height`, if this node stored one
    /// (not every height has its own: a block can be final through a descendant's certificate,
    /// and blocks fetched to fill a gap come without one). Reads local storage only.
    pub async fn finalization(&self, height: alx_types::Height) -> Option<Vec<u8>> {
        use commonware_codec::Encode as _;
        let finalization = self
            .marshal
            .get_finalization(commonware_consensus::types::Height::new(height.0))
            .await?;
        Some(finalization.encode().to_vec())
    }
}

impl Running {
    /// Stops every task.
    pub fn abort(&self) {
        self.orchestrator.abort();
        self.marshal.abort();
        self.broadcast.abort();
        self.finalizer.abort();
        self.gossip.abort();
    }
}

/// Starts a validator over `ledger` on the given network. `peers` is told, epoch by epoch,
/// whom to connect.
///
/// # Errors
/// If the committed state cannot give an epoch length (a corrupt store).
pub async fn start<E, S, R, B, P>(
    context: E,
    ledger: Arc<Ledger>,
    cfg: ValidatorConfig,
    blocker: B,
    peers: P,
    channels: Channels<S, R>,
) -> Result<Running, LedgerError>
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng + commonware_runtime::Supervisor,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
    P: Provider<PublicKey = PublicKey> + AddressableManager + Clone,
{
    let me = cfg.signer.public_key();
    let epocher = epochs::epocher(&ledger.committed().state)?;
    // Filled by the orchestrator before each epoch's engine starts.
    let schemes = EpochSchemes::default();
    let prefix = cfg.partition_prefix.clone();
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(1024));
    let buffer_size = NZUsize!(64 << 10);

    let resolver = marshal_resolver::init(
        context.child("backfill"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    let broadcast = broadcast_engine.start(channels.blocks);

    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            &page_cache,
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .expect("finalizations archive must open");
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, ()),
    )
    .await
    .expect("blocks archive must open");

    let genesis = ChainBlock::new(ledger.genesis()).expect("genesis proposer is a key");
    let genesis_digest = ledger.genesis().digest();
    let (marshal_actor, marshal_mailbox, _floor): (
        _,
        MarshalMailbox<Scheme, Standard<ChainBlock>>,
        _,
    ) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: buffer_size,
            key_write_buffer: buffer_size,
            value_write_buffer: buffer_size,
            block_codec_config: (),
            max_repair: NZUsize!(10),
            max_pending_acks: NZUsize!(MAX_PENDING_ACKS as usize),
            strategy: Sequential,
        },
    )
    .await;
    let (finalizer, updates) = Finalizer::new();
    let marshal = marshal_actor.start(finalizer, buffer, resolver);
    let finalizer = context.child("finalizer").spawn({
        let ledger = ledger.clone();
        move |ctx| finalizer::run(ledger, updates, ctx)
    });

    let (outbound, outbound_rx) = tokio::sync::mpsc::channel(crate::gossip::GOSSIP_QUEUE_MAX);
    ledger.set_gossip(outbound);
    let gossip = context.child("gossip").spawn({
        let ledger = ledger.clone();
        move |ctx| crate::gossip::run(ledger, outbound_rx, channels.txs, ctx)
    });
    let app = App::new(ledger.clone(), cfg.app);
    let wrapper =
        Deferred::new(context.child("application"), app, marshal_mailbox.clone(), epocher.clone());
    let certificates = Certificates { marshal: marshal_mailbox.clone() };
    let orchestrator = Orchestrator {
        ledger,
        signer: cfg.signer,
        epocher,
        schemes,
        marshal: marshal_mailbox,
        wrapper,
        blocker,
        manager: peers,
        partition_prefix: prefix,
        page_cache,
        timeouts: cfg.timeouts,
        tracked: None,
    }
    .start(
        context.child("orchestrator"),
        channels.votes,
        channels.certificates,
        channels.resolver,
    );
    Ok(Running { orchestrator, marshal, broadcast, finalizer, gossip, certificates })
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let buffer_size = NZUsize!(64 << 10);
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-value"),
        freezer_value_target_size: 4 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config,
        replay_buffer: buffer_size,
        freezer_key_write_buffer: buffer_size,
        freezer_value_write_buffer: buffer_size,
        ordinal_write_buffer: buffer_size,
    }
}
