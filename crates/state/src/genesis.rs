//! Genesis: the chain's first state, from a JSON file every validator shares.

use alx_types::{Address, Amount, ChainId, limits::GENESIS_ACCOUNTS_MAX};
use serde::{Deserialize, Serialize};

/// Chain parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The smallest fee a transaction may offer.
    pub min_fee: Amount,
    /// Blocks per epoch (at least 2): epoch e holds heights [e·L, e·L + L − 1], and its last
    /// block re-chooses the active validator set for the next epoch.
    pub epoch_length: u64,
    /// Size of the active validator set (top candidates by stake, equal votes).
    pub validators_max: u32,
}

/// A funded account at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The address.
    pub address: Address,
    /// Its spendable balance.
    pub balance: Amount,
}

/// A validator at genesis: registered, self-bonded with `stake`, in the first active set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The validator's account and consensus key.
    pub address: Address,
    /// Self-bonded stake (created at genesis, counted in the supply).
    pub stake: Amount,
    /// Where its peers reach it (`ip:port`), recorded in the state like a registered one.
    pub p2p_addr: std::net::SocketAddr,
}

/// A serving provider bonded at genesis (as `BondProvider` would), so a fresh chain can be
/// named on API keys at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisProvider {
    /// The provider's account.
    pub address: Address,
    /// Its bond (created at genesis, counted in the supply).
    pub bond: Amount,
}

/// The genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id.
    pub chain_id: ChainId,
    /// Parameters.
    pub params: Params,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Initial validators.
    pub validators: Vec<GenesisValidator>,
    /// What each block mints and how it is divided (none: nothing is minted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emission: Option<alx_emission::EmissionParams>,
    /// Providers bonded at genesis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<GenesisProvider>,
}

/// Why a genesis was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    /// No validator: nothing could ever produce a block.
    #[error("genesis has no validators")]
    NoValidators,
    /// More validators than the active set holds.
    #[error("genesis has {0} validators but validators_max is {1}")]
    TooManyValidators(usize, u32),
    /// Too many accounts.
    #[error("genesis has {0} accounts, at most {GENESIS_ACCOUNTS_MAX} allowed")]
    TooManyAccounts(usize),
    /// An address is listed twice.
    #[error("address {0} is listed twice")]
    Duplicate(Address),
    /// A validator without stake.
    #[error("validator {0} has zero stake")]
    ZeroStake(Address),
    /// The total does not fit in u128.
    #[error("total supply overflows")]
    SupplyOverflow,
    /// Parameters out of range.
    #[error("invalid params: {0}")]
    Params(&'static str),
    /// An address is not a strict ed25519 public key (see `alx_types::strict`): nobody could
    /// sign for it, or anybody could.
    #[error(
        "{0} is not a strict ed25519 public key (not a point, not canonical, or of small order)"
    )]
    NotAKey(Address),
    /// A validator's p2p address names no endpoint peers could dial.
    #[error(
        "validator {0} has p2p_addr {1}, which peers cannot dial (unspecified or multicast IP, or port 0)"
    )]
    BadP2pAddr(Address, std::net::SocketAddr),
}

impl Genesis {
    /// Checks the file's own consistency.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        if self.params.epoch_length < 2 {
            return Err(GenesisError::Params("epoch_length must be at least 2"));
        }
        if self.params.validators_max == 0
            || self.params.validators_max as usize > alx_types::limits::VALIDATORS_ACTIVE_MAX
        {
            return Err(GenesisError::Params("validators_max must be 1..=100"));
        }
        if self.validators.len() > self.params.validators_max as usize {
            return Err(GenesisError::TooManyValidators(
                self.validators.len(),
                self.params.validators_max,
            ));
        }
        if self.accounts.len() > GENESIS_ACCOUNTS_MAX {
            return Err(GenesisError::TooManyAccounts(self.accounts.len()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::Duplicate(a.address));
            }
            if !a.address.is_strict_key() {
                return Err(GenesisError::NotAKey(a.address));
            }
        }
        let mut seen_validators = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !seen_validators.insert(v.address) {
                return Err(GenesisError::Duplicate(v.address));
            }
            if v.stake.is_zero() {
                return Err(GenesisError::ZeroStake(v.address));
            }
            if v.address.to_public_key().is_none() {
                return Err(GenesisError::NotAKey(v.address));
            }
            if !alx_types::tx::is_dialable(&v.p2p_addr) {
                return Err(GenesisError::BadP2pAddr(v.address, v.p2p_addr));
            }
        }
        let mut seen_providers = std::collections::BTreeSet::new();
        for p in &self.providers {
            if !seen_providers.insert(p.address) {
                return Err(GenesisError::Duplicate(p.address));
            }
            if p.bond.is_zero() {
                return Err(GenesisError::ZeroStake(p.address));
            }
            if !p.address.is_strict_key() {
                return Err(GenesisError::NotAKey(p.address));
            }
        }
        self.total_supply().map(|_| ())
    }

    /// Balances plus stakes plus provider bonds.
    pub fn total_supply(&self) -> Result<Amount, GenesisError> {
        self.accounts
            .iter()
            .map(|a| a.balance)
            .chain(self.validators.iter().map(|v| v.stake))
            .chain(self.providers.iter().map(|p| p.bond))
            .try_fold(Amount::ZERO, Amount::checked_add)
            .ok_or(GenesisError::SupplyOverflow)
    }
}
