//! What happened to a contribution after it was offered: validators' attestations of its
//! bytes, reviews, withdrawal, removal, flags and flag disputes, as applied by the chain
//! (failed transactions change nothing and are not recorded).

use alx_types::{
    Payload,
    availability::DataVerdict,
    datanet::{ContributionId, DatanetId, DatanetOp},
};

/// One thing that happened to a contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContributionEvent {
    /// Approved by a reviewer.
    Approved,
    /// Rejected by a reviewer.
    Rejected,
    /// Taken back by its contributor.
    Withdrawn,
    /// Dropped by the owner while awaiting its data.
    Removed,
    /// Flagged as a near-duplicate of an earlier contribution.
    Flagged {
        /// The contribution it is said to copy.
        copies: ContributionId,
    },
    /// Its flag disputed.
    FlagDisputed,
    /// A validator attested that it holds its bytes, as declared.
    Held,
    /// A validator attested that its bytes are not as declared (wrong size, unreadable).
    Refused,
}

impl ContributionEvent {
    /// A stable lowercase name, as the API shows it.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Removed => "removed",
            Self::Flagged { .. } => "flagged_near_duplicate",
            Self::FlagDisputed => "flag_disputed",
            Self::Held => "attested_held",
            Self::Refused => "attested_refused",
        }
    }

    pub(crate) const fn tag(&self) -> (u8, u64) {
        match self {
            Self::Approved => (0, 0),
            Self::Rejected => (1, 0),
            Self::Withdrawn => (2, 0),
            Self::Removed => (3, 0),
            Self::Flagged { copies } => (4, copies.0),
            Self::FlagDisputed => (5, 0),
            Self::Held => (6, 0),
            Self::Refused => (7, 0),
        }
    }

    pub(crate) const fn from_tag(tag: u8, copies: u64) -> Option<Self> {
        Some(match tag {
            0 => Self::Approved,
            1 => Self::Rejected,
            2 => Self::Withdrawn,
            3 => Self::Removed,
            4 => Self::Flagged { copies: ContributionId(copies) },
            5 => Self::FlagDisputed,
            6 => Self::Held,
            7 => Self::Refused,
            _ => return None,
        })
    }
}

/// The contributions a payload acts on, and what it does to each.
#[must_use]
pub fn contribution_events(
    payload: &Payload,
) -> Vec<(DatanetId, ContributionId, ContributionEvent)> {
    let Payload::Datanet(op) = payload else { return Vec::new() };
    let one = |d: &DatanetId, c: &ContributionId, e| vec![(*d, *c, e)];
    match op {
        DatanetOp::Review { datanet, contribution, approve } => one(
            datanet,
            contribution,
            if *approve { ContributionEvent::Approved } else { ContributionEvent::Rejected },
        ),
        DatanetOp::Withdraw { datanet, contribution } => {
            one(datanet, contribution, ContributionEvent::Withdrawn)
        }
        DatanetOp::Remove { datanet, contribution } => {
            one(datanet, contribution, ContributionEvent::Removed)
        }
        DatanetOp::FlagNearDuplicate { datanet, contribution, copies } => {
            one(datanet, contribution, ContributionEvent::Flagged { copies: *copies })
        }
        DatanetOp::DisputeFlag { datanet, contribution } => {
            one(datanet, contribution, ContributionEvent::FlagDisputed)
        }
        DatanetOp::Attest { reports } => reports
            .iter()
            .map(|r| {
                let event = match r.verdict {
                    DataVerdict::Held { .. } => ContributionEvent::Held,
                    _ => ContributionEvent::Refused,
                };
                (r.datanet, r.contribution, event)
            })
            .collect(),
        DatanetOp::Create(_) | DatanetOp::Contribute { .. } | DatanetOp::PublishVersion { .. } => {
            Vec::new()
        }
    }
}
