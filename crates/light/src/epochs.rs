//! Following the validator set from one epoch to the next.

use crate::{LightError, ValidatorSet};
use alx_types::{Address, block::BlockHeader, merkle::ACTIVE_SET_KEY, merkle::StateProof};

/// The set of the epoch after `current`'s, from the last block of `current`'s epoch (which the
/// caller verified finalized with `current`: see `verify_finalization`) and the node's claim of
/// the set stored in that block's state, with its proof against the block's state root.
///
/// `validators` is the stored value: 32-byte addresses, strictly ascending.
///
/// # Errors
/// If `boundary` is not the last block of `current`'s epoch, the proof does not show that value
/// under the boundary's state root, or the value is not a valid set.
pub fn next_set(
    current: &ValidatorSet,
    epoch_length: u64,
    boundary: &BlockHeader,
    validators: &[u8],
    proof: &StateProof,
) -> Result<ValidatorSet, LightError> {
    let last = current
        .epoch()
        .checked_add(1)
        .and_then(|e| e.checked_mul(epoch_length))
        .and_then(|h| h.checked_sub(1))
        .ok_or_else(|| LightError::InvalidSet("epoch out of range".into()))?;
    if boundary.epoch != current.epoch() || boundary.height.0 != last {
        return Err(LightError::NotBoundary { height: boundary.height.0, expected: last });
    }
    if !proof.verify(&boundary.state_root, ACTIVE_SET_KEY, Some(validators)) {
        return Err(LightError::BadStateProof { height: boundary.height.0 });
    }
    if validators.is_empty() || !validators.len().is_multiple_of(32) {
        return Err(LightError::InvalidSet(format!("{} bytes of addresses", validators.len())));
    }
    let members: Vec<Address> = validators
        .chunks_exact(32)
        .map(|c| {
            <[u8; 32]>::try_from(c)
                .map(Address)
                .map_err(|_| LightError::InvalidSet("bad address".into()))
        })
        .collect::<Result<_, _>>()?;
    if !members.windows(2).all(|w| w[0] < w[1]) {
        return Err(LightError::InvalidSet("members are not strictly ascending".into()));
    }
    ValidatorSet::new(current.epoch() + 1, members)
}
