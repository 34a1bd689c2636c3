//! Validator sets per epoch, as the engine, marshal and the p2p layer need them.
//!
//! The state chooses the set of epoch `e + 1` on the last block of epoch `e` (see
//! `alx_state`'s rotation); everything here is derived from a committed state, so every node
//! builds the same sets.

use alx_ledger::LedgerError;
use alx_state::State;
use alx_types::{Address, Height, NAMESPACE_CONSENSUS, limits::VALIDATORS_ACTIVE_MAX};
use commonware_consensus::{
    simplex::scheme::ed25519::Scheme,
    types::{Epoch, Epocher as _, FixedEpocher},
};
use commonware_cryptography::{
    certificate::{Provider, Scoped},
    ed25519::{PrivateKey, PublicKey},
};
use commonware_p2p::{Address as P2pAddress, AddressableTrackedPeers};
use commonware_utils::ordered::{Map, Set};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    num::NonZeroU64,
    sync::{Arc, Mutex},
};

/// Acknowledgements marshal may have outstanding; it redelivers at most this many blocks below
/// the committed height, and must still be able to check their certificates.
pub const MAX_PENDING_ACKS: u64 = 4;

/// Candidates outside the active set that are connected as followers (the next by stake).
pub const FOLLOWERS_MAX: usize = 16;

/// The most peers one tracked set holds: the active set, the followers, and us. The p2p layer
/// sizes its mailboxes by this bound, so it stays tight.
pub const TRACKED_PEERS_MAX: usize = VALIDATORS_ACTIVE_MAX + FOLLOWERS_MAX + 1;

/// The epocher of a chain: epoch `e` holds heights `[e·L, e·L + L − 1]`.
///
/// # Errors
/// If the stored epoch length is below 2 (the genesis refuses it, so the store is corrupt).
pub fn epocher(state: &State) -> Result<FixedEpocher, LedgerError> {
    let length = state.params().epoch_length;
    if length < 2 {
        return Err(LedgerError::Epoch(format!("epoch length {length} is below 2")));
    }
    Ok(FixedEpocher::new(NonZeroU64::new(length).unwrap_or(NonZeroU64::MIN)))
}

/// The epoch whose blocks follow a committed block at `height`.
///
/// # Errors
/// If `height + 1` is beyond the last epoch the epocher can describe.
pub fn epoch_after(epocher: &FixedEpocher, height: Height) -> Result<Epoch, LedgerError> {
    let next =
        height.0.checked_add(1).ok_or_else(|| LedgerError::Epoch("height overflow".into()))?;
    epocher
        .containing(commonware_consensus::types::Height::new(next))
        .map(|info| info.epoch())
        .ok_or_else(|| LedgerError::Epoch(format!("no epoch contains height {next}")))
}

/// The consensus keys of an active set, in the order every node uses.
///
/// # Errors
/// If a member is not an ed25519 public key (the state refuses such validators).
pub fn participants(set: &[Address]) -> Result<Set<PublicKey>, LedgerError> {
    let keys = set.iter().map(key_of).collect::<Result<Vec<_>, _>>()?;
    Ok(Set::from_iter_dedup(keys))
}

/// The scheme this node uses in an epoch: it signs if it is a member, else it only verifies.
#[must_use]
pub fn scheme(participants: Set<PublicKey>, signer: &PrivateKey) -> Scheme {
    Scheme::signer(NAMESPACE_CONSENSUS, participants.clone(), signer.clone())
        .unwrap_or_else(|| Scheme::verifier(NAMESPACE_CONSENSUS, participants))
}

/// The scheme of every epoch this node may still need to check certificates of.
///
/// Marshal resolves certificates through this provider, so an epoch must be inserted before
/// its engine starts, and kept while marshal may redeliver its blocks: a missing epoch makes
/// marshal ignore that epoch's certificates silently.
#[derive(Clone, Default)]
pub struct EpochSchemes {
    inner: Arc<Mutex<BTreeMap<Epoch, Arc<Scheme>>>>,
}

impl EpochSchemes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Epoch, Arc<Scheme>>> {
        // Every update is a single insert or retain: a poisoned map is still consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the scheme of `epoch` (a second insert keeps the first).
    pub fn insert(&self, epoch: Epoch, scheme: Scheme) {
        self.lock().entry(epoch).or_insert_with(|| Arc::new(scheme));
    }

    /// The scheme of `epoch`, if registered.
    #[must_use]
    pub fn get(&self, epoch: Epoch) -> Option<Arc<Scheme>> {
        self.lock().get(&epoch).cloned()
    }

    /// The registered epochs, oldest first.
    #[must_use]
    pub fn epochs(&self) -> Vec<Epoch> {
        self.lock().keys().copied().collect()
    }

    /// Drops every epoch before `current` whose last block is more than [`MAX_PENDING_ACKS`]
    /// below `committed`: marshal can no longer redeliver its blocks.
    pub fn prune(&self, epocher: &FixedEpocher, current: Epoch, committed: u64) {
        self.lock().retain(|&epoch, _| {
            epoch >= current
                || epocher
                    .last(epoch)
                    .is_none_or(|last| last.get().saturating_add(MAX_PENDING_ACKS) >= committed)
        });
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    // Always a full scope, even for a verify-only scheme: marshal looks notarizations up
    // through `scheme()`, which yields nothing for a verify-only scope.
    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.get(epoch).map(Scoped::scheme)
    }
}

/// Who the network connects after a committed state: the active set drives consensus
/// (primary); the next candidates by stake follow (secondary), so a validator just dropped keeps
/// following and a candidate registered mid-epoch syncs before its epoch starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochPeers {
    /// The active set with its addresses, by address.
    pub primary: Vec<(Address, SocketAddr)>,
    /// Up to [`FOLLOWERS_MAX`] more candidates, most stake first.
    pub secondary: Vec<(Address, SocketAddr)>,
}

impl EpochPeers {
    /// The consensus keys of the active set.
    ///
    /// # Errors
    /// If a member is not an ed25519 key (the state refuses such validators).
    pub fn validators(&self) -> Result<Set<PublicKey>, LedgerError> {
        let set: Vec<Address> = self.primary.iter().map(|(a, _)| *a).collect();
        participants(&set)
    }

    /// The same, as the p2p layer takes it.
    ///
    /// # Errors
    /// If a peer is not an ed25519 key.
    pub fn tracked(&self) -> Result<AddressableTrackedPeers<PublicKey>, LedgerError> {
        let map = |peers: &[(Address, SocketAddr)]| -> Result<_, LedgerError> {
            let entries = peers
                .iter()
                .map(|(a, addr)| Ok((key_of(a)?, P2pAddress::Symmetric(*addr))))
                .collect::<Result<Vec<_>, LedgerError>>()?;
            Ok(Map::from_iter_dedup(entries))
        };
        Ok(AddressableTrackedPeers::new(map(&self.primary)?, map(&self.secondary)?))
    }
}

fn key_of(a: &Address) -> Result<PublicKey, LedgerError> {
    a.to_public_key().ok_or_else(|| LedgerError::Epoch(format!("{a} is not a key")))
}

/// The peers after a committed `state`.
///
/// # Errors
/// If the state is corrupt, or a candidate has no recorded address.
pub fn epoch_peers(state: &State) -> Result<EpochPeers, LedgerError> {
    let set = state.active_set()?;
    let with_address = |a: Address| -> Result<(Address, SocketAddr), LedgerError> {
        let addr = state
            .validator_p2p_addr(&a)?
            .ok_or_else(|| LedgerError::Epoch(format!("validator {a} has no p2p address")))?;
        Ok((a, addr))
    };
    let primary = set.iter().copied().map(with_address).collect::<Result<Vec<_>, _>>()?;
    let secondary = state
        .ranked_candidates()?
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| set.binary_search(a).is_err())
        .take(FOLLOWERS_MAX)
        .map(with_address)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EpochPeers { primary, secondary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::types::Height;
    use commonware_cryptography::Signer as _;
    use commonware_utils::NZU64;

    fn scheme_of(seed: u64) -> Scheme {
        let key = PrivateKey::from_seed(seed);
        scheme(Set::from_iter_dedup([key.public_key()]), &key)
    }

    #[test]
    fn prune_keeps_current_and_what_marshal_may_redeliver() {
        let epocher = FixedEpocher::new(NZU64!(10));
        let schemes = EpochSchemes::default();
        for e in 0..4 {
            schemes.insert(Epoch::new(e), scheme_of(e));
        }
        // Epoch 2's last block is 29; committed 33 = 29 + 4 keeps it, 34 drops it.
        schemes.prune(&epocher, Epoch::new(3), 33);
        assert_eq!(schemes.epochs(), vec![Epoch::new(2), Epoch::new(3)]);
        schemes.prune(&epocher, Epoch::new(3), 34);
        assert_eq!(schemes.epochs(), vec![Epoch::new(3)]);
        // The current epoch stays whatever the height.
        schemes.prune(&epocher, Epoch::new(3), u64::MAX);
        assert_eq!(schemes.epochs(), vec![Epoch::new(3)]);
        assert!(schemes.scoped(Epoch::new(3)).is_some());
        assert!(schemes.scoped(Epoch::new(0)).is_none());
    }

    #[test]
    fn the_block_after_the_last_of_an_epoch_starts_the_next() {
        let epocher = FixedEpocher::new(NZU64!(10));
        assert_eq!(epoch_after(&epocher, alx_types::Height(0)).unwrap(), Epoch::new(0));
        assert_eq!(epoch_after(&epocher, alx_types::Height(8)).unwrap(), Epoch::new(0));
        assert_eq!(epoch_after(&epocher, alx_types::Height(9)).unwrap(), Epoch::new(1));
        assert_eq!(epocher.last(Epoch::new(0)), Some(Height::new(9)));
        assert!(epoch_after(&epocher, alx_types::Height(u64::MAX)).is_err());
    }

    #[test]
    fn a_non_member_verifies_only() {
        let member = PrivateKey::from_seed(1);
        let outsider = PrivateKey::from_seed(2);
        let set = Set::from_iter_dedup([member.public_key()]);
        use commonware_cryptography::certificate::Scheme as _;
        assert!(scheme(set.clone(), &member).me().is_some());
        assert!(scheme(set, &outsider).me().is_none());
    }

    #[test]
    fn peers_are_the_set_then_the_next_candidates_by_stake() {
        use alx_state::{BlockContext, Genesis, GenesisAccount, GenesisValidator, Params};
        use alx_types::{Amount, Height, Payload, Transaction};
        let key = |seed| PrivateKey::from_seed(seed);
        let addr = |seed| Address::from_public_key(&key(seed).public_key());
        let dial = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let genesis = Genesis {
            chain_id: "alx-test".parse().unwrap(),
            params: Params { min_fee: Amount(1), epoch_length: 10, validators_max: 2 },
            accounts: vec![GenesisAccount { address: addr(9), balance: Amount(1_000) }],
            validators: (1..=2)
                .map(|s| GenesisValidator {
                    address: addr(s),
                    stake: Amount(100),
                    p2p_addr: dial(s as u16),
                })
                .collect(),
            emission: None,
            providers: vec![],
        };
        let mut state = State::from_genesis(&genesis).unwrap();
        let before = epoch_peers(&state).unwrap();
        let mut set = vec![(addr(1), dial(1)), (addr(2), dial(2))];
        set.sort();
        assert_eq!(before.primary, set);
        assert!(before.secondary.is_empty());

        // A candidate registers and bonds mid-epoch: it follows at once, as a secondary peer.
        let txs: Vec<_> = [
            Payload::RegisterValidator { p2p_addr: dial(9) },
            Payload::Bond { validator: addr(9), amount: Amount(500) },
        ]
        .into_iter()
        .zip(0..)
        .map(|(payload, nonce)| {
            Transaction {
                chain_id: genesis.chain_id,
                sender: addr(9),
                nonce,
                fee: Amount(1),
                payload,
            }
            .sign(&key(9))
        })
        .collect();
        let ctx = BlockContext { height: Height(1), proposer: addr(1) };
        state.execute_block(&ctx, &txs, &[true, true]).unwrap();
        let after = epoch_peers(&state).unwrap();
        assert_eq!(after.primary, set, "the set changes only at the epoch's last block");
        assert_eq!(after.secondary, vec![(addr(9), dial(9))]);
        let tracked = after.tracked().unwrap();
        assert_eq!(tracked.primary.len(), 2);
        assert_eq!(tracked.secondary.len(), 1);
        assert_eq!(after.validators().unwrap().len(), 2);
    }
}
