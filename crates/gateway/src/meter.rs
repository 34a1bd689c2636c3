//! Who pays, and whether they can: API keys checked against the committed state, and the
//! charges of requests not yet settled held back from the key's limit and the payer's deposit
//! (so a payer is never served beyond what settlement can charge).

use crate::GatewayError;
use alx_state::State;
use alx_types::{Address, Amount, Hash, hash::sha256, model::ModelSpec};
use std::collections::BTreeMap;

/// An authenticated caller.
#[derive(Clone, Copy, Debug)]
pub struct Payer {
    /// SHA-256 of the API key.
    pub key_hash: Hash,
    /// The account charged.
    pub payer: Address,
}

/// The fee of a request: `(prompt × input + completion × output) / 1000`, rounded down.
#[must_use]
pub fn fee(spec: &ModelSpec, prompt_tokens: u32, completion_tokens: u32) -> Amount {
    let input = spec.price_input_per_1k.0.saturating_mul(u128::from(prompt_tokens));
    let output = spec.price_output_per_1k.0.saturating_mul(u128::from(completion_tokens));
    Amount(input.saturating_add(output) / 1000)
}

/// Charges held back per key and per payer: served but not yet settled, and reserved for
/// requests in flight.
#[derive(Debug, Default)]
pub struct Meter {
    by_key: BTreeMap<Hash, Amount>,
    by_payer: BTreeMap<Address, Amount>,
}

fn add_to<K: Ord + Copy>(map: &mut BTreeMap<K, Amount>, k: K, a: Amount) {
    let e = map.entry(k).or_default();
    *e = Amount(e.0.saturating_add(a.0));
}

fn sub_from<K: Ord + Copy>(map: &mut BTreeMap<K, Amount>, k: K, a: Amount) {
    if let Some(e) = map.get_mut(&k) {
        *e = Amount(e.0.saturating_sub(a.0));
        if e.is_zero() {
            map.remove(&k);
        }
    }
}

impl Meter {
    /// Checks the bearer token against the state: a known, unrevoked key that this node may
    /// charge.
    pub fn authenticate(
        state: &State,
        me: &Address,
        bearer: Option<&str>,
    ) -> Result<Payer, GatewayError> {
        let token = bearer.ok_or_else(|| {
            GatewayError::Unauthorized(
                "no API key: send `Authorization: Bearer alx-sk-…` (create one with `alx keys api-key create`)".into(),
            )
        })?;
        let key_hash = sha256(&[token.as_bytes()]);
        let key = state
            .api_key(&key_hash)?
            .ok_or_else(|| GatewayError::Unauthorized("unknown API key".into()))?;
        if key.revoked {
            return Err(GatewayError::Unauthorized("this API key was revoked".into()));
        }
        if key.provider != *me {
            return Err(GatewayError::Unauthorized(format!(
                "this API key may only be used with provider {}",
                key.provider
            )));
        }
        Ok(Payer { key_hash, payer: key.payer })
    }

    /// Reserves `amount` for a request if the key's limit and the payer's deposit, less what
    /// is already held back, cover it.
    pub fn reserve(
        &mut self,
        state: &State,
        who: &Payer,
        amount: Amount,
    ) -> Result<(), GatewayError> {
        let key = state
            .api_key(&who.key_hash)?
            .ok_or_else(|| GatewayError::Unauthorized("unknown API key".into()))?;
        let held_key = self.by_key.get(&who.key_hash).copied().unwrap_or_default();
        let held_payer = self.by_payer.get(&who.payer).copied().unwrap_or_default();
        let limit_left = key.limit.0.saturating_sub(key.spent.0).saturating_sub(held_key.0);
        let deposit_left = state.prepaid(&who.payer)?.0.saturating_sub(held_payer.0);
        if amount.0 > limit_left.min(deposit_left) {
            return Err(GatewayError::InsufficientQuota(format!(
                "this request may cost up to {amount}, but only {} is left (key limit {}, deposit {}); deposit more with `alx deposit` or lower max_tokens",
                Amount(limit_left.min(deposit_left)),
                Amount(limit_left),
                Amount(deposit_left),
            )));
        }
        add_to(&mut self.by_key, who.key_hash, amount);
        add_to(&mut self.by_payer, who.payer, amount);
        Ok(())
    }

    /// Releases a reservation (and, for a served request, holds its fee instead).
    pub fn release(&mut self, who: &Payer, reserved: Amount, charged: Amount) {
        sub_from(&mut self.by_key, who.key_hash, reserved);
        sub_from(&mut self.by_payer, who.payer, reserved);
        add_to(&mut self.by_key, who.key_hash, charged);
        add_to(&mut self.by_payer, who.payer, charged);
    }

    /// Forgets charges once they are settled on chain.
    pub fn settled(&mut self, key_hash: Hash, payer: Address, amount: Amount) {
        sub_from(&mut self.by_key, key_hash, amount);
        sub_from(&mut self.by_payer, payer, amount);
    }
}
