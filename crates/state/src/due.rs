//! Work the chain does by itself at a given height, after the block's transactions: closing
//! an API key whose revocation delay has run out, and dropping a contribution whose data never
//! became available by its deadline.
//!
//! ```text
//! 0x1E ‖ height (BE) ‖ kind (u8) ‖ subject  → empty
//!        kind 0: close an API key            subject: key hash
//!        kind 1: a contribution's data deadline   subject: datanet (BE) ‖ contribution (BE)
//!        kind 2: a settlement's challenge window closes   subject: provider ‖ first receipt (BE)
//!        kind 3: a dispute's vote ends        subject: dispute id (BE)
//!        kind 4: a receipt demand's deadline  subject: provider ‖ first receipt (BE) ‖ number (BE)
//! ```
//!
//! Big-endian heights keep each height's entries together, so a block reads exactly the
//! entries due at its height; an entry is deleted when it runs, and one whose subject already
//! moved on (a key closed early, data that arrived) is a no-op.

use crate::state::{CorruptState, State};
use alx_types::{
    Address, Hash, Height,
    datanet::{ContributionId, DatanetId},
};

pub(crate) const PREFIX_DUE: u8 = 0x1E;
const KIND_CLOSE_API_KEY: u8 = 0;
const KIND_DATA_DEADLINE: u8 = 1;
const KIND_SETTLEMENT_WINDOW: u8 = 2;
const KIND_DISPUTE_DEADLINE: u8 = 3;
const KIND_DEMAND_DEADLINE: u8 = 4;

/// Something the chain does at a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Close a revoked API key and return its allowance to the payer's deposit.
    CloseApiKey(Hash),
    /// Drop a contribution still waiting for its data.
    DataDeadline(DatanetId, ContributionId),
    /// Close a settlement's challenge window.
    SettlementWindow(Address, u64),
    /// End a dispute's vote.
    DisputeDeadline(u64),
    /// Slash a provider that did not answer a demand.
    DemandDeadline(alx_types::withheld::Demand),
}

fn height_prefix(height: Height) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 8 + 1 + 32);
    k.push(PREFIX_DUE);
    k.extend_from_slice(&height.0.to_be_bytes());
    k
}

fn due_key(height: Height, due: &Due) -> Vec<u8> {
    let mut k = height_prefix(height);
    match due {
        Due::CloseApiKey(hash) => {
            k.push(KIND_CLOSE_API_KEY);
            k.extend_from_slice(&hash.0);
        }
        Due::DataDeadline(datanet, contribution) => {
            k.push(KIND_DATA_DEADLINE);
            k.extend_from_slice(&datanet.0.to_be_bytes());
            k.extend_from_slice(&contribution.0.to_be_bytes());
        }
        Due::SettlementWindow(provider, first) => {
            k.push(KIND_SETTLEMENT_WINDOW);
            k.extend_from_slice(provider.as_bytes());
            k.extend_from_slice(&first.to_be_bytes());
        }
        Due::DisputeDeadline(id) => {
            k.push(KIND_DISPUTE_DEADLINE);
            k.extend_from_slice(&id.to_be_bytes());
        }
        Due::DemandDeadline(d) => {
            k.push(KIND_DEMAND_DEADLINE);
            k.extend_from_slice(d.provider.as_bytes());
            k.extend_from_slice(&d.first_receipt.to_be_bytes());
            k.extend_from_slice(&d.number.to_be_bytes());
        }
    }
    k
}

fn parse(subject: &[u8]) -> Option<Due> {
    let (&kind, rest) = subject.split_first()?;
    match kind {
        KIND_CLOSE_API_KEY => {
            let bytes: [u8; 32] = rest.try_into().ok()?;
            Some(Due::CloseApiKey(alx_types::hash::from_bytes(bytes)))
        }
        KIND_DATA_DEADLINE if rest.len() == 16 => {
            let datanet = DatanetId(u64::from_be_bytes(rest[..8].try_into().ok()?));
            let contribution = ContributionId(u64::from_be_bytes(rest[8..].try_into().ok()?));
            Some(Due::DataDeadline(datanet, contribution))
        }
        KIND_SETTLEMENT_WINDOW if rest.len() == 40 => {
            let provider = Address(rest[..32].try_into().ok()?);
            Some(Due::SettlementWindow(provider, u64::from_be_bytes(rest[32..].try_into().ok()?)))
        }
        KIND_DEMAND_DEADLINE if rest.len() == 48 => {
            Some(Due::DemandDeadline(alx_types::withheld::Demand {
                provider: Address(rest[..32].try_into().ok()?),
                first_receipt: u64::from_be_bytes(rest[32..40].try_into().ok()?),
                number: u64::from_be_bytes(rest[40..].try_into().ok()?),
            }))
        }
        KIND_DISPUTE_DEADLINE if rest.len() == 8 => {
            Some(Due::DisputeDeadline(u64::from_be_bytes(rest.try_into().ok()?)))
        }
        _ => None,
    }
}

impl State {
    /// Schedules `due` to run at the end of block `height`.
    pub(crate) fn schedule(&mut self, height: Height, due: &Due) {
        self.auth_mut().put(due_key(height, due), Vec::new());
    }

    /// Cancels a scheduled `due` (nothing if it was not scheduled).
    pub(crate) fn unschedule(&mut self, height: Height, due: &Due) {
        self.auth_mut().delete(&due_key(height, due));
    }

    /// What is due at `height`, in key order (deterministic), removed from the queue.
    pub(crate) fn take_due(&mut self, height: Height) -> Result<Vec<Due>, CorruptState> {
        let prefix = height_prefix(height);
        let entries: Vec<Vec<u8>> =
            self.auth().scan_prefix(&prefix).map(|(k, _)| k.clone()).collect();
        let mut due = Vec::with_capacity(entries.len());
        for key in entries {
            let item = parse(&key[prefix.len()..]).ok_or_else(|| CorruptState {
                key: crate::state::hex_key(&key),
                source: commonware_codec::Error::Invalid("due", "unknown entry"),
            })?;
            self.auth_mut().delete(&key);
            due.push(item);
        }
        Ok(due)
    }

    /// Every scheduled data deadline, in deadline order.
    pub(crate) fn data_deadlines(&self) -> Result<Vec<(DatanetId, ContributionId)>, CorruptState> {
        let mut out = Vec::new();
        for (key, _) in self.auth().scan_prefix(&[PREFIX_DUE]) {
            match key.get(9..).and_then(parse) {
                Some(Due::DataDeadline(datanet, id)) => out.push((datanet, id)),
                Some(
                    Due::CloseApiKey(_)
                    | Due::SettlementWindow(..)
                    | Due::DisputeDeadline(_)
                    | Due::DemandDeadline(_),
                ) => {}
                None => {
                    return Err(CorruptState {
                        key: crate::state::hex_key(key),
                        source: commonware_codec::Error::Invalid("due", "unknown entry"),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Runs everything due at `height`.
    pub(crate) fn run_due(&mut self, height: Height) -> Result<(), CorruptState> {
        for due in self.take_due(height)? {
            match due {
                Due::CloseApiKey(hash) => self.close_api_key(&hash)?,
                Due::DataDeadline(datanet, contribution) => {
                    self.data_deadline(datanet, contribution)?;
                }
                Due::SettlementWindow(provider, first) => {
                    self.close_settlement_window(&provider, first)?;
                }
                Due::DisputeDeadline(id) => self.dispute_deadline(id)?,
                Due::DemandDeadline(d) => self.demand_deadline(&d)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for due in [
            Due::CloseApiKey(alx_types::hash::sha256(&[b"k"])),
            Due::DataDeadline(DatanetId(3), ContributionId(u64::MAX)),
            Due::SettlementWindow(Address([7; 32]), u64::MAX - 1),
            Due::DisputeDeadline(u64::MAX),
            Due::DemandDeadline(alx_types::withheld::Demand {
                provider: Address([9; 32]),
                first_receipt: 3,
                number: u64::MAX,
            }),
        ] {
            let key = due_key(Height(77), &due);
            assert_eq!(parse(&key[9..]), Some(due));
            assert!(key.starts_with(&height_prefix(Height(77))));
        }
        assert_eq!(parse(&[9]), None);
        assert_eq!(parse(&[KIND_DATA_DEADLINE, 1, 2]), None);
    }
}
