//! [`State`]: typed reads and writes over the authenticated map.

use crate::{
    auth::AuthState,
    genesis::{Genesis, GenesisError, Params},
    keys::{
        self, Account, PREFIX_ACCOUNT, PREFIX_VALIDATOR, Validator, account_key, delegation_key,
        global_key, p2p_addr_key, validator_key,
    },
};
use alx_types::{Address, Amount, ChainId, Hash, block::Height, merkle::StateProof};
use commonware_codec::{EncodeSize, Read, Write};
use std::net::SocketAddr;

/// State that should have decoded did not: storage is corrupt. Fatal for a node.
#[derive(Debug, thiserror::Error)]
#[error("corrupt state entry {key}: {source}")]
pub struct CorruptState {
    /// Hex of the key.
    pub key: String,
    /// The decoding error.
    #[source]
    pub source: commonware_codec::Error,
}

const GLOBAL_CHAIN_ID: &str = "chain_id";
const GLOBAL_PARAMS: &str = "params";
const GLOBAL_SUPPLY: &str = "supply";
const GLOBAL_HEIGHT: &str = "height";
const GLOBAL_ACTIVE_SET: &str = "active_set";

/// The whole chain state.
#[derive(Clone)]
pub struct State {
    pub(crate) auth: AuthState,
    // Cached copies of values read on every transaction.
    pub(crate) chain_id: ChainId,
    pub(crate) params: Params,
}

impl State {
    /// The state after genesis (height 0).
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let mut state = Self {
            auth: AuthState::new(),
            chain_id: genesis.chain_id,
            params: genesis.params.clone(),
        };
        state.auth.put(global_key(GLOBAL_CHAIN_ID), genesis.chain_id.as_str().as_bytes().to_vec());
        state.put_params(&genesis.params);
        state.put_amount_global(GLOBAL_SUPPLY, genesis.total_supply()?);
        state.put_height(Height(0));
        for a in &genesis.accounts {
            state.put_account(&a.address, &Account { balance: a.balance, ..Account::default() });
        }
        let mut set = Vec::new();
        for v in &genesis.validators {
            // A genesis validator may also be a funded account: keep its balance.
            let mut account = state.account(&v.address).ok().flatten().unwrap_or_default();
            account.bonded = v.stake;
            state.put_account(&v.address, &account);
            state
                .put_validator(&v.address, &Validator { stake: v.stake, registered_at: Height(0) });
            state.put_delegation(&v.address, &v.address, v.stake);
            state.put_p2p_addr(&v.address, v.p2p_addr);
            set.push(v.address);
        }
        set.sort();
        state.put_active_set(&set);
        if let Some(emission) = &genesis.emission {
            state.put_emission_params(emission);
        }
        for p in &genesis.providers {
            state
                .add_provider_bond(&p.address, p.bond)
                .map_err(|_| GenesisError::SupplyOverflow)?;
        }
        Ok(state)
    }

    /// Rebuilds a state from stored entries (as written by [`State::take_changes`]).
    pub fn from_entries(
        entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, CorruptState> {
        let mut auth = AuthState::new();
        for (k, v) in entries {
            auth.put(k, v);
        }
        auth.clear_changes();
        let corrupt = |key: &str| CorruptState {
            key: key.to_owned(),
            source: commonware_codec::Error::Invalid("state", "missing global"),
        };
        let chain_id = auth
            .get(&global_key(GLOBAL_CHAIN_ID))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .ok_or_else(|| corrupt(GLOBAL_CHAIN_ID))?;
        let params_bytes =
            auth.get(&global_key(GLOBAL_PARAMS)).ok_or_else(|| corrupt(GLOBAL_PARAMS))?;
        let params = decode_params(params_bytes).ok_or_else(|| corrupt(GLOBAL_PARAMS))?;
        Ok(Self { auth, chain_id, params })
    }

    /// The chain id.
    #[must_use]
    pub const fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The parameters.
    #[must_use]
    pub const fn params(&self) -> &Params {
        &self.params
    }

    /// The state root (rehashing what changed).
    pub fn root(&mut self) -> Hash {
        self.auth.root()
    }

    /// Height of the last applied block.
    pub fn height(&self) -> Result<Height, CorruptState> {
        self.get_global::<u64>(GLOBAL_HEIGHT).map(|h| Height(h.unwrap_or(0)))
    }

    /// Total supply.
    pub fn supply(&self) -> Result<Amount, CorruptState> {
        self.get_global::<Amount>(GLOBAL_SUPPLY).map(Option::unwrap_or_default)
    }

    /// An account, if it exists.
    pub fn account(&self, address: &Address) -> Result<Option<Account>, CorruptState> {
        self.get(&account_key(address))
    }

    /// A validator candidate, if registered.
    pub fn validator(&self, address: &Address) -> Result<Option<Validator>, CorruptState> {
        self.get(&validator_key(address))
    }

    /// Where peers dial a validator candidate (set at registration or in the genesis).
    pub fn validator_p2p_addr(
        &self,
        address: &Address,
    ) -> Result<Option<SocketAddr>, CorruptState> {
        self.get(&p2p_addr_key(address))
    }

    /// Every candidate with stake, most stake first, equal stake by address: the order the
    /// active set is chosen in, so every node ranks alike.
    pub fn ranked_candidates(&self) -> Result<Vec<(Address, Amount)>, CorruptState> {
        let mut candidates = Vec::new();
        for (key, value) in self.auth.scan_prefix(&[PREFIX_VALIDATOR]) {
            let v: Validator =
                keys::decode(value).map_err(|source| CorruptState { key: hex_key(key), source })?;
            if !v.stake.is_zero() {
                let mut a = [0u8; 32];
                a.copy_from_slice(&key[1..]);
                candidates.push((Address(a), v.stake));
            }
        }
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(candidates)
    }

    /// Stake `delegator` has bonded to `validator`.
    pub fn delegation(
        &self,
        delegator: &Address,
        validator: &Address,
    ) -> Result<Amount, CorruptState> {
        self.get(&delegation_key(delegator, validator)).map(Option::unwrap_or_default)
    }

    /// The active validator set, sorted by address.
    pub fn active_set(&self) -> Result<Vec<Address>, CorruptState> {
        let key = global_key(GLOBAL_ACTIVE_SET);
        let Some(bytes) = self.auth.get(&key) else {
            return Ok(Vec::new());
        };
        if bytes.len() % 32 != 0 {
            return Err(CorruptState {
                key: hex_key(&key),
                source: commonware_codec::Error::InvalidLength(bytes.len()),
            });
        }
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut a = [0u8; 32];
                a.copy_from_slice(c);
                Address(a)
            })
            .collect())
    }

    /// Every account, in address order (for supply checks and exports).
    pub fn accounts(&self) -> impl Iterator<Item = Result<(Address, Account), CorruptState>> + '_ {
        self.auth.scan_prefix(&[PREFIX_ACCOUNT]).map(|(k, v)| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&k[1..]);
            keys::decode::<Account>(v)
                .map(|acc| (Address(a), acc))
                .map_err(|source| CorruptState { key: hex_key(k), source })
        })
    }

    /// The stored bytes of an account and a proof of them against [`State::root`]. Call
    /// `root()` first if the state changed.
    #[must_use]
    pub fn prove_account(&self, address: &Address) -> (Vec<u8>, Option<Vec<u8>>, StateProof) {
        let key = account_key(address);
        let value = self.auth.get(&key).cloned();
        let proof = self.auth.prove(&key);
        (key, value, proof)
    }

    /// The stored value of any state key and a proof of it (or of its absence) against
    /// [`State::root`]. Call `root()` first if the state changed.
    #[must_use]
    pub fn prove(&self, key: &[u8]) -> (Option<Vec<u8>>, StateProof) {
        (self.auth.get(key).cloned(), self.auth.prove(key))
    }

    /// The stored active set (see `alx_types::merkle::ACTIVE_SET_KEY`) and a proof of it
    /// against [`State::root`]. Call `root()` first if the state changed.
    #[must_use]
    pub fn prove_active_set(&self) -> (Option<Vec<u8>>, StateProof) {
        let key = global_key(GLOBAL_ACTIVE_SET);
        debug_assert_eq!(key, alx_types::merkle::ACTIVE_SET_KEY);
        (self.auth.get(&key).cloned(), self.auth.prove(&key))
    }

    /// Entries written since the last call, for durable storage.
    pub fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.auth.take_changes()
    }

    /// Number of stored entries.
    #[must_use]
    pub fn entry_count(&self) -> usize {
        self.auth.len()
    }

    pub(crate) fn get<T: Read<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<T>, CorruptState> {
        match self.auth.get(key) {
            None => Ok(None),
            Some(bytes) => keys::decode(bytes)
                .map(Some)
                .map_err(|source| CorruptState { key: hex_key(key), source }),
        }
    }

    fn get_global<T: Read<Cfg = ()>>(&self, name: &str) -> Result<Option<T>, CorruptState> {
        self.get(&global_key(name))
    }

    pub(crate) fn put<T: Write + EncodeSize>(&mut self, key: Vec<u8>, value: &T) {
        self.auth.put(key, keys::encode(value));
    }

    pub(crate) fn put_account(&mut self, address: &Address, account: &Account) {
        self.put(account_key(address), account);
    }

    pub(crate) fn put_validator(&mut self, address: &Address, validator: &Validator) {
        self.put(validator_key(address), validator);
    }

    pub(crate) fn put_delegation(
        &mut self,
        delegator: &Address,
        validator: &Address,
        amount: Amount,
    ) {
        let key = delegation_key(delegator, validator);
        if amount.is_zero() {
            self.auth.delete(&key);
        } else {
            self.put(key, &amount);
        }
    }

    pub(crate) fn put_p2p_addr(&mut self, address: &Address, addr: SocketAddr) {
        self.put(p2p_addr_key(address), &addr);
    }

    pub(crate) fn put_height(&mut self, height: Height) {
        self.put(global_key(GLOBAL_HEIGHT), &height.0);
    }

    pub(crate) fn put_active_set(&mut self, set: &[Address]) {
        let bytes: Vec<u8> = set.iter().flat_map(|a| a.0).collect();
        self.auth.put(global_key(GLOBAL_ACTIVE_SET), bytes);
    }

    fn put_amount_global(&mut self, name: &str, amount: Amount) {
        self.put(global_key(name), &amount);
    }

    fn put_params(&mut self, params: &Params) {
        let mut bytes = Vec::with_capacity(28);
        bytes.extend_from_slice(&params.min_fee.0.to_be_bytes());
        bytes.extend_from_slice(&params.epoch_length.to_be_bytes());
        bytes.extend_from_slice(&params.validators_max.to_be_bytes());
        self.auth.put(global_key(GLOBAL_PARAMS), bytes);
    }

    pub(crate) fn auth_mut(&mut self) -> &mut AuthState {
        &mut self.auth
    }

    pub(crate) const fn auth(&self) -> &AuthState {
        &self.auth
    }
}

fn decode_params(bytes: &[u8]) -> Option<Params> {
    if bytes.len() != 28 {
        return None;
    }
    Some(Params {
        min_fee: Amount(u128::from_be_bytes(bytes[0..16].try_into().ok()?)),
        epoch_length: u64::from_be_bytes(bytes[16..24].try_into().ok()?),
        validators_max: u32::from_be_bytes(bytes[24..28].try_into().ok()?),
    })
}

pub(crate) fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
