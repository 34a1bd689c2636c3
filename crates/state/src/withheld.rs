//! Demands that a provider open a settled receipt on chain, and their answers (the rules:
//! `alx_types::withheld`).
//!
//! ```text
//! 0x25 ‖ provider ‖ first receipt (BE) ‖ number (BE) → DemandRecord   while open
//! 0x05 ‖ "demand_bonds"                              → Amount         escrow (the supply audit)
//! due at the deadline                                → DemandDeadline
//! ```
//!
//! The record keeps the settlement's root and range, so an answer is checked and the deadline
//! slashes even once the settlement's own window has closed.

use crate::{
    due::Due,
    execute::{PayloadResult, overflow},
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, ErrorCode, Hash, Height,
    withheld::{Answer, DEMAND_ANSWER_BLOCKS, DEMAND_BOND, DEMANDS_OPEN_PER_PROVIDER_MAX, Demand},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_DEMAND: u8 = 0x25;
const GLOBAL_DEMAND_BONDS: &str = "demand_bonds";

/// An open demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemandRecord {
    /// Who demanded (and escrowed the bond).
    pub challenger: Address,
    /// The last height an answer counts at.
    pub deadline: Height,
    /// The settlement's receipt root.
    pub root: Hash,
    /// Receipts the settlement covers.
    pub receipts: u32,
}

fn demand_key(d: &Demand) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 32 + 16);
    k.push(PREFIX_DEMAND);
    k.extend_from_slice(d.provider.as_bytes());
    k.extend_from_slice(&d.first_receipt.to_be_bytes());
    k.extend_from_slice(&d.number.to_be_bytes());
    k
}

fn parse_key(key: &[u8]) -> Option<Demand> {
    if key.len() != 1 + 32 + 16 || key[0] != PREFIX_DEMAND {
        return None;
    }
    Some(Demand {
        provider: Address(key[1..33].try_into().ok()?),
        first_receipt: u64::from_be_bytes(key[33..41].try_into().ok()?),
        number: u64::from_be_bytes(key[41..49].try_into().ok()?),
    })
}

impl State {
    /// An open demand.
    pub fn demand(&self, d: &Demand) -> Result<Option<DemandRecord>, CorruptState> {
        self.get(&demand_key(d))
    }

    /// Every open demand (of `provider` only, if given), in key order.
    pub fn open_demands(
        &self,
        provider: Option<&Address>,
    ) -> Result<Vec<(Demand, DemandRecord)>, CorruptState> {
        let mut prefix = vec![PREFIX_DEMAND];
        if let Some(p) = provider {
            prefix.extend_from_slice(p.as_bytes());
        }
        let mut out = Vec::new();
        for (key, bytes) in self.auth().scan_prefix(&prefix) {
            let corrupt = || CorruptState {
                key: crate::state::hex_key(key),
                source: CodecError::Invalid("demand", "record"),
            };
            let demand = parse_key(key).ok_or_else(corrupt)?;
            let record = crate::keys::decode(bytes).map_err(|_| corrupt())?;
            out.push((demand, record));
        }
        Ok(out)
    }

    /// Demand bonds held in escrow.
    pub fn demand_bonds_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_DEMAND_BONDS)
    }

    pub(crate) fn open_demand(
        &mut self,
        height: Height,
        challenger: &Address,
        d: &Demand,
    ) -> PayloadResult {
        let record = self
            .settlement_record(&d.provider, d.first_receipt)?
            .ok_or(ErrorCode::NoSuchSettlement)?;
        let end = d.first_receipt.saturating_add(u64::from(record.receipts));
        let mut on_provider = vec![PREFIX_DEMAND];
        on_provider.extend_from_slice(d.provider.as_bytes());
        let open =
            self.auth().scan_prefix(&on_provider).take(DEMANDS_OPEN_PER_PROVIDER_MAX).count();
        if !(d.first_receipt..end).contains(&d.number)
            || self.demand(d)?.is_some()
            || open >= DEMANDS_OPEN_PER_PROVIDER_MAX
        {
            return Err(ErrorCode::DemandRejected.into());
        }
        let mut account = self.existing_account(challenger)?;
        account.balance =
            account.balance.checked_sub(DEMAND_BOND).ok_or(ErrorCode::InsufficientFunds)?;
        self.put_account(challenger, &account);
        let escrow = self.demand_bonds_total()?.checked_add(DEMAND_BOND).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_DEMAND_BONDS, escrow);
        let deadline = height.checked_add(DEMAND_ANSWER_BLOCKS).ok_or_else(overflow)?;
        self.lock_bond_until(&d.provider, deadline.checked_add(1).ok_or_else(overflow)?)?;
        let open = DemandRecord {
            challenger: *challenger,
            deadline,
            root: record.root,
            receipts: record.receipts,
        };
        self.put(demand_key(d), &open);
        self.schedule(deadline, &Due::DemandDeadline(*d));
        Ok(())
    }

    pub(crate) fn answer_demand(&mut self, a: &Answer) -> PayloadResult {
        let d =
            Demand { provider: a.provider, first_receipt: a.first_receipt, number: a.leaf.number };
        let record = self.demand(&d)?.ok_or(ErrorCode::BadAnswer)?;
        if !a.answers(&record.root, d.first_receipt, record.receipts, d.number) {
            return Err(ErrorCode::BadAnswer.into());
        }
        // The escrow pays the provider for its answer.
        self.close_demand(&d, &record)?;
        self.credit(&d.provider, DEMAND_BOND)?;
        Ok(())
    }

    /// The deadline of a demand passed: unanswered, the provider's bond is slashed.
    pub(crate) fn demand_deadline(&mut self, d: &Demand) -> Result<(), CorruptState> {
        let Some(record) = self.demand(d)? else { return Ok(()) };
        self.close_demand(d, &record)?;
        self.slash_settlement(&d.provider, d.first_receipt, &record.challenger)?;
        self.credit(&record.challenger, DEMAND_BOND)
    }

    fn close_demand(&mut self, d: &Demand, record: &DemandRecord) -> Result<(), CorruptState> {
        let escrow = self.demand_bonds_total()?.checked_sub(DEMAND_BOND).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_DEMAND_BONDS, escrow);
        self.auth_mut().delete(&demand_key(d));
        self.unschedule(record.deadline, &Due::DemandDeadline(*d));
        Ok(())
    }
}

impl Write for DemandRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.challenger.write(buf);
        self.deadline.0.write(buf);
        self.root.write(buf);
        self.receipts.write(buf);
    }
}

impl EncodeSize for DemandRecord {
    fn encode_size(&self) -> usize {
        32 + 8 + 32 + 4
    }
}

impl Read for DemandRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            challenger: Address::read(buf)?,
            deadline: Height(u64::read(buf)?),
            root: Hash::read(buf)?,
            receipts: u32::read(buf)?,
        })
    }
}
