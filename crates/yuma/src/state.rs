//! The per-subnet state the epoch reads and writes, and the chain operations that change it
//! between epochs.
//!
//! Invariants, checked by [`SubnetState::new`] and kept by every method:
//! - `n ≤ limits::UIDS_MAX`, and every per-uid list has exactly `n` entries;
//! - every weight and bond row lists each destination at most once, each below `n`;
//! - the stakes add up to at most `limits::STAKE_TOTAL_MAX`.
//!
//! So the epoch itself cannot fail.

use crate::{Params, YumaError, limits};
use std::collections::BTreeSet;

/// One row of a stored matrix: `(destination uid, u16 value)` in stored order.
pub type Row = Vec<(u16, u16)>;

/// Everything [`SubnetState::new`] needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateInit {
    /// The block the next operation happens at.
    pub current_block: u64,
    /// Block of the last epoch, 0 if none (subtensor's `LastMechansimStepBlock`).
    pub last_epoch_block: u64,
    /// The subnet owner's uid, if it holds one: exempt from the stake threshold, always
    /// permitted, keeps its self-weight, cannot be replaced.
    pub owner_uid: Option<u16>,
    /// Stake per uid, in base units.
    pub stake: Vec<u64>,
    /// Permits from the previous epoch.
    pub validator_permit: Vec<bool>,
    /// Block each uid was last (re)registered at.
    pub block_at_registration: Vec<u64>,
    /// Block of each uid's last weights.
    pub last_update: Vec<u64>,
    /// Stored weights, one row per uid.
    pub weights: Vec<Row>,
    /// Stored bonds, one row per uid.
    pub bonds: Vec<Row>,
}

/// A subnet's epoch state, always valid (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetState {
    pub(crate) s: StateInit,
}

fn check_len(field: &'static str, len: usize, n: usize) -> Result<(), YumaError> {
    if len == n { Ok(()) } else { Err(YumaError::LengthMismatch { field, len, n }) }
}

fn check_uid(field: &'static str, uid: u64, n: usize) -> Result<usize, YumaError> {
    usize::try_from(uid).ok().filter(|&u| u < n).ok_or(YumaError::UidOutOfRange { field, uid, n })
}

fn check_row(field: &'static str, row: &[(u16, u16)], n: usize) -> Result<(), YumaError> {
    let mut seen = BTreeSet::new();
    for &(j, _) in row {
        check_uid(field, u64::from(j), n)?;
        if !seen.insert(j) {
            return Err(YumaError::DuplicateUid { field, uid: j });
        }
    }
    Ok(())
}

impl SubnetState {
    /// Validates `init` and wraps it.
    pub fn new(init: StateInit) -> Result<Self, YumaError> {
        let n = init.stake.len();
        if n > limits::UIDS_MAX {
            return Err(YumaError::TooManyUids { n, max: limits::UIDS_MAX });
        }
        check_len("validator_permit", init.validator_permit.len(), n)?;
        check_len("block_at_registration", init.block_at_registration.len(), n)?;
        check_len("last_update", init.last_update.len(), n)?;
        check_len("weights", init.weights.len(), n)?;
        check_len("bonds", init.bonds.len(), n)?;
        for row in &init.weights {
            check_row("weights", row, n)?;
        }
        for row in &init.bonds {
            check_row("bonds", row, n)?;
        }
        if let Some(owner) = init.owner_uid {
            check_uid("owner_uid", u64::from(owner), n)?;
        }
        let total = init.stake.iter().try_fold(0u64, |acc, &s| acc.checked_add(s));
        if total.is_none_or(|t| t > limits::STAKE_TOTAL_MAX) {
            return Err(YumaError::StakeTooLarge { max: limits::STAKE_TOTAL_MAX });
        }
        Ok(Self { s: init })
    }

    /// Number of uids.
    pub fn n(&self) -> usize {
        self.s.stake.len()
    }

    /// The whole state, read-only.
    pub const fn view(&self) -> &StateInit {
        &self.s
    }

    /// Moves the chain to `block`.
    pub const fn set_block(&mut self, block: u64) {
        self.s.current_block = block;
    }

    /// Moves the chain `blocks` forward.
    pub fn advance_blocks(&mut self, blocks: u64) -> Result<(), YumaError> {
        self.s.current_block =
            self.s.current_block.checked_add(blocks).ok_or(YumaError::BlockOverflow)?;
        Ok(())
    }

    /// Stores weight rows as given (no max-upscaling, no extrinsic checks) and marks each
    /// setter updated at the current block. All rows are checked before any is stored.
    pub fn set_weights(&mut self, rows: Vec<(u16, Row)>) -> Result<(), YumaError> {
        let n = self.n();
        let mut setters = BTreeSet::new();
        for (uid, row) in &rows {
            check_uid("set_weights.uids", u64::from(*uid), n)?;
            if !setters.insert(*uid) {
                return Err(YumaError::DuplicateUid { field: "set_weights.uids", uid: *uid });
            }
            check_row("set_weights.dests", row, n)?;
        }
        for (uid, row) in rows {
            let i = usize::from(uid);
            self.s.weights[i] = row;
            self.s.last_update[i] = self.s.current_block;
        }
        Ok(())
    }

    /// A new neuron takes `uid` (subtensor's `replace_neuron`): its weight and bond rows are
    /// removed, weights others set on it become 0 (entries kept), its permit is cleared and
    /// its registration and last update become the current block. The owner's uid is never
    /// replaced (a no-op, as on chain).
    pub fn replace_uid(&mut self, uid: u16, stake: u64) -> Result<(), YumaError> {
        let i = check_uid("replace_uid.uid", u64::from(uid), self.n())?;
        if self.s.owner_uid == Some(uid) {
            return Ok(());
        }
        let others: u64 =
            self.s.stake.iter().enumerate().filter(|&(k, _)| k != i).map(|(_, &s)| s).sum();
        if others.checked_add(stake).is_none_or(|t| t > limits::STAKE_TOTAL_MAX) {
            return Err(YumaError::StakeTooLarge { max: limits::STAKE_TOTAL_MAX });
        }
        self.s.stake[i] = stake;
        self.s.weights[i].clear();
        self.s.bonds[i].clear();
        for (j, w) in self.s.weights.iter_mut().flatten() {
            if *j == uid {
                *w = 0;
            }
        }
        self.s.validator_permit[i] = false;
        self.s.block_at_registration[i] = self.s.current_block;
        self.s.last_update[i] = self.s.current_block;
        Ok(())
    }

    /// Removes every bond pointing at `uid` (subtensor's `do_reset_bonds`, run when a miner
    /// commits new metadata); a no-op unless `bonds_reset_enabled`.
    pub fn reset_bonds(&mut self, params: &Params, uid: u16) -> Result<(), YumaError> {
        check_uid("reset_bonds.uid", u64::from(uid), self.n())?;
        if params.bonds_reset_enabled {
            for row in &mut self.s.bonds {
                row.retain(|&(j, _)| j != uid);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: usize) -> StateInit {
        StateInit {
            stake: vec![1; n],
            validator_permit: vec![false; n],
            block_at_registration: vec![0; n],
            last_update: vec![0; n],
            weights: vec![vec![]; n],
            bonds: vec![vec![]; n],
            ..StateInit::default()
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut s = state(2);
        s.last_update.pop();
        assert!(matches!(SubnetState::new(s), Err(YumaError::LengthMismatch { .. })));
        let mut s = state(2);
        s.weights[0] = vec![(1, 5), (1, 6)];
        assert!(matches!(SubnetState::new(s), Err(YumaError::DuplicateUid { .. })));
        let mut s = state(2);
        s.bonds[1] = vec![(2, 5)];
        assert!(matches!(SubnetState::new(s), Err(YumaError::UidOutOfRange { .. })));
        let mut s = state(2);
        s.stake = vec![u64::MAX / 2 + 1, u64::MAX / 2];
        assert!(matches!(SubnetState::new(s), Err(YumaError::StakeTooLarge { .. })));
    }

    #[test]
    fn set_weights_is_all_or_nothing() {
        let mut s = SubnetState::new(state(3)).unwrap();
        s.set_block(7);
        let err = s.set_weights(vec![(0, vec![(1, 9)]), (0, vec![(2, 9)])]);
        assert!(matches!(err, Err(YumaError::DuplicateUid { .. })));
        assert!(s.view().weights[0].is_empty());
        s.set_weights(vec![(0, vec![(1, 9), (2, 0)])]).unwrap();
        assert_eq!(s.view().weights[0], vec![(1, 9), (2, 0)]);
        assert_eq!(s.view().last_update[0], 7);
    }

    #[test]
    fn replace_zeroes_incoming_weights_and_skips_the_owner() {
        let mut init = state(3);
        init.owner_uid = Some(2);
        init.weights[0] = vec![(1, 9), (2, 9)];
        init.bonds[1] = vec![(0, 3)];
        init.validator_permit[1] = true;
        let mut s = SubnetState::new(init).unwrap();
        s.set_block(11);
        s.replace_uid(1, 50).unwrap();
        assert_eq!(s.view().weights[0], vec![(1, 0), (2, 9)]);
        assert!(s.view().bonds[1].is_empty());
        assert!(!s.view().validator_permit[1]);
        assert_eq!((s.view().block_at_registration[1], s.view().last_update[1]), (11, 11));
        let before = s.clone();
        s.replace_uid(2, 5).unwrap();
        assert_eq!(s, before);
    }
}
