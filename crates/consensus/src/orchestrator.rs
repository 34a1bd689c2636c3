//! Runs one simplex engine per epoch, each with the validator set the state chose for it.
//!
//! Marshal, block broadcast, backfill, the finalizer and gossip span every epoch; only the
//! voting engine is per epoch. After each durable commit the orchestrator checks which epoch
//! the next block belongs to; when that changes it registers the epoch's scheme with marshal's
//! provider, tells the p2p layer whom to connect, stops the old engine (its last block is
//! committed, so it can finalize nothing more) and starts the new one on its own
//! subchannels of the vote, certificate and resolver channels.
//!
//! The same step runs at startup, which makes restart a non-event: the committed height says
//! which epoch to (re)enter and the engine replays that epoch's journal.

use crate::{
    application::App,
    block::ChainBlock,
    epochs::{self, EpochPeers, EpochSchemes},
    evidence::EvidenceReporter,
    validator::Timeouts,
};
use alx_ledger::{Ledger, LedgerError};
use commonware_consensus::{
    Reporters,
    marshal::{core::Mailbox as MarshalMailbox, standard::Deferred, standard::Standard},
    simplex::{
        self, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin, scheme::ed25519::Scheme,
    },
    types::{Epoch, Epocher as _, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Sha256,
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::{
    AddressableManager, Blocker, Receiver, Sender,
    utils::mux::{Builder as _, MuxHandle, Muxer},
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, Metrics, Spawner, Storage, Supervisor, buffer::paged::CacheRef,
};
use commonware_utils::{NZDuration, NZUsize, vec::NonEmptyVec};
use rand_core::CryptoRng;
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

/// The marshal-wrapped application every epoch's engine drives.
pub(crate) type Wrapper<E> = Deferred<E, Scheme, App, ChainBlock, FixedEpocher>;

/// What the orchestrator needs beyond the channels.
pub(crate) struct Orchestrator<E: Spawner + Clock + Metrics + Storage, B, M>
where
    E: CryptoRng,
{
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) signer: PrivateKey,
    pub(crate) epocher: FixedEpocher,
    pub(crate) schemes: EpochSchemes,
    pub(crate) marshal: MarshalMailbox<Scheme, Standard<ChainBlock>>,
    pub(crate) wrapper: Wrapper<E>,
    pub(crate) blocker: B,
    pub(crate) manager: M,
    pub(crate) partition_prefix: String,
    pub(crate) page_cache: CacheRef,
    pub(crate) timeouts: Timeouts,
    /// The peers last given to the p2p layer.
    pub(crate) tracked: Option<EpochPeers>,
}

/// The engine running now.
struct Current {
    epoch: Epoch,
    engine: Handle<()>,
}

/// The per-epoch subchannels of the three engine channels.
struct Muxes<S: Sender> {
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    resolver: MuxHandle<S>,
}

impl<E, B, M> Orchestrator<E, B, M>
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng + Supervisor,
    B: Blocker<PublicKey = PublicKey> + Clone,
    M: AddressableManager<PublicKey = PublicKey>,
{
    /// Starts the orchestrator; it ends with an error only if the committed state cannot
    /// describe the next epoch (a corrupt store).
    pub(crate) fn start<S, R>(
        self,
        context: E,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
    ) -> Handle<Result<(), LedgerError>>
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        context.spawn(move |context| self.run(context, votes, certificates, resolver))
    }

    async fn run<S, R>(
        mut self,
        context: E,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
    ) -> Result<(), LedgerError>
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        // Votes for an epoch without an engine here go to the backup queue: a peer ahead of us.
        let (mux, votes, mut ahead) =
            Muxer::builder(context.child("vote_mux"), votes.0, votes.1).with_backup().build();
        mux.start();
        let (mux, certificates) =
            Muxer::new(context.child("certificate_mux"), certificates.0, certificates.1);
        mux.start();
        let (mux, resolver) = Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        let mut muxes = Muxes { votes, certificates, resolver };

        // Subscribe before the first look, so no commit slips between the two.
        let mut events = self.ledger.subscribe();
        let mut current = None;
        self.reconcile(&context, &mut muxes, &mut current).await?;
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    // A lag only means several commits happened: one look covers them all.
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        self.reconcile(&context, &mut muxes, &mut current).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                Some((epoch, (from, _))) = ahead.recv() => {
                    let Some(now) = current.as_ref().map(|c: &Current| c.epoch) else { continue };
                    if Epoch::new(epoch) > now
                        && let Some(last) = self.epocher.last(now)
                    {
                        // Fetch the finalization of our epoch's last block from that peer;
                        // committing it moves us into the next epoch.
                        self.marshal.hint_finalized(last, NonEmptyVec::new(from));
                    }
                }
            }
        }
    }

    /// Tells the p2p layer whom to connect when the committed state changed it: a new set, a
    /// new candidate or a new ranking. The set id is the committed height, so every node
    /// tracks the same sets under the same ids, in increasing order.
    fn track(&mut self, height: u64, peers: &EpochPeers) -> Result<(), LedgerError> {
        if self.tracked.as_ref() == Some(peers) {
            return Ok(());
        }
        let _ = self.manager.track(height, peers.tracked()?);
        self.tracked = Some(peers.clone());
        Ok(())
    }

    /// Enters the epoch of the block after the committed one, if not in it already. Only
    /// moves forward; epochs finalized while we lagged are skipped (nothing left to vote on).
    async fn reconcile<S: Sender<PublicKey = PublicKey>>(
        &mut self,
        context: &E,
        muxes: &mut Muxes<S>,
        current: &mut Option<Current>,
    ) -> Result<(), LedgerError> {
        let committed = self.ledger.committed();
        let height = committed.block.height().0;
        // The committed state chose the set of the epoch that follows it.
        let peers = epochs::epoch_peers(&committed.state)?;
        self.track(height, &peers)?;
        let target = epochs::epoch_after(&self.epocher, committed.block.height())?;
        if current.as_ref().is_some_and(|c| c.epoch >= target) {
            return Ok(());
        }
        let validators = peers.validators()?;
        let scheme = epochs::scheme(validators.clone(), &self.signer);
        self.schemes.insert(target, scheme.clone());

        let floor = if target == Epoch::zero() {
            self.ledger.genesis().digest()
        } else {
            let boundary = self
                .epocher
                .last(target.previous().unwrap_or(Epoch::zero()))
                .ok_or_else(|| LedgerError::Epoch(format!("epoch {target} has no predecessor")))?
                .get();
            if boundary == height {
                committed.block.digest()
            } else {
                self.ledger
                    .store()
                    .block(alx_types::Height(boundary))?
                    .ok_or_else(|| {
                        LedgerError::Epoch(format!("boundary block {boundary} missing"))
                    })?
                    .digest()
            }
        };

        if let Some(old) = current.take() {
            old.engine.abort();
        }
        let engine = self.engine(context, target, scheme, floor);
        let channel = target.get();
        let subchannel = |e: commonware_p2p::utils::mux::Error| {
            LedgerError::Epoch(format!("cannot open the channels of epoch {target}: {e}"))
        };
        let votes = muxes.votes.register(channel).await.map_err(subchannel)?;
        let certificates = muxes.certificates.register(channel).await.map_err(subchannel)?;
        let resolver = muxes.resolver.register(channel).await.map_err(subchannel)?;
        let engine = engine.start(votes, certificates, resolver);
        info!(epoch = target.get(), height, validators = validators.len(), "entered epoch");

        self.schemes.prune(&self.epocher, target, height);
        if let Some(old) = target.get().checked_sub(2) {
            // Best effort: a journal left behind only costs disk.
            let partition = self.partition(Epoch::new(old));
            if let Err(e) = context.remove(&partition, None).await {
                warn!(partition, error = %e, "cannot remove an old epoch's journal");
            }
        }
        *current = Some(Current { epoch: target, engine });
        Ok(())
    }

    fn partition(&self, epoch: Epoch) -> String {
        format!("{}-simplex-{}", self.partition_prefix, epoch.get())
    }

    #[allow(clippy::type_complexity)]
    fn engine(
        &self,
        context: &E,
        epoch: Epoch,
        scheme: Scheme,
        floor: alx_types::Hash,
    ) -> simplex::Engine<
        E,
        Scheme,
        RoundRobin<Sha256>,
        B,
        alx_types::Hash,
        Wrapper<E>,
        Wrapper<E>,
        Reporters<Wrapper<E>, EvidenceReporter>,
        Sequential,
    > {
        use commonware_cryptography::certificate::Scheme as _;
        // Marshal sees every activity; conflicting votes also become evidence on chain.
        let evidence = EvidenceReporter {
            ledger: self.ledger.clone(),
            signer: self.signer.clone(),
            participants: scheme.participants().clone(),
        };
        let buffer_size = NZUsize!(64 << 10);
        let timeouts = self.timeouts;
        simplex::Engine::new(
            context.child("consensus").with_attribute("epoch", epoch),
            simplex::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.wrapper.clone(),
                relay: self.wrapper.clone(),
                reporter: Reporters::from((self.wrapper.clone(), evidence)),
                strategy: Sequential,
                partition: self.partition(epoch),
                mailbox_size: NZUsize!(1024),
                epoch,
                floor: simplex::Floor::Genesis(floor),
                replay_buffer: buffer_size,
                write_buffer: buffer_size,
                page_cache: self.page_cache.clone(),
                leader_timeout: timeouts.leader,
                certification_timeout: timeouts.certification,
                timeout_retry: timeouts.leader,
                view_retention: ViewDelta::new(10),
                skip: SkipPolicy::Enabled {
                    timeout: timeouts.certification * 2,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: NZDuration!(Duration::from_secs(1)),
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::Disabled,
                // Keep every vote of the retained views, so a conflicting vote arriving after a
                // certificate still yields evidence (`evidence`), not only a silent block.
                track_historical_votes: true,
            },
        )
    }
}
