//! A validator set as the certificates index it.

use crate::LightError;
use alx_types::Address;
use commonware_cryptography::ed25519::PublicKey;

/// The validators of one epoch, sorted by key bytes (a certificate's signer bitmap indexes
/// this order) and without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    epoch: u64,
    keys: Vec<PublicKey>,
}

impl ValidatorSet {
    /// The set of `epoch` made of `validators` (any order; duplicates collapse, as the
    /// consensus engine collapses them).
    ///
    /// # Errors
    /// If the set is empty or an address is not a valid ed25519 key.
    pub fn new(
        epoch: u64,
        validators: impl IntoIterator<Item = Address>,
    ) -> Result<Self, LightError> {
        let mut keys = validators
            .into_iter()
            .map(|a| {
                a.to_public_key()
                    .ok_or_else(|| LightError::InvalidSet(format!("{a} is not an ed25519 key")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Err(LightError::InvalidSet("no validators".into()));
        }
        Ok(Self { epoch, keys })
    }

    /// The epoch.
    #[must_use]
    pub const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The validators' keys, in certificate order.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Signers a certificate needs: `n − ⌊(n − 1)/3⌋`, more than two thirds (simplex's
    /// quorum with `f = ⌊(n − 1)/3⌋` faults tolerated).
    #[must_use]
    pub const fn quorum(&self) -> usize {
        let n = self.keys.len();
        n - (n - 1) / 3
    }
}
