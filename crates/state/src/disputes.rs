//! Disputes on settled receipts and on near-duplicate flags, decided by the active validators'
//! votes (the rules: `alx_types::dispute`).
//!
//! ```text
//! 0x27 ‖ id (BE)             → DisputeRecord      while open
//! 0x05 ‖ "dispute_next"      → u64                the next id
//! 0x05 ‖ "dispute_bonds"     → Amount             challenge bonds in escrow (the supply audit)
//! due at the deadline        → DisputeDeadline(id)
//! ```
//!
//! Votes count only while their validator is in the active set, as data reports do: a
//! validator that leaves the set no longer weighs on a verdict.

use crate::{
    due::Due,
    execute::{PayloadResult, overflow},
    keys::global_key,
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, ErrorCode, Hash, Height,
    availability::quorum,
    datanet::{ContributionId, DatanetId},
    dispute::{DISPUTE_BOND, DISPUTE_VOTING_BLOCKS, DISPUTES_OPEN_MAX, Dispute, Verdict},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_DISPUTE: u8 = 0x27;
const GLOBAL_DISPUTE_NEXT: &str = "dispute_next";
pub(crate) const GLOBAL_DISPUTE_BONDS: &str = "dispute_bonds";
/// Most votes a record keeps per side (an active set is far smaller).
const VOTERS_MAX: usize = 1_024;

/// What a dispute is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A settled receipt, with the claim and its evidence, and the settlement's root and
    /// range (kept, so jurors can check the evidence after the settlement's window closes).
    Receipt {
        /// The claim and its evidence.
        dispute: Box<Dispute>,
        /// The settlement's receipt root.
        root: Hash,
        /// Receipts it settled.
        receipts: u32,
    },
    /// A near-duplicate flag on a contribution (claimed not to hold).
    Flag {
        /// The datanet.
        datanet: DatanetId,
        /// The flagged contribution.
        contribution: ContributionId,
    },
}

/// An open dispute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    /// Who filed it (and escrowed the challenge bond).
    pub challenger: Address,
    /// What it is about.
    pub subject: Subject,
    /// The last height votes count at.
    pub deadline: Height,
    /// Validators that found the provider guilty.
    pub guilty: Vec<Address>,
    /// Validators that found it innocent.
    pub innocent: Vec<Address>,
}

fn dispute_key(id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(PREFIX_DISPUTE);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// How a dispute ends.
enum Ending {
    Guilty,
    Innocent,
    Undecided,
}

impl State {
    /// An open dispute.
    pub fn dispute(&self, id: u64) -> Result<Option<DisputeRecord>, CorruptState> {
        self.get(&dispute_key(id))
    }

    /// Every open dispute, oldest first.
    pub fn open_disputes(&self) -> Result<Vec<(u64, DisputeRecord)>, CorruptState> {
        let mut out = Vec::new();
        for (key, bytes) in self.auth().scan_prefix(&[PREFIX_DISPUTE]) {
            let id = key.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
            let record = crate::keys::decode(bytes).ok();
            match (id, record) {
                (Some(id), Some(record)) => out.push((id, record)),
                _ => {
                    return Err(CorruptState {
                        key: crate::state::hex_key(key),
                        source: CodecError::Invalid("dispute", "record"),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Challenge bonds held in escrow.
    pub fn dispute_bonds_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_DISPUTE_BONDS)
    }

    pub(crate) fn open_dispute(
        &mut self,
        height: Height,
        challenger: &Address,
        dispute: &Dispute,
    ) -> PayloadResult {
        let record = self
            .settlement_record(&dispute.provider, dispute.first_receipt)?
            .ok_or(ErrorCode::NoSuchSettlement)?;
        dispute
            .admissible(&record.root, dispute.first_receipt, record.receipts)
            .map_err(|_| ErrorCode::DisputeRejected)?;
        let deadline = self.escrow_dispute(
            height,
            challenger,
            Subject::Receipt {
                dispute: Box::new(dispute.clone()),
                root: record.root,
                receipts: record.receipts,
            },
        )?;
        // The bond the verdict may take stays until the vote is over.
        self.lock_bond_until(&dispute.provider, deadline.checked_add(1).ok_or_else(overflow)?)?;
        Ok(())
    }

    /// A dispute of the near-duplicate flag on `contribution`.
    pub(crate) fn dispute_flag(
        &mut self,
        height: Height,
        challenger: &Address,
        datanet: DatanetId,
        contribution: ContributionId,
    ) -> PayloadResult {
        let c = self.contribution(datanet, contribution)?.ok_or(ErrorCode::UnknownContribution)?;
        if c.copy_of.is_none() {
            return Err(ErrorCode::DisputeRejected.into());
        }
        self.escrow_dispute(height, challenger, Subject::Flag { datanet, contribution })?;
        Ok(())
    }

    /// Takes the challenge bond and opens the dispute; returns its deadline.
    fn escrow_dispute(
        &mut self,
        height: Height,
        challenger: &Address,
        subject: Subject,
    ) -> Result<Height, crate::execute::PayloadError> {
        let open = self.auth().scan_prefix(&[PREFIX_DISPUTE]).take(DISPUTES_OPEN_MAX).count();
        if open >= DISPUTES_OPEN_MAX {
            return Err(ErrorCode::DisputeRejected.into());
        }
        let mut account = self.existing_account(challenger)?;
        account.balance =
            account.balance.checked_sub(DISPUTE_BOND).ok_or(ErrorCode::InsufficientFunds)?;
        self.put_account(challenger, &account);
        let escrow = self.dispute_bonds_total()?.checked_add(DISPUTE_BOND).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_DISPUTE_BONDS, escrow);
        let id: u64 = self.get(&global_key(GLOBAL_DISPUTE_NEXT))?.unwrap_or_default();
        self.put(global_key(GLOBAL_DISPUTE_NEXT), &id.checked_add(1).ok_or_else(overflow)?);
        let deadline = height.checked_add(DISPUTE_VOTING_BLOCKS).ok_or_else(overflow)?;
        let record = DisputeRecord {
            challenger: *challenger,
            subject,
            deadline,
            guilty: Vec::new(),
            innocent: Vec::new(),
        };
        self.put(dispute_key(id), &record);
        self.schedule(deadline, &Due::DisputeDeadline(id));
        Ok(deadline)
    }

    pub(crate) fn vote_disputes(&mut self, who: &Address, verdicts: &[Verdict]) -> PayloadResult {
        let set = self.active_set()?;
        if !set.contains(who) {
            return Err(ErrorCode::NotActiveValidator.into());
        }
        // Validators race: a verdict on a dispute another vote just closed is skipped, and only
        // a transaction naming no open dispute at all fails.
        let mut any_open = false;
        for v in verdicts {
            any_open |= self.dispute(v.dispute)?.is_some();
        }
        if !any_open {
            return Err(ErrorCode::UnknownDispute.into());
        }
        let needed = quorum(set.len());
        for v in verdicts {
            // An earlier verdict of this transaction may have closed it.
            let Some(mut record) = self.dispute(v.dispute)? else { continue };
            if record.guilty.contains(who) || record.innocent.contains(who) {
                continue;
            }
            if v.guilty {
                record.guilty.push(*who);
            } else {
                record.innocent.push(*who);
            }
            let count = |votes: &[Address]| votes.iter().filter(|a| set.contains(a)).count();
            if count(&record.guilty) >= needed {
                self.close_dispute(v.dispute, &record, &Ending::Guilty)?;
            } else if count(&record.innocent) > set.len() - needed {
                self.close_dispute(v.dispute, &record, &Ending::Innocent)?;
            } else {
                self.put(dispute_key(v.dispute), &record);
            }
        }
        Ok(())
    }

    /// The deadline of a dispute passed: still open, it closes undecided.
    pub(crate) fn dispute_deadline(&mut self, id: u64) -> Result<(), CorruptState> {
        let Some(record) = self.dispute(id)? else { return Ok(()) };
        self.close_dispute(id, &record, &Ending::Undecided)
    }

    fn close_dispute(
        &mut self,
        id: u64,
        record: &DisputeRecord,
        ending: &Ending,
    ) -> Result<(), CorruptState> {
        let escrow = self.dispute_bonds_total()?.checked_sub(DISPUTE_BOND).ok_or_else(overflow)?;
        self.put_amount_global_named(GLOBAL_DISPUTE_BONDS, escrow);
        match ending {
            Ending::Guilty => {
                match &record.subject {
                    Subject::Receipt { dispute, .. } => {
                        let (provider, first) = (dispute.provider, dispute.first_receipt);
                        self.slash_settlement(&provider, first, &record.challenger)?;
                    }
                    Subject::Flag { datanet, contribution } => {
                        self.lift_flag(*datanet, *contribution)?;
                    }
                }
                self.credit(&record.challenger, DISPUTE_BOND)?;
            }
            Ending::Undecided => self.credit(&record.challenger, DISPUTE_BOND)?,
            Ending::Innocent => {
                let name = crate::emission::PROTECTION_FUND;
                let fund =
                    self.amount_global(name)?.checked_add(DISPUTE_BOND).ok_or_else(overflow)?;
                self.put_amount_global_named(name, fund);
            }
        }
        self.auth_mut().delete(&dispute_key(id));
        self.unschedule(record.deadline, &Due::DisputeDeadline(id));
        Ok(())
    }
}

fn write_voters(voters: &[Address], buf: &mut impl BufMut) {
    let n = voters.len().min(VOTERS_MAX);
    buf.put_u16(n as u16);
    for a in &voters[..n] {
        a.write(buf);
    }
}

fn read_voters(buf: &mut impl Buf) -> Result<Vec<Address>, CodecError> {
    let n = usize::from(u16::read(buf)?);
    if n > VOTERS_MAX {
        return Err(CodecError::InvalidLength(n));
    }
    (0..n).map(|_| Address::read(buf)).collect()
}

impl Write for DisputeRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.challenger.write(buf);
        match &self.subject {
            Subject::Receipt { dispute, root, receipts } => {
                buf.put_u8(0);
                dispute.write(buf);
                root.write(buf);
                receipts.write(buf);
            }
            Subject::Flag { datanet, contribution } => {
                buf.put_u8(1);
                datanet.write(buf);
                contribution.write(buf);
            }
        }
        self.deadline.0.write(buf);
        write_voters(&self.guilty, buf);
        write_voters(&self.innocent, buf);
    }
}

impl EncodeSize for DisputeRecord {
    fn encode_size(&self) -> usize {
        let voters = |v: &[Address]| 2 + v.len().min(VOTERS_MAX) * 32;
        let subject = match &self.subject {
            Subject::Receipt { dispute, .. } => dispute.encode_size() + 32 + 4,
            Subject::Flag { .. } => 16,
        };
        32 + 1 + subject + 8 + voters(&self.guilty) + voters(&self.innocent)
    }
}

impl Read for DisputeRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            challenger: Address::read(buf)?,
            subject: match u8::read(buf)? {
                0 => Subject::Receipt {
                    dispute: Box::new(Dispute::read(buf)?),
                    root: Hash::read(buf)?,
                    receipts: u32::read(buf)?,
                },
                1 => Subject::Flag {
                    datanet: DatanetId::read(buf)?,
                    contribution: ContributionId::read(buf)?,
                },
                tag => return Err(CodecError::InvalidEnum(tag)),
            },
            deadline: Height(u64::read(buf)?),
            guilty: read_voters(buf)?,
            innocent: read_voters(buf)?,
        })
    }
}
