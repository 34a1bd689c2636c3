//! Who pays, and whether they can: API keys checked against the committed state, and what this
//! node has served on each key but not yet settled held back from the key's allowance.
//!
//! An allowance belongs to one key and only its provider draws it, so holding back per key is
//! enough: no other provider can spend what this node has served against, and the payer cannot
//! withdraw it (a withdrawal takes only the free deposit; a revocation returns the allowance only
//! after the settle window, see `alx_types::usage`). A request reserves the most it may cost
//! before it runs ([`Reservation`]); when it ends, the reservation becomes the fee actually
//! charged, held until the settlement that carries it commits.

use crate::GatewayError;
use alx_state::State;
use alx_types::{Address, Amount, Hash, hash::sha256, model::ModelSpec};
use std::{collections::BTreeMap, sync::Mutex};

/// An authenticated caller.
#[derive(Clone, Copy, Debug)]
pub struct Payer {
    /// SHA-256 of the API key.
    pub key_hash: Hash,
    /// The account charged.
    pub payer: Address,
}

/// The fee of a request: `(prompt × input + completion × output) / 1000`, rounded down
/// (`alx_types::model::token_fee`, the formula challenges judge by).
#[must_use]
pub fn fee(spec: &ModelSpec, prompt_tokens: u32, completion_tokens: u32) -> Amount {
    alx_types::model::token_fee(
        spec.price_input_per_1k,
        spec.price_output_per_1k,
        prompt_tokens,
        completion_tokens,
    )
}

/// Amounts held back per key: reserved for requests in flight, and served but not yet settled.
#[derive(Debug, Default)]
pub struct Meter {
    held: BTreeMap<Hash, Amount>,
}

impl Meter {
    /// Checks the bearer token against the state: a known key, open (neither closed nor being
    /// revoked), that this node may charge.
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
        if !key.is_open() {
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

    /// What is held back on a key.
    #[must_use]
    pub fn held(&self, key_hash: &Hash) -> Amount {
        self.held.get(key_hash).copied().unwrap_or_default()
    }

    /// Holds `amount` on a key if its allowance, less what is held already, covers it.
    pub fn reserve(
        &mut self,
        state: &State,
        who: &Payer,
        amount: Amount,
    ) -> Result<(), GatewayError> {
        let key = state
            .api_key(&who.key_hash)?
            .ok_or_else(|| GatewayError::Unauthorized("unknown API key".into()))?;
        if !key.is_open() {
            return Err(GatewayError::Unauthorized("this API key was revoked".into()));
        }
        let held = self.held(&who.key_hash);
        let left = Amount(key.allowance.0.saturating_sub(held.0));
        if amount > left {
            return Err(GatewayError::InsufficientQuota(format!(
                "this request may cost up to {amount}, but the key's allowance has {left} left ({} held for requests not yet settled); fund it with `alx keys api-key fund` or lower max_tokens",
                held
            )));
        }
        self.add(who.key_hash, amount);
        Ok(())
    }

    /// Holds `amount` on a key without checking (receipts found unsettled at start).
    pub fn hold(&mut self, key_hash: Hash, amount: Amount) {
        self.add(key_hash, amount);
    }

    /// Replaces a reservation by the fee charged.
    pub fn release(&mut self, key_hash: Hash, reserved: Amount, charged: Amount) {
        self.sub(key_hash, reserved);
        self.add(key_hash, charged);
    }

    /// Forgets charges once they are settled (or written off) on chain.
    pub fn settled(&mut self, key_hash: Hash, amount: Amount) {
        self.sub(key_hash, amount);
    }

    fn add(&mut self, key_hash: Hash, amount: Amount) {
        if amount.is_zero() {
            return;
        }
        let e = self.held.entry(key_hash).or_default();
        *e = Amount(e.0.saturating_add(amount.0));
    }

    fn sub(&mut self, key_hash: Hash, amount: Amount) {
        if let Some(e) = self.held.get_mut(&key_hash) {
            *e = Amount(e.0.saturating_sub(amount.0));
            if e.is_zero() {
                self.held.remove(&key_hash);
            }
        }
    }
}

/// A reservation for a request in flight. Dropped without [`Reservation::charge`] (the request
/// failed before producing anything), it is released whole; charged, what stays held is the
/// fee, until settlement.
pub struct Reservation<'a> {
    meter: &'a Mutex<Meter>,
    key_hash: Hash,
    reserved: Amount,
    charged: Amount,
}

impl<'a> Reservation<'a> {
    /// Reserves `amount` on `who`'s key.
    pub fn new(
        meter: &'a Mutex<Meter>,
        state: &State,
        who: &Payer,
        amount: Amount,
    ) -> Result<Self, GatewayError> {
        lock(meter).reserve(state, who, amount)?;
        Ok(Self { meter, key_hash: who.key_hash, reserved: amount, charged: Amount::ZERO })
    }

    /// Keeps `fee` (at most what was reserved) held after the request, for settlement.
    pub fn charge(&mut self, fee: Amount) {
        self.charged = fee.min(self.reserved);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        lock(self.meter).release(self.key_hash, self.reserved, self.charged);
    }
}

/// The meter, usable even if a thread panicked while holding it (every update is complete
/// before the lock is released).
pub(crate) fn lock(meter: &Mutex<Meter>) -> std::sync::MutexGuard<'_, Meter> {
    meter.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_reservation_releases_and_a_charged_one_holds_the_fee() {
        let meter = Mutex::new(Meter::default());
        let key = sha256(&[b"k"]);
        lock(&meter).hold(key, Amount(5));
        {
            let mut r = Reservation {
                meter: &meter,
                key_hash: key,
                reserved: Amount(100),
                charged: Amount::ZERO,
            };
            lock(&meter).add(key, Amount(100));
            assert_eq!(lock(&meter).held(&key), Amount(105));
            r.charge(Amount(30));
        }
        assert_eq!(lock(&meter).held(&key), Amount(35));
        {
            let _failed = Reservation {
                meter: &meter,
                key_hash: key,
                reserved: Amount(50),
                charged: Amount::ZERO,
            };
            lock(&meter).add(key, Amount(50));
        }
        assert_eq!(lock(&meter).held(&key), Amount(35));
        lock(&meter).settled(key, Amount(35));
        assert_eq!(lock(&meter).held(&key), Amount::ZERO);
    }
}
