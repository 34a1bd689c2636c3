//! Datanets: creation, contributions (fee, stake, daily byte cap, exact-duplicate refusal),
//! review by the owner or curators, withdrawal, and versions. Whether a contribution's data is
//! held, and what it is, is settled by the validators' reports (`availability`).
//!
//! Every operation checks everything first and writes only once nothing can fail, so a failed
//! transaction changes nothing but its fee and nonce.
//!
//! Money: the contribution fee goes to the owner at once. The stake leaves the contributor's
//! balance and is held by the chain (`datanet_stake_locked`, counted in the supply) until the
//! contribution is approved, withdrawn, removed or found unavailable (back to the contributor)
//! or rejected or refused (to the owner, which is what makes spam and lies cost something).

use crate::{
    datanet_records::{Contribution, ContributionStatus, Datanet, DatanetVersion},
    due::Due,
    execute::{PayloadResult, overflow},
    state::{CorruptState, State},
};
use alx_types::{
    Address, Amount, ErrorCode, Hash,
    availability::DATA_DEADLINE_BLOCKS,
    block::Height,
    datanet::{
        BLOCKS_PER_DAY, CONTRIBUTION_SIZE_MAX, ContentRef, ContributionId, DatanetId, DatanetOp,
        DatanetSpec,
    },
    merkle::list_root,
};

/// Marks of near-duplicate flags lifted by disputes.
const PREFIX_FLAG_LIFTED: u8 = 0x28;

impl State {
    pub(crate) fn datanet_op(
        &mut self,
        height: Height,
        who: &Address,
        op: &DatanetOp,
    ) -> PayloadResult {
        match op {
            DatanetOp::Create(spec) => self.create_datanet(height, who, spec),
            DatanetOp::Contribute { datanet, content } => {
                self.contribute(height, who, *datanet, content)
            }
            DatanetOp::Review { datanet, contribution, approve } => {
                self.review(who, *datanet, *contribution, *approve)
            }
            DatanetOp::Withdraw { datanet, contribution } => {
                self.withdraw(who, *datanet, *contribution)
            }
            DatanetOp::PublishVersion { datanet } => self.publish_version(height, who, *datanet),
            DatanetOp::FlagNearDuplicate { datanet, contribution, copies } => {
                self.flag_near_duplicate(who, *datanet, *contribution, *copies)
            }
            DatanetOp::Attest { reports } => self.attest(who, reports),
            DatanetOp::Remove { datanet, contribution } => {
                self.remove_awaiting(who, *datanet, *contribution)
            }
            DatanetOp::DisputeFlag { datanet, contribution } => {
                self.dispute_flag(height, who, *datanet, *contribution)
            }
        }
    }

    fn create_datanet(
        &mut self,
        height: Height,
        owner: &Address,
        spec: &DatanetSpec,
    ) -> PayloadResult {
        if !valid_spec(spec) {
            return Err(ErrorCode::BadDatanetField.into());
        }
        if !spec.curators.iter().all(Address::is_strict_key) {
            return Err(ErrorCode::BadAddress.into());
        }
        let id = self.next_datanet_id()?;
        let datanet = Datanet {
            owner: *owner,
            spec: spec.clone(),
            created_at: height,
            contributions: 0,
            approved: 0,
            approved_bytes: 0,
            version: 0,
        };
        self.put_datanet(id, &datanet);
        self.put_next_datanet_id(id.next());
        Ok(())
    }

    fn contribute(
        &mut self,
        height: Height,
        who: &Address,
        id: DatanetId,
        content: &ContentRef,
    ) -> PayloadResult {
        let mut datanet = self.datanet(id)?.ok_or(ErrorCode::UnknownDatanet)?;
        if content.size == 0 || content.size > CONTRIBUTION_SIZE_MAX {
            return Err(ErrorCode::BadContribution.into());
        }
        if self.contribution_by_content(id, &content.hash)?.is_some() {
            return Err(ErrorCode::DuplicateContent.into());
        }
        let day = height.0 / BLOCKS_PER_DAY;
        let used = self.bytes_contributed(id, who, day)?;
        let used = used.checked_add(content.size).ok_or(ErrorCode::DailyCapExceeded)?;
        if datanet.spec.daily_byte_cap != 0 && used > datanet.spec.daily_byte_cap {
            return Err(ErrorCode::DailyCapExceeded.into());
        }
        let fee = datanet.spec.contribution_fee;
        let stake = datanet.spec.contribution_stake;
        let mut account = self.existing_account(who)?;
        let cost = fee.checked_add(stake).ok_or(ErrorCode::AmountOverflow)?;
        account.balance = account.balance.checked_sub(cost).ok_or(ErrorCode::InsufficientFunds)?;
        let locked = self.datanet_stake_locked()?.checked_add(stake).ok_or_else(overflow)?;

        let contribution_id = ContributionId(datanet.contributions);
        let contribution = Contribution {
            contributor: *who,
            content: *content,
            status: ContributionStatus::AwaitingData,
            submitted_at: height,
            stake,
            near_duplicate: false,
            copy_of: None,
            first_version: 0,
            base_version: datanet.version,
            refusal: None,
        };
        datanet.contributions += 1;
        let due = height.checked_add(DATA_DEADLINE_BLOCKS).ok_or_else(overflow)?;
        self.put_datanet_stake_locked(locked);
        self.put_account(who, &account);
        let source = alx_types::staking::RewardSource::DatanetFees { datanet: id };
        self.earn(&datanet.owner, source, fee, crate::reward_ledger::PaidTo::Balance)?;
        self.put_contribution(id, contribution_id, &contribution);
        self.put_contribution_by_content(id, &content.hash, contribution_id);
        self.put_bytes_contributed(id, who, day, used);
        self.put_datanet(id, &datanet);
        self.schedule(due, &Due::DataDeadline(id, contribution_id));
        Ok(())
    }

    fn review(
        &mut self,
        who: &Address,
        id: DatanetId,
        contribution_id: ContributionId,
        approve: bool,
    ) -> PayloadResult {
        let mut datanet = self.datanet(id)?.ok_or(ErrorCode::UnknownDatanet)?;
        if datanet.owner != *who && !datanet.spec.curators.contains(who) {
            return Err(ErrorCode::NotCurator.into());
        }
        let mut c =
            self.contribution(id, contribution_id)?.ok_or(ErrorCode::UnknownContribution)?;
        if c.status != ContributionStatus::Pending {
            return Err(ErrorCode::NotPending.into());
        }
        // Approval returns the stake to the contributor; rejection forfeits it to the owner.
        if approve {
            self.approve_held(&mut datanet, &mut c)?;
        } else {
            let locked = self.datanet_stake_locked()?.checked_sub(c.stake).ok_or_else(overflow)?;
            c.status = ContributionStatus::Rejected;
            // The content may be offered again (e.g. fixed), so it no longer blocks duplicates.
            self.delete_contribution_by_content(id, &c.content.hash);
            let stake = std::mem::take(&mut c.stake);
            self.put_datanet_stake_locked(locked);
            self.credit(&datanet.owner, stake)?;
        }
        self.put_contribution(id, contribution_id, &c);
        self.put_datanet(id, &datanet);
        Ok(())
    }

    fn withdraw(
        &mut self,
        who: &Address,
        id: DatanetId,
        contribution_id: ContributionId,
    ) -> PayloadResult {
        self.datanet(id)?.ok_or(ErrorCode::UnknownDatanet)?;
        let mut c =
            self.contribution(id, contribution_id)?.ok_or(ErrorCode::UnknownContribution)?;
        if c.contributor != *who {
            return Err(ErrorCode::NotContributor.into());
        }
        if !matches!(c.status, ContributionStatus::Pending | ContributionStatus::AwaitingData) {
            return Err(ErrorCode::NotPending.into());
        }
        if c.status == ContributionStatus::AwaitingData {
            self.forget_awaiting(id, contribution_id, &c);
        }
        let locked = self.datanet_stake_locked()?.checked_sub(c.stake).ok_or_else(overflow)?;
        c.status = ContributionStatus::Withdrawn;
        let stake = std::mem::take(&mut c.stake);
        self.put_datanet_stake_locked(locked);
        self.credit(who, stake)?;
        self.delete_contribution_by_content(id, &c.content.hash);
        self.put_contribution(id, contribution_id, &c);
        Ok(())
    }

    fn publish_version(&mut self, height: Height, who: &Address, id: DatanetId) -> PayloadResult {
        let mut datanet = self.datanet(id)?.ok_or(ErrorCode::UnknownDatanet)?;
        if datanet.owner != *who {
            return Err(ErrorCode::NotCurator.into());
        }
        let previous = match datanet.version {
            0 => None,
            v => self.datanet_version(id, v)?,
        };
        if previous.as_ref().is_some_and(|p| p.contributions == datanet.approved) {
            return Err(ErrorCode::NothingToPublish.into());
        }
        if datanet.approved == 0 {
            return Err(ErrorCode::NothingToPublish.into());
        }
        let leaves = self.approved_leaves(id)?;
        let version = DatanetVersion {
            root: list_root(&leaves),
            contributions: datanet.approved,
            bytes: datanet.approved_bytes,
            published_at: height,
        };
        datanet.version += 1;
        self.put_datanet_version(id, datanet.version, &version);
        self.put_datanet(id, &datanet);
        Ok(())
    }

    /// The flag names the original it copies: an earlier, approved, unflagged contribution of
    /// the same datanet. The flagged contribution's data share goes to the protection fund from
    /// now on (see `usage::settle`), so a curator gains nothing by flagging.
    fn flag_near_duplicate(
        &mut self,
        who: &Address,
        id: DatanetId,
        contribution_id: ContributionId,
        copies: ContributionId,
    ) -> PayloadResult {
        let datanet = self.datanet(id)?.ok_or(ErrorCode::UnknownDatanet)?;
        if datanet.owner != *who && !datanet.spec.curators.contains(who) {
            return Err(ErrorCode::NotCurator.into());
        }
        let mut c =
            self.contribution(id, contribution_id)?.ok_or(ErrorCode::UnknownContribution)?;
        if !matches!(c.status, ContributionStatus::Pending | ContributionStatus::Approved) {
            return Err(ErrorCode::NotPending.into());
        }
        let original = self.contribution(id, copies)?.ok_or(ErrorCode::UnknownContribution)?;
        if copies >= contribution_id
            || original.status != ContributionStatus::Approved
            || original.near_duplicate
        {
            return Err(ErrorCode::BadOriginal.into());
        }
        c.near_duplicate = true;
        c.copy_of = Some(copies);
        self.put_contribution(id, contribution_id, &c);
        Ok(())
    }

    /// A flag the validators found does not hold: the contribution is an original again. The
    /// datanet keeps a mark of it (`0x28 ‖ datanet ‖ contribution`): span attribution left the
    /// copy out while it was flagged, so receipts served then no longer match a recomputation,
    /// and jurors abstain on their attribution (docs/design/disputes.md).
    pub(crate) fn lift_flag(
        &mut self,
        id: DatanetId,
        contribution_id: ContributionId,
    ) -> Result<(), CorruptState> {
        let Some(mut c) = self.contribution(id, contribution_id)? else { return Ok(()) };
        c.near_duplicate = false;
        c.copy_of = None;
        self.put_contribution(id, contribution_id, &c);
        let mut mark = vec![PREFIX_FLAG_LIFTED];
        mark.extend_from_slice(&id.0.to_be_bytes());
        mark.extend_from_slice(&contribution_id.0.to_be_bytes());
        self.auth_mut().put(mark, Vec::new());
        Ok(())
    }

    /// Whether a near-duplicate flag of `datanet` was ever lifted by a dispute.
    pub fn flag_lifted_in(&self, datanet: DatanetId) -> bool {
        let mut prefix = vec![PREFIX_FLAG_LIFTED];
        prefix.extend_from_slice(&datanet.0.to_be_bytes());
        self.auth().scan_prefix(&prefix).next().is_some()
    }

    /// Adds `amount` to an account's balance (creating it).
    pub(crate) fn credit(&mut self, to: &Address, amount: Amount) -> Result<(), CorruptState> {
        if amount.is_zero() {
            return Ok(());
        }
        let mut account = self.existing_account(to)?;
        account.balance = account.balance.checked_add(amount).ok_or_else(overflow)?;
        self.put_account(to, &account);
        Ok(())
    }

    /// The Merkle leaves of a datanet's approved contributions, in id order: what a version
    /// commits to. A leaf binds the id, the content hash, its size and the contributor.
    fn approved_leaves(&self, id: DatanetId) -> Result<Vec<Hash>, CorruptState> {
        Ok(self
            .contributions(id)?
            .iter()
            .filter(|(_, c)| c.status == ContributionStatus::Approved)
            .map(|(cid, c)| contribution_leaf(*cid, c))
            .collect())
    }
}

/// The leaf of one approved contribution in a version's Merkle tree.
#[must_use]
pub fn contribution_leaf(id: ContributionId, c: &Contribution) -> Hash {
    alx_types::datanet::contribution_leaf(id, &c.content, &c.contributor)
}

pub(crate) fn slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An SPDX license expression's characters: ids (`Apache-2.0`, `CC-BY-4.0`,
/// `LicenseRef-x`), `+`, parentheses and the operators with single spaces.
fn spdx(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.+() :".contains(&b))
}

fn valid_spec(spec: &DatanetSpec) -> bool {
    use alx_types::datanet::{DESCRIPTION_LEN_MAX, NAME_LEN_MAX, TAG_LEN_MAX};
    let mut curators = spec.curators.clone();
    curators.sort();
    curators.dedup();
    slug(&spec.name, NAME_LEN_MAX)
        && spec.description.len() <= DESCRIPTION_LEN_MAX
        && !spec.description.chars().any(char::is_control)
        && spec.tags.iter().all(|t| slug(t, TAG_LEN_MAX))
        && spdx(&spec.license)
        && curators.len() == spec.curators.len()
        && spec.duplicate_threshold_bps <= 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_licenses() {
        assert!(slug("move-contracts", 64));
        assert!(!slug("Move", 64));
        assert!(!slug("", 64));
        assert!(spdx("Apache-2.0"));
        assert!(spdx("MIT OR Apache-2.0"));
        assert!(spdx("(MIT AND CC-BY-4.0)"));
        assert!(!spdx(" MIT"));
        assert!(!spdx("MIT\nX"));
        assert!(!spdx(""));
    }
}
