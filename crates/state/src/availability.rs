//! Data availability on chain: the active validators' reports on contributions awaiting their
//! data, the verdict a quorum of them agrees on, and the deadline after which a contribution
//! whose data nobody confirmed is dropped (see `alx_types::availability` for the rules).
//!
//! ```text
//! Attest(reports), sender in the active set, each report:
//!   unknown datanet or contribution, wrong base version, "wrong" size = declared → bad_report
//!   contribution no longer awaiting its data, or sender already reported on it   → skipped
//!   otherwise the sender joins its verdict's attesters; at a quorum of the active set the
//!   verdict applies: approved / pending review / refused (evidence kept), attesters cleared
//! deadline (submission + DATA_DEADLINE_BLOCKS), still awaiting → unavailable, stake back
//! Remove by the owner, still awaiting → removed, stake back
//! ```
//!
//! A report is one validator's word; only a quorum's agreement (the same count that finalizes
//! blocks) moves anything, and every verdict can be recomputed from the blob and the version
//! it names.

use crate::{
    datanet_records::{Contribution, ContributionStatus, PREFIX_ATTEST, key},
    due::Due,
    execute::{PayloadResult, overflow},
    state::{CorruptState, State, hex_key},
};
use alx_types::{
    Address, ErrorCode, Hash,
    availability::{DATA_DEADLINE_BLOCKS, DataReport, DataVerdict, Refusal, quorum},
    datanet::{ContributionId, DatanetId, Policy},
    hash::sha256,
};
use commonware_codec::Encode as _;

fn attest_prefix(datanet: DatanetId, contribution: ContributionId) -> Vec<u8> {
    key(PREFIX_ATTEST, datanet, &[&contribution.0.to_be_bytes()])
}

fn verdict_hash(verdict: &DataVerdict) -> Hash {
    sha256(&[&verdict.encode()])
}

/// What the chain does with a verdict a quorum agreed on.
enum Outcome {
    Held { text_hash: Hash },
    Refused(Refusal),
}

impl State {
    pub(crate) fn attest(&mut self, who: &Address, reports: &[DataReport]) -> PayloadResult {
        let set = self.active_set()?;
        if !set.contains(who) {
            return Err(ErrorCode::NotActiveValidator.into());
        }
        // Check every report before writing anything.
        for r in reports {
            let c = self.contribution(r.datanet, r.contribution)?.ok_or(ErrorCode::BadReport)?;
            let contradicts = match r.verdict {
                DataVerdict::Held { against_version, .. } => against_version != c.base_version,
                DataVerdict::WrongSize { actual } => actual == c.content.size,
                DataVerdict::Unreadable => false,
            };
            if contradicts {
                return Err(ErrorCode::BadReport.into());
            }
        }
        let needed = quorum(set.len());
        for r in reports {
            let Some(c) = self.contribution(r.datanet, r.contribution)? else { continue };
            if c.status != ContributionStatus::AwaitingData
                || self.has_attested(r.datanet, r.contribution, who)?
            {
                continue;
            }
            let record =
                [attest_prefix(r.datanet, r.contribution), verdict_hash(&r.verdict).0.to_vec()]
                    .concat();
            let mut attesters: Vec<Address> = self.get_attesters(&record)?;
            attesters.push(*who);
            let agreeing = attesters.iter().filter(|a| set.contains(a)).count();
            if agreeing >= needed {
                self.apply_verdict(r.datanet, r.contribution, c, &r.verdict)?;
            } else {
                self.auth_mut().put(record, encode_attesters(&attesters));
            }
        }
        Ok(())
    }

    fn get_attesters(&self, record: &[u8]) -> Result<Vec<Address>, CorruptState> {
        let Some(bytes) = self.auth().get(record) else { return Ok(Vec::new()) };
        if bytes.len() % 32 != 0 {
            return Err(CorruptState {
                key: hex_key(record),
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

    /// True if `who` already reported any verdict on this contribution: one report each.
    fn has_attested(
        &self,
        datanet: DatanetId,
        contribution: ContributionId,
        who: &Address,
    ) -> Result<bool, CorruptState> {
        let records: Vec<Vec<u8>> = self
            .auth()
            .scan_prefix(&attest_prefix(datanet, contribution))
            .map(|(k, _)| k.clone())
            .collect();
        for record in records {
            if self.get_attesters(&record)?.contains(who) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn apply_verdict(
        &mut self,
        datanet_id: DatanetId,
        id: ContributionId,
        mut c: Contribution,
        verdict: &DataVerdict,
    ) -> PayloadResult {
        let mut datanet = self.datanet(datanet_id)?.ok_or_else(overflow)?;
        self.forget_awaiting(datanet_id, id, &c);
        let outcome = match *verdict {
            DataVerdict::WrongSize { actual } => {
                Outcome::Refused(Refusal::WrongSize { declared: c.content.size, actual })
            }
            DataVerdict::Unreadable => Outcome::Refused(Refusal::Unreadable),
            DataVerdict::Held { text_hash, coverage_bps, covered_by, against_version } => {
                let threshold = datanet.spec.duplicate_threshold_bps;
                if let Some(of) = self.contribution_by_text(datanet_id, &text_hash)? {
                    Outcome::Refused(Refusal::Duplicate { of })
                } else if threshold != 0 && coverage_bps >= threshold {
                    Outcome::Refused(Refusal::NearDuplicate {
                        coverage_bps,
                        covered_by,
                        against_version,
                    })
                } else {
                    Outcome::Held { text_hash }
                }
            }
        };
        let locked = self.datanet_stake_locked()?;
        match outcome {
            Outcome::Held { text_hash } => {
                self.put_contribution_by_text(datanet_id, &text_hash, id);
                if datanet.spec.policy == Policy::Open {
                    self.approve_held(&mut datanet, &mut c)?;
                    self.put_datanet(datanet_id, &datanet);
                } else {
                    c.status = ContributionStatus::Pending;
                }
            }
            Outcome::Refused(refusal) => {
                // A lie about the data, or a copy: the stake pays the owner for the trouble,
                // as a reviewer's rejection would.
                c.status = ContributionStatus::Refused;
                c.refusal = Some(refusal);
                let stake = std::mem::take(&mut c.stake);
                self.put_datanet_stake_locked(locked.checked_sub(stake).ok_or_else(overflow)?);
                self.credit(&datanet.owner, stake)?;
                self.delete_contribution_by_content(datanet_id, &c.content.hash);
            }
        }
        self.put_contribution(datanet_id, id, &c);
        Ok(())
    }

    /// Approves a contribution whose data is held: it joins the next version, its bytes count,
    /// its stake goes back. The caller writes `datanet` and `c`.
    pub(crate) fn approve_held(
        &mut self,
        datanet: &mut crate::Datanet,
        c: &mut Contribution,
    ) -> Result<(), CorruptState> {
        c.status = ContributionStatus::Approved;
        c.first_version = datanet.version.saturating_add(1);
        datanet.approved += 1;
        datanet.approved_bytes = datanet.approved_bytes.saturating_add(c.content.size);
        let stake = std::mem::take(&mut c.stake);
        let locked = self.datanet_stake_locked()?.checked_sub(stake).ok_or_else(overflow)?;
        self.put_datanet_stake_locked(locked);
        self.credit(&c.contributor, stake)
    }

    /// Forgets what only a contribution awaiting its data has: its deadline and its reports.
    pub(crate) fn forget_awaiting(
        &mut self,
        datanet: DatanetId,
        id: ContributionId,
        c: &Contribution,
    ) {
        let due = c.submitted_at.saturating_add(DATA_DEADLINE_BLOCKS);
        self.unschedule(due, &Due::DataDeadline(datanet, id));
        let records: Vec<Vec<u8>> =
            self.auth().scan_prefix(&attest_prefix(datanet, id)).map(|(k, _)| k.clone()).collect();
        for record in records {
            self.auth_mut().delete(&record);
        }
    }

    /// The deadline of a contribution's data: still awaiting → unavailable, stake back.
    pub(crate) fn data_deadline(
        &mut self,
        datanet: DatanetId,
        id: ContributionId,
    ) -> Result<(), CorruptState> {
        let Some(c) = self.contribution(datanet, id)? else { return Ok(()) };
        if c.status != ContributionStatus::AwaitingData {
            return Ok(());
        }
        self.drop_awaiting(datanet, id, c, ContributionStatus::Unavailable)
    }

    /// The owner drops a contribution still awaiting its data (its stake goes back: an owner
    /// gains nothing by removing).
    pub(crate) fn remove_awaiting(
        &mut self,
        who: &Address,
        datanet: DatanetId,
        id: ContributionId,
    ) -> PayloadResult {
        let record = self.datanet(datanet)?.ok_or(ErrorCode::UnknownDatanet)?;
        if record.owner != *who {
            return Err(ErrorCode::NotCurator.into());
        }
        let c = self.contribution(datanet, id)?.ok_or(ErrorCode::UnknownContribution)?;
        if c.status != ContributionStatus::AwaitingData {
            return Err(ErrorCode::NotPending.into());
        }
        Ok(self.drop_awaiting(datanet, id, c, ContributionStatus::Removed)?)
    }

    fn drop_awaiting(
        &mut self,
        datanet: DatanetId,
        id: ContributionId,
        mut c: Contribution,
        status: ContributionStatus,
    ) -> Result<(), CorruptState> {
        self.forget_awaiting(datanet, id, &c);
        let stake = std::mem::take(&mut c.stake);
        let locked = self.datanet_stake_locked()?.checked_sub(stake).ok_or_else(overflow)?;
        self.put_datanet_stake_locked(locked);
        self.credit(&c.contributor, stake)?;
        c.status = status;
        // The same bytes may be offered again, once someone holds them.
        self.delete_contribution_by_content(datanet, &c.content.hash);
        self.put_contribution(datanet, id, &c);
        Ok(())
    }

    /// Contributions still awaiting their data, in deadline order: what validators report on.
    /// Read from the deadline queue, so the cost follows the recent contributions, not all.
    pub fn awaiting_data(
        &self,
    ) -> Result<Vec<(DatanetId, ContributionId, Contribution)>, CorruptState> {
        let mut out = Vec::new();
        for (datanet, id) in self.data_deadlines()? {
            if let Some(c) = self.contribution(datanet, id)?
                && c.status == ContributionStatus::AwaitingData
            {
                out.push((datanet, id, c));
            }
        }
        Ok(out)
    }

    /// Whether `who` has reported on this contribution (validators skip what they did).
    pub fn reported_by(
        &self,
        datanet: DatanetId,
        id: ContributionId,
        who: &Address,
    ) -> Result<bool, CorruptState> {
        self.has_attested(datanet, id, who)
    }
}

fn encode_attesters(attesters: &[Address]) -> Vec<u8> {
    attesters.iter().flat_map(|a| a.0).collect()
}
