//! Datanet transactions: a community's pool of domain data, recorded on the ledger.
//!
//! ```text
//! DatanetOp = 0 Create { spec }                       the sender owns the new datanet
//!           | 1 Contribute { datanet, content }       a blob (by BLAKE3 hash) offered to it
//!           | 2 Review { datanet, contribution, approve }   owner or curator decides
//!           | 3 Withdraw { datanet, contribution }    the contributor takes a pending one back
//!           | 4 PublishVersion { datanet }            owner: a new version over all approved
//!           | 5 FlagNearDuplicate { datanet, contribution, copies }  owner or curator: its
//!                                                   share goes to the protection fund
//!           | 6 Attest { reports }                    active validators: the data is held, and
//!                                                     what it is (see `availability`)
//!           | 7 Remove { datanet, contribution }      owner: drop one still awaiting its data
//!           | 8 DisputeFlag { datanet, contribution } anyone: the validators decide whether
//!                                                     the flag holds (`crate::dispute`)
//! ```
//!
//! A contribution waits for its data (`awaiting_data`) until a quorum of the active validators
//! reports holding its blob; only then is it approved (open datanets) or put up for review.
//! The same reports refuse, with evidence, a contribution whose size was misdeclared, whose
//! bytes are not text, whose normalized text repeats a live contribution, or which the
//! datanet already holds above its `duplicate_threshold_bps`. One whose data never arrives is
//! dropped as `unavailable` after `availability::DATA_DEADLINE_BLOCKS`, so no version ever
//! waits for bytes nobody has.
//!
//! Curators may still flag a near-duplicate by hand (`FlagNearDuplicate`), naming the earlier
//! approved contribution it copies as evidence anyone can recompute (coverage against the
//! index): it stays in the datanet (and its versions), and its data share goes to the
//! protection fund, never to the flagger.
//!
//! Decoding checks structure only (lengths, UTF-8); what a field may contain (a name's
//! characters, a license id) is checked by execution, which fails the transaction with a
//! receipt instead.

use crate::{
    Address, Amount, Hash,
    availability::{DUPLICATE_THRESHOLD_BPS_DEFAULT, DataReport, REPORTS_PER_TX_MAX},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

crate::id::u64_newtype! {
    /// A datanet's id: datanets are numbered from 0 in creation order.
    DatanetId
}

crate::id::u64_newtype! {
    /// A contribution's id within its datanet, numbered from 0 in submission order.
    ContributionId
}

/// Longest datanet name, in bytes.
pub const NAME_LEN_MAX: usize = 64;
/// Longest description, in bytes.
pub const DESCRIPTION_LEN_MAX: usize = 400;
/// Most tags.
pub const TAGS_MAX: usize = 8;
/// Longest tag, in bytes.
pub const TAG_LEN_MAX: usize = 32;
/// Longest SPDX license expression, in bytes.
pub const LICENSE_LEN_MAX: usize = 64;
/// Most curators besides the owner.
pub const CURATORS_MAX: usize = 8;
/// Largest contribution, in bytes (the blob store's limit too).
pub const CONTRIBUTION_SIZE_MAX: u64 = 64 << 20;
/// Blocks in a "day" for daily byte caps (one block per second at the default pace).
pub const BLOCKS_PER_DAY: u64 = 86_400;

/// Who may add data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Contributions are approved on arrival.
    Open,
    /// Contributions wait for the owner or a curator.
    Approval,
}

/// The kind of content a contribution holds; ingestion reads it accordingly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// `text/plain`.
    Text,
    /// `text/markdown`.
    Markdown,
    /// JSON lines, one document per line's `text` field.
    Jsonl,
    /// Source code.
    Code,
}

impl MediaType {
    const ALL: [Self; 4] = [Self::Text, Self::Markdown, Self::Jsonl, Self::Code];

    pub(crate) const fn tag(self) -> u8 {
        self as u8
    }
}

/// What a new datanet is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatanetSpec {
    /// Short name: `[a-z0-9-]`, 1 to 64 bytes.
    pub name: String,
    /// What data belongs here.
    pub description: String,
    /// Topic tags, each `[a-z0-9-]`.
    pub tags: Vec<String>,
    /// SPDX license expression of the data, e.g. `Apache-2.0` or `CC-BY-4.0`.
    pub license: String,
    /// Open, or by approval.
    pub policy: Policy,
    /// Paid to the owner with every contribution (anti-spam; may be zero).
    pub contribution_fee: Amount,
    /// Locked with every contribution; returned on approval or withdrawal, forfeited to the
    /// owner on rejection (may be zero).
    pub contribution_stake: Amount,
    /// Most bytes one account may contribute per day (`BLOCKS_PER_DAY` blocks); 0: no cap.
    pub daily_byte_cap: u64,
    /// Accounts that may approve and reject besides the owner.
    pub curators: Vec<Address>,
    /// A contribution whose text the datanet already holds at this share or more (basis
    /// points, measured by the validators) is refused as a near-duplicate; 0 turns it off.
    #[serde(default = "default_threshold")]
    pub duplicate_threshold_bps: u16,
}

const fn default_threshold() -> u16 {
    DUPLICATE_THRESHOLD_BPS_DEFAULT
}

/// A contribution's content, as stored in the blob store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    /// BLAKE3 hash of the bytes (the blob's key; 32 bytes like every hash here).
    #[serde(with = "crate::hash::serde_hex")]
    pub hash: Hash,
    /// Size in bytes.
    pub size: u64,
    /// How to read it.
    pub media_type: MediaType,
}

/// The Merkle leaf of an approved contribution in a version's root: its id, content hash, size
/// and contributor (what anyone holding the contributions recomputes a version's root from).
#[must_use]
pub fn contribution_leaf(id: ContributionId, content: &ContentRef, contributor: &Address) -> Hash {
    crate::hash::sha256(&[
        &id.0.to_be_bytes(),
        &content.hash.0,
        &content.size.to_be_bytes(),
        contributor.as_bytes(),
    ])
}

/// A datanet operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatanetOp {
    /// Create a datanet owned by the sender.
    Create(Box<DatanetSpec>),
    /// Offer content to a datanet.
    Contribute {
        /// The datanet.
        datanet: DatanetId,
        /// The content.
        content: ContentRef,
    },
    /// Approve or reject a pending contribution (owner or curator).
    Review {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
        /// Approve (true) or reject.
        approve: bool,
    },
    /// Take back one's own pending contribution (its stake is returned).
    Withdraw {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
    },
    /// Publish a new version: a Merkle root over every approved contribution (owner).
    PublishVersion {
        /// The datanet.
        datanet: DatanetId,
    },
    /// Mark a pending or approved contribution as a near-duplicate of an earlier approved one
    /// (owner or curator). Its data share then goes to the protection fund, never to the
    /// flagger; anyone can recompute the overlap with the original it names
    /// (`GET /api/datanets/{id}/contributions/{c}/coverage`).
    FlagNearDuplicate {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
        /// The earlier approved contribution it copies (the evidence).
        copies: ContributionId,
    },
    /// An active validator's verdicts on contributions awaiting their data.
    Attest {
        /// At most `availability::REPORTS_PER_TX_MAX`.
        reports: Vec<DataReport>,
    },
    /// Drop a contribution still awaiting its data (owner); its stake goes back.
    Remove {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
    },
    /// Dispute a near-duplicate flag (anyone; escrows the challenge bond): the validators
    /// measure how much of the contribution the original it names covers, and a flag that
    /// does not hold is lifted.
    DisputeFlag {
        /// The datanet.
        datanet: DatanetId,
        /// The flagged contribution.
        contribution: ContributionId,
    },
}

impl DatanetOp {
    /// A stable lowercase name, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Create(_) => "datanet_create",
            Self::Contribute { .. } => "datanet_contribute",
            Self::Review { .. } => "datanet_review",
            Self::Withdraw { .. } => "datanet_withdraw",
            Self::PublishVersion { .. } => "datanet_publish_version",
            Self::FlagNearDuplicate { .. } => "datanet_flag_near_duplicate",
            Self::Attest { .. } => "datanet_attest",
            Self::Remove { .. } => "datanet_remove",
            Self::DisputeFlag { .. } => "datanet_dispute_flag",
        }
    }
}

/// Strings are a u16 length and the bytes. A string over the limit (only a buggy caller
/// builds one: decoding refuses them) is written cut at the limit of the encoding.
pub(crate) fn str_bytes(s: &str) -> &[u8] {
    &s.as_bytes()[..s.len().min(usize::from(u16::MAX))]
}

pub(crate) fn write_str(s: &str, buf: &mut impl BufMut) {
    let bytes = str_bytes(s);
    // str_bytes caps the length at u16::MAX.
    buf.put_u16(bytes.len() as u16);
    buf.put_slice(bytes);
}

pub(crate) fn read_str(buf: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let len = usize::from(u16::read(buf)?);
    if len > max {
        return Err(CodecError::InvalidLength(len));
    }
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    let mut raw = vec![0u8; len];
    buf.copy_to_slice(&mut raw);
    String::from_utf8(raw).map_err(|_| CodecError::Invalid("datanet", "utf8"))
}

pub(crate) fn read_count(buf: &mut impl Buf, max: usize) -> Result<usize, CodecError> {
    let n = usize::from(u8::read(buf)?);
    if n > max { Err(CodecError::InvalidLength(n)) } else { Ok(n) }
}

impl Write for DatanetSpec {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.name, buf);
        write_str(&self.description, buf);
        buf.put_u8(self.tags.len().min(255) as u8);
        for t in self.tags.iter().take(255) {
            write_str(t, buf);
        }
        write_str(&self.license, buf);
        buf.put_u8(match self.policy {
            Policy::Open => 0,
            Policy::Approval => 1,
        });
        self.contribution_fee.write(buf);
        self.contribution_stake.write(buf);
        self.daily_byte_cap.write(buf);
        buf.put_u8(self.curators.len().min(255) as u8);
        for c in self.curators.iter().take(255) {
            c.write(buf);
        }
        self.duplicate_threshold_bps.write(buf);
    }
}

impl EncodeSize for DatanetSpec {
    fn encode_size(&self) -> usize {
        let s = |x: &str| 2 + str_bytes(x).len();
        s(&self.name)
            + s(&self.description)
            + 1
            + self.tags.iter().take(255).map(|t| s(t)).sum::<usize>()
            + s(&self.license)
            + 1
            + 2 * Amount::SIZE
            + u64::SIZE
            + 1
            + self.curators.len().min(255) * Address::SIZE
            + u16::SIZE
    }
}

impl Read for DatanetSpec {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let name = read_str(buf, NAME_LEN_MAX)?;
        let description = read_str(buf, DESCRIPTION_LEN_MAX)?;
        let tags = (0..read_count(buf, TAGS_MAX)?)
            .map(|_| read_str(buf, TAG_LEN_MAX))
            .collect::<Result<_, _>>()?;
        let license = read_str(buf, LICENSE_LEN_MAX)?;
        let policy = match u8::read(buf)? {
            0 => Policy::Open,
            1 => Policy::Approval,
            other => return Err(CodecError::InvalidEnum(other)),
        };
        let contribution_fee = Amount::read(buf)?;
        let contribution_stake = Amount::read(buf)?;
        let daily_byte_cap = u64::read(buf)?;
        let curators = (0..read_count(buf, CURATORS_MAX)?)
            .map(|_| Address::read(buf))
            .collect::<Result<_, _>>()?;
        let duplicate_threshold_bps = crate::availability::read_bps(buf)?;
        Ok(Self {
            name,
            description,
            tags,
            license,
            policy,
            contribution_fee,
            contribution_stake,
            daily_byte_cap,
            curators,
            duplicate_threshold_bps,
        })
    }
}

impl Write for ContentRef {
    fn write(&self, buf: &mut impl BufMut) {
        self.hash.write(buf);
        self.size.write(buf);
        buf.put_u8(self.media_type.tag());
    }
}

impl commonware_codec::FixedSize for ContentRef {
    const SIZE: usize = Hash::SIZE + u64::SIZE + 1;
}

impl Read for ContentRef {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let hash = Hash::read(buf)?;
        let size = u64::read(buf)?;
        let tag = u8::read(buf)?;
        let media_type =
            *MediaType::ALL.get(usize::from(tag)).ok_or(CodecError::InvalidEnum(tag))?;
        Ok(Self { hash, size, media_type })
    }
}

impl Write for DatanetOp {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Create(spec) => {
                buf.put_u8(0);
                spec.write(buf);
            }
            Self::Contribute { datanet, content } => {
                buf.put_u8(1);
                datanet.write(buf);
                content.write(buf);
            }
            Self::Review { datanet, contribution, approve } => {
                buf.put_u8(2);
                datanet.write(buf);
                contribution.write(buf);
                buf.put_u8(u8::from(*approve));
            }
            Self::Withdraw { datanet, contribution } => {
                buf.put_u8(3);
                datanet.write(buf);
                contribution.write(buf);
            }
            Self::PublishVersion { datanet } => {
                buf.put_u8(4);
                datanet.write(buf);
            }
            Self::FlagNearDuplicate { datanet, contribution, copies } => {
                buf.put_u8(5);
                datanet.write(buf);
                contribution.write(buf);
                copies.write(buf);
            }
            Self::Attest { reports } => {
                buf.put_u8(6);
                buf.put_u8(reports.len().min(255) as u8);
                for r in reports.iter().take(255) {
                    r.write(buf);
                }
            }
            Self::Remove { datanet, contribution } => {
                buf.put_u8(7);
                datanet.write(buf);
                contribution.write(buf);
            }
            Self::DisputeFlag { datanet, contribution } => {
                buf.put_u8(8);
                datanet.write(buf);
                contribution.write(buf);
            }
        }
    }
}

impl EncodeSize for DatanetOp {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Create(spec) => spec.encode_size(),
            Self::Contribute { .. } => u64::SIZE + ContentRef::SIZE,
            Self::Review { .. } => 2 * u64::SIZE + 1,
            Self::Withdraw { .. } | Self::Remove { .. } | Self::DisputeFlag { .. } => 2 * u64::SIZE,
            Self::FlagNearDuplicate { .. } => 3 * u64::SIZE,
            Self::PublishVersion { .. } => u64::SIZE,
            Self::Attest { reports } => {
                1 + reports.iter().take(255).map(EncodeSize::encode_size).sum::<usize>()
            }
        }
    }
}

impl Read for DatanetOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Create(Box::new(DatanetSpec::read(buf)?)),
            1 => {
                Self::Contribute { datanet: DatanetId::read(buf)?, content: ContentRef::read(buf)? }
            }
            2 => Self::Review {
                datanet: DatanetId::read(buf)?,
                contribution: ContributionId::read(buf)?,
                approve: match u8::read(buf)? {
                    0 => false,
                    1 => true,
                    other => return Err(CodecError::InvalidEnum(other)),
                },
            },
            3 => Self::Withdraw {
                datanet: DatanetId::read(buf)?,
                contribution: ContributionId::read(buf)?,
            },
            4 => Self::PublishVersion { datanet: DatanetId::read(buf)? },
            5 => Self::FlagNearDuplicate {
                datanet: DatanetId::read(buf)?,
                contribution: ContributionId::read(buf)?,
                copies: ContributionId::read(buf)?,
            },
            6 => Self::Attest {
                reports: (0..read_count(buf, REPORTS_PER_TX_MAX)?)
                    .map(|_| DataReport::read(buf))
                    .collect::<Result<_, _>>()?,
            },
            7 => Self::Remove {
                datanet: DatanetId::read(buf)?,
                contribution: ContributionId::read(buf)?,
            },
            8 => Self::DisputeFlag {
                datanet: DatanetId::read(buf)?,
                contribution: ContributionId::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

#[cfg(test)]
mod tests;
