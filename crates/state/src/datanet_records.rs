//! Datanet records in the authenticated map, and their typed reads and writes.
//!
//! ```text
//! 0x07 ‖ datanet (BE)                                  → Datanet
//! 0x08 ‖ datanet (BE) ‖ contribution (BE)              → Contribution
//! 0x09 ‖ datanet (BE) ‖ content hash                   → contribution id (duplicate check)
//! 0x0A ‖ datanet (BE) ‖ version (BE)                   → DatanetVersion
//! 0x0B ‖ datanet (BE) ‖ account                       → (day, bytes contributed that day)
//! 0x1F ‖ datanet (BE) ‖ contribution (BE) ‖ verdict hash → attesters of that data verdict
//! 0x20 ‖ datanet (BE) ‖ normalized text hash          → contribution id (duplicate check)
//! 0x05 ‖ "datanet_next" / "datanet_stake_locked"       → u64 / Amount
//! ```
//! Big-endian ids make a datanet's contributions iterate in id order.

use crate::{
    keys::{self, global_key},
    state::{CorruptState, State, hex_key},
};
use alx_types::{
    Address, Amount, Hash, Height,
    availability::Refusal,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetSpec},
};
use bytes::BufMut as _;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};

pub(crate) const PREFIX_DATANET: u8 = 0x07;
pub(crate) const PREFIX_CONTRIBUTION: u8 = 0x08;
pub(crate) const PREFIX_CONTENT: u8 = 0x09;
pub(crate) const PREFIX_VERSION: u8 = 0x0A;
pub(crate) const PREFIX_DAILY_BYTES: u8 = 0x0B;
pub(crate) const PREFIX_ATTEST: u8 = 0x1F;
pub(crate) const PREFIX_TEXT: u8 = 0x20;
const GLOBAL_NEXT: &str = "datanet_next";
const GLOBAL_STAKE_LOCKED: &str = "datanet_stake_locked";

pub(crate) fn key(prefix: u8, datanet: DatanetId, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.iter().map(|r| r.len()).sum::<usize>());
    k.push(prefix);
    k.put_u64(datanet.0);
    for r in rest {
        k.extend_from_slice(r);
    }
    k
}

/// A datanet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datanet {
    /// Its creator, who publishes versions and reviews.
    pub owner: Address,
    /// What it is and its rules.
    pub spec: DatanetSpec,
    /// Height of creation.
    pub created_at: Height,
    /// Contributions ever submitted (the next contribution id).
    pub contributions: u64,
    /// Contributions approved.
    pub approved: u64,
    /// Their bytes.
    pub approved_bytes: u64,
    /// The latest published version (0: none yet).
    pub version: u32,
}

/// Where a contribution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContributionStatus {
    /// Its data is held; waiting for review by the owner or a curator.
    Pending,
    /// Part of the datanet (and of every version from the next one on).
    Approved,
    /// Refused by a reviewer; its stake went to the owner.
    Rejected,
    /// Taken back by its contributor.
    Withdrawn,
    /// Waiting for a quorum of validators to report holding its data.
    AwaitingData,
    /// Its data was not confirmed held by the deadline; its stake went back.
    Unavailable,
    /// Refused by the validators' verdict, with the evidence in `refusal`; its stake went to
    /// the owner.
    Refused,
    /// Dropped by the owner while it awaited its data; its stake went back.
    Removed,
}

/// A contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contribution {
    /// Who offered it (and is paid when it is used).
    pub contributor: Address,
    /// The blob.
    pub content: ContentRef,
    /// Where it stands.
    pub status: ContributionStatus,
    /// Height it was submitted at.
    pub submitted_at: Height,
    /// Stake still locked with it (pending only).
    pub stake: Amount,
    /// Flagged by a reviewer as mostly present already: it earns no data share.
    pub near_duplicate: bool,
    /// The earlier contribution a flag says it copies (the flag's evidence).
    pub copy_of: Option<ContributionId>,
    /// The first version that holds it (0 until approved): the version published next after
    /// its approval. Version `v` holds exactly the approved contributions with
    /// `first_version <= v`, which lets anyone rebuild any version's content.
    pub first_version: u32,
    /// The datanet's latest version when it was offered: what near-duplicate coverage is
    /// measured against.
    pub base_version: u32,
    /// Why the validators' verdict refused it, with the evidence.
    pub refusal: Option<Refusal>,
}

/// A published version of a datanet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatanetVersion {
    /// Merkle root over the approved contributions' leaves, in id order.
    pub root: Hash,
    /// Approved contributions it holds.
    pub contributions: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Height of publication.
    pub published_at: Height,
}

impl Write for Datanet {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.owner.write(buf);
        self.spec.write(buf);
        self.created_at.write(buf);
        self.contributions.write(buf);
        self.approved.write(buf);
        self.approved_bytes.write(buf);
        self.version.write(buf);
    }
}

impl EncodeSize for Datanet {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.spec.encode_size() + 4 * u64::SIZE + u32::SIZE
    }
}

impl Read for Datanet {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            owner: Address::read(buf)?,
            spec: DatanetSpec::read(buf)?,
            created_at: Height::read(buf)?,
            contributions: u64::read(buf)?,
            approved: u64::read(buf)?,
            approved_bytes: u64::read(buf)?,
            version: u32::read(buf)?,
        })
    }
}

impl ContributionStatus {
    /// Every status, in the order of their stored tags.
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Withdrawn,
        Self::AwaitingData,
        Self::Unavailable,
        Self::Refused,
        Self::Removed,
    ];

    /// The stable snake_case name the API shows.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::AwaitingData => "awaiting_data",
            Self::Unavailable => "unavailable",
            Self::Refused => "refused",
            Self::Removed => "removed",
        }
    }
}

impl Write for Contribution {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.contributor.write(buf);
        self.content.write(buf);
        buf.put_u8(self.status as u8);
        self.submitted_at.write(buf);
        self.stake.write(buf);
        // 0: not flagged; 1: flagged, no original named; 2: flagged, the original follows.
        match (self.near_duplicate, self.copy_of) {
            (false, _) => buf.put_u8(0),
            (true, None) => buf.put_u8(1),
            (true, Some(original)) => {
                buf.put_u8(2);
                original.write(buf);
            }
        }
        self.first_version.write(buf);
        self.base_version.write(buf);
        match &self.refusal {
            None => buf.put_u8(0),
            Some(r) => {
                buf.put_u8(1);
                r.write(buf);
            }
        }
    }
}

impl EncodeSize for Contribution {
    fn encode_size(&self) -> usize {
        Address::SIZE
            + ContentRef::SIZE
            + 1
            + u64::SIZE
            + Amount::SIZE
            + 1
            + if self.near_duplicate && self.copy_of.is_some() { u64::SIZE } else { 0 }
            + 2 * u32::SIZE
            + 1
            + self.refusal.as_ref().map_or(0, EncodeSize::encode_size)
    }
}

impl Read for Contribution {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let contributor = Address::read(buf)?;
        let content = ContentRef::read(buf)?;
        let tag = u8::read(buf)?;
        let status =
            *ContributionStatus::ALL.get(usize::from(tag)).ok_or(CodecError::InvalidEnum(tag))?;
        let submitted_at = Height::read(buf)?;
        let stake = Amount::read(buf)?;
        let (near_duplicate, copy_of) = match u8::read(buf)? {
            0 => (false, None),
            1 => (true, None),
            2 => (true, Some(ContributionId::read(buf)?)),
            other => return Err(CodecError::InvalidEnum(other)),
        };
        Ok(Self {
            contributor,
            content,
            status,
            submitted_at,
            stake,
            near_duplicate,
            copy_of,
            first_version: u32::read(buf)?,
            base_version: u32::read(buf)?,
            refusal: match u8::read(buf)? {
                0 => None,
                1 => Some(Refusal::read(buf)?),
                other => return Err(CodecError::InvalidEnum(other)),
            },
        })
    }
}

impl Write for DatanetVersion {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.root.write(buf);
        self.contributions.write(buf);
        self.bytes.write(buf);
        self.published_at.write(buf);
    }
}

impl EncodeSize for DatanetVersion {
    fn encode_size(&self) -> usize {
        Hash::SIZE + 3 * u64::SIZE
    }
}

impl Read for DatanetVersion {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            root: Hash::read(buf)?,
            contributions: u64::read(buf)?,
            bytes: u64::read(buf)?,
            published_at: Height::read(buf)?,
        })
    }
}

impl State {
    /// A datanet, if it exists.
    pub fn datanet(&self, id: DatanetId) -> Result<Option<Datanet>, CorruptState> {
        self.get(&key(PREFIX_DATANET, id, &[]))
    }

    /// Datanets created so far (ids are `0..count`).
    pub fn datanet_count(&self) -> Result<u64, CorruptState> {
        self.get(&global_key(GLOBAL_NEXT)).map(Option::unwrap_or_default)
    }

    /// A contribution, if it exists.
    pub fn contribution(
        &self,
        datanet: DatanetId,
        id: ContributionId,
    ) -> Result<Option<Contribution>, CorruptState> {
        self.get(&key(PREFIX_CONTRIBUTION, datanet, &[&id.0.to_be_bytes()]))
    }

    /// A datanet's contributions in id order.
    pub fn contributions(
        &self,
        datanet: DatanetId,
    ) -> Result<Vec<(ContributionId, Contribution)>, CorruptState> {
        let prefix = key(PREFIX_CONTRIBUTION, datanet, &[]);
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let corrupt = |source| CorruptState { key: hex_key(k), source };
                let id = k
                    .get(9..17)
                    .and_then(|b| b.try_into().ok())
                    .map(|b| ContributionId(u64::from_be_bytes(b)))
                    .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                keys::decode::<Contribution>(v).map(|c| (id, c)).map_err(corrupt)
            })
            .collect()
    }

    /// The contributions version `version` of a datanet holds, in id order: the approved ones
    /// whose first version is at most `version`. Their leaves hash to the version's root.
    pub fn version_contents(
        &self,
        datanet: DatanetId,
        version: u32,
    ) -> Result<Vec<(ContributionId, Contribution)>, CorruptState> {
        let mut all = self.contributions(datanet)?;
        all.retain(|(_, c)| {
            c.status == ContributionStatus::Approved && (1..=version).contains(&c.first_version)
        });
        Ok(all)
    }

    /// The live contribution with this exact content (awaiting its data, pending or approved),
    /// if any.
    pub fn contribution_by_content(
        &self,
        datanet: DatanetId,
        hash: &Hash,
    ) -> Result<Option<ContributionId>, CorruptState> {
        self.get(&key(PREFIX_CONTENT, datanet, &[&hash.0]))
    }

    /// The blobs live contributions (awaiting their data, pending or approved) of every
    /// datanet hold: what the blob store must keep. One scan of the content index.
    pub fn live_blobs(&self) -> std::collections::BTreeSet<Hash> {
        self.auth()
            .scan_prefix(&[PREFIX_CONTENT])
            .filter_map(|(k, _)| {
                let bytes: [u8; 32] = k.get(9..41)?.try_into().ok()?;
                Some(alx_types::hash::from_bytes(bytes))
            })
            .collect()
    }

    /// A published version.
    pub fn datanet_version(
        &self,
        datanet: DatanetId,
        version: u32,
    ) -> Result<Option<DatanetVersion>, CorruptState> {
        self.get(&key(PREFIX_VERSION, datanet, &[&version.to_be_bytes()]))
    }

    /// Bytes `who` contributed to a datanet on `day`. Only the latest day is kept, so the
    /// record stays one per contributor.
    pub fn bytes_contributed(
        &self,
        datanet: DatanetId,
        who: &Address,
        day: u64,
    ) -> Result<u64, CorruptState> {
        // Stored as day << 64 | bytes.
        let last: Option<u128> = self.get(&key(PREFIX_DAILY_BYTES, datanet, &[who.as_bytes()]))?;
        Ok(last.filter(|v| (v >> 64) as u64 == day).map_or(0, |v| v as u64))
    }

    /// Contribution stakes the chain holds (part of the supply).
    pub fn datanet_stake_locked(&self) -> Result<Amount, CorruptState> {
        self.get(&global_key(GLOBAL_STAKE_LOCKED)).map(Option::unwrap_or_default)
    }

    pub(crate) fn next_datanet_id(&self) -> Result<DatanetId, CorruptState> {
        self.datanet_count().map(DatanetId)
    }

    pub(crate) fn put_next_datanet_id(&mut self, next: DatanetId) {
        self.put(global_key(GLOBAL_NEXT), &next);
    }

    pub(crate) fn put_datanet(&mut self, id: DatanetId, d: &Datanet) {
        self.put(key(PREFIX_DATANET, id, &[]), d);
    }

    pub(crate) fn put_contribution(
        &mut self,
        datanet: DatanetId,
        id: ContributionId,
        c: &Contribution,
    ) {
        self.put(key(PREFIX_CONTRIBUTION, datanet, &[&id.0.to_be_bytes()]), c);
    }

    pub(crate) fn put_contribution_by_content(
        &mut self,
        datanet: DatanetId,
        hash: &Hash,
        id: ContributionId,
    ) {
        self.put(key(PREFIX_CONTENT, datanet, &[&hash.0]), &id);
    }

    pub(crate) fn delete_contribution_by_content(&mut self, datanet: DatanetId, hash: &Hash) {
        self.auth_mut().delete(&key(PREFIX_CONTENT, datanet, &[&hash.0]));
    }

    pub(crate) fn put_datanet_version(
        &mut self,
        datanet: DatanetId,
        version: u32,
        v: &DatanetVersion,
    ) {
        self.put(key(PREFIX_VERSION, datanet, &[&version.to_be_bytes()]), v);
    }

    pub(crate) fn put_bytes_contributed(
        &mut self,
        datanet: DatanetId,
        who: &Address,
        day: u64,
        bytes: u64,
    ) {
        let packed = (u128::from(day) << 64) | u128::from(bytes);
        self.put(key(PREFIX_DAILY_BYTES, datanet, &[who.as_bytes()]), &packed);
    }

    /// The live (pending or approved) contribution whose normalized text hashes to
    /// `text_hash`, if any. The index is not cleaned when a contribution leaves (it does not
    /// keep its text hash), so the entry is checked against the contribution's status.
    pub fn contribution_by_text(
        &self,
        datanet: DatanetId,
        text_hash: &Hash,
    ) -> Result<Option<ContributionId>, CorruptState> {
        let Some(id) = self.get::<ContributionId>(&key(PREFIX_TEXT, datanet, &[&text_hash.0]))?
        else {
            return Ok(None);
        };
        let live = self.contribution(datanet, id)?.is_some_and(|c| {
            matches!(c.status, ContributionStatus::Pending | ContributionStatus::Approved)
        });
        Ok(live.then_some(id))
    }

    pub(crate) fn put_contribution_by_text(
        &mut self,
        datanet: DatanetId,
        text_hash: &Hash,
        id: ContributionId,
    ) {
        self.put(key(PREFIX_TEXT, datanet, &[&text_hash.0]), &id);
    }

    pub(crate) fn put_datanet_stake_locked(&mut self, amount: Amount) {
        self.put(global_key(GLOBAL_STAKE_LOCKED), &amount);
    }
}
