//! Data availability: the active validators' reports that a contribution's bytes are held, and
//! what those bytes are.
//!
//! The chain never sees a contribution's bytes, only their BLAKE3 hash and a declared size.
//! So a contribution starts `awaiting_data`; each active validator fetches the blob (from its
//! own store or a peer's), checks it against the hash, measures it, reads it as the declared
//! media type, hashes its normalized text and measures how much of it the datanet already held
//! when it was offered, then reports a verdict in an `Attest` transaction. When validators
//! holding a quorum of the active set (`n − ⌊(n − 1)/3⌋`, as consensus counts) report the same
//! verdict, the chain applies it:
//!
//! ```text
//! DataReport  = datanet (u64) | contribution (u64) | verdict
//! DataVerdict = 0 Held { text_hash (32), coverage_bps (u16), covered_by (u8 0|1, u64), against_version (u32) }
//!             | 1 WrongSize { actual (u64) }
//!             | 2 Unreadable
//!
//! Held, same normalized text as a live contribution   → refused: duplicate (evidence: which)
//! Held, coverage ≥ the datanet's duplicate threshold  → refused: near_duplicate (evidence:
//!                                                        coverage, the main source, the version)
//! Held otherwise                                      → approved (open datanet) or pending review
//! WrongSize / Unreadable                              → refused, stake to the owner
//! no quorum by DATA_DEADLINE_BLOCKS after submission  → unavailable, stake back
//! ```
//!
//! Every verdict is recomputable by anyone holding the blob and the version it names, which is
//! what makes a refusal evidence rather than someone's word.

use crate::{
    Hash,
    datanet::{ContributionId, DatanetId},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// Most reports in one `Attest` transaction.
pub const REPORTS_PER_TX_MAX: usize = 64;
/// Blocks after its submission within which a contribution's data must be confirmed held
/// (ten minutes at one block a second); after that it is dropped as `unavailable`.
pub const DATA_DEADLINE_BLOCKS: u64 = 600;
/// A new datanet's near-duplicate threshold unless it sets one: 80% of the text already held.
pub const DUPLICATE_THRESHOLD_BPS_DEFAULT: u16 = 8_000;

/// What a validator found a contribution's bytes to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum DataVerdict {
    /// The bytes hash to the content hash, have the declared size and read as the declared
    /// media type.
    Held {
        /// BLAKE3 of the normalized text (see `alx-blobs`' ingestion rules).
        #[serde(with = "crate::hash::serde_hex")]
        text_hash: Hash,
        /// Share of the text, in basis points, inside spans the datanet already held.
        coverage_bps: u16,
        /// The contribution covering the most of it, if any.
        covered_by: Option<ContributionId>,
        /// The version measured against: the datanet's latest when the contribution was made.
        against_version: u32,
    },
    /// The bytes hash right, but are not the declared size.
    WrongSize {
        /// Their real size.
        actual: u64,
    },
    /// The bytes are not text of the declared media type.
    Unreadable,
}

/// One validator's verdict on one contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataReport {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// What its bytes are.
    #[serde(flatten)]
    pub verdict: DataVerdict,
}

/// Why the chain refused a contribution by itself, with the evidence anyone can recheck.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// Its size is not the declared one.
    WrongSize {
        /// What the contributor declared.
        declared: u64,
        /// What the bytes measure.
        actual: u64,
    },
    /// It is not text of its declared media type.
    Unreadable,
    /// Its normalized text is that of a live contribution (whitespace and line endings aside).
    Duplicate {
        /// The earlier contribution.
        of: ContributionId,
    },
    /// The datanet already held most of it.
    NearDuplicate {
        /// Share of its text inside spans the datanet held, in basis points.
        coverage_bps: u16,
        /// The contribution covering the most of it.
        covered_by: Option<ContributionId>,
        /// The version it was measured against.
        against_version: u32,
    },
}

impl Write for DataVerdict {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Held { text_hash, coverage_bps, covered_by, against_version } => {
                buf.put_u8(0);
                text_hash.write(buf);
                coverage_bps.write(buf);
                write_option(*covered_by, buf);
                against_version.write(buf);
            }
            Self::WrongSize { actual } => {
                buf.put_u8(1);
                actual.write(buf);
            }
            Self::Unreadable => buf.put_u8(2),
        }
    }
}

impl EncodeSize for DataVerdict {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Held { covered_by, .. } => {
                Hash::SIZE
                    + u16::SIZE
                    + 1
                    + covered_by.map_or(0, |_| ContributionId::SIZE)
                    + u32::SIZE
            }
            Self::WrongSize { .. } => u64::SIZE,
            Self::Unreadable => 0,
        }
    }
}

impl Read for DataVerdict {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Held {
                text_hash: Hash::read(buf)?,
                coverage_bps: read_bps(buf)?,
                covered_by: read_option(buf)?,
                against_version: u32::read(buf)?,
            },
            1 => Self::WrongSize { actual: u64::read(buf)? },
            2 => Self::Unreadable,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

impl Write for DataReport {
    fn write(&self, buf: &mut impl BufMut) {
        self.datanet.write(buf);
        self.contribution.write(buf);
        self.verdict.write(buf);
    }
}

impl EncodeSize for DataReport {
    fn encode_size(&self) -> usize {
        DatanetId::SIZE + ContributionId::SIZE + self.verdict.encode_size()
    }
}

impl Read for DataReport {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            datanet: DatanetId::read(buf)?,
            contribution: ContributionId::read(buf)?,
            verdict: DataVerdict::read(buf)?,
        })
    }
}

impl Write for Refusal {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::WrongSize { declared, actual } => {
                buf.put_u8(0);
                declared.write(buf);
                actual.write(buf);
            }
            Self::Unreadable => buf.put_u8(1),
            Self::Duplicate { of } => {
                buf.put_u8(2);
                of.write(buf);
            }
            Self::NearDuplicate { coverage_bps, covered_by, against_version } => {
                buf.put_u8(3);
                coverage_bps.write(buf);
                write_option(*covered_by, buf);
                against_version.write(buf);
            }
        }
    }
}

impl EncodeSize for Refusal {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::WrongSize { .. } => 2 * u64::SIZE,
            Self::Unreadable => 0,
            Self::Duplicate { .. } => ContributionId::SIZE,
            Self::NearDuplicate { covered_by, .. } => {
                u16::SIZE + 1 + covered_by.map_or(0, |_| ContributionId::SIZE) + u32::SIZE
            }
        }
    }
}

impl Read for Refusal {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::WrongSize { declared: u64::read(buf)?, actual: u64::read(buf)? },
            1 => Self::Unreadable,
            2 => Self::Duplicate { of: ContributionId::read(buf)? },
            3 => Self::NearDuplicate {
                coverage_bps: read_bps(buf)?,
                covered_by: read_option(buf)?,
                against_version: u32::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

fn write_option(value: Option<ContributionId>, buf: &mut impl BufMut) {
    match value {
        None => buf.put_u8(0),
        Some(v) => {
            buf.put_u8(1);
            v.write(buf);
        }
    }
}

fn read_option(buf: &mut impl Buf) -> Result<Option<ContributionId>, CodecError> {
    match u8::read(buf)? {
        0 => Ok(None),
        1 => Ok(Some(ContributionId::read(buf)?)),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

/// Basis points: at most 10,000.
pub(crate) fn read_bps(buf: &mut impl Buf) -> Result<u16, CodecError> {
    let bps = u16::read(buf)?;
    if bps > 10_000 { Err(CodecError::Invalid("bps", "over 10000")) } else { Ok(bps) }
}

/// The quorum of an active set of `n` validators: `n − ⌊(n − 1)/3⌋`, the count consensus
/// needs to finalize (1 of 1, 3 of 4, 5 of 7).
#[must_use]
pub const fn quorum(n: usize) -> usize {
    if n == 0 { 0 } else { n - (n - 1) / 3 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};

    #[test]
    fn reports_and_refusals_round_trip_and_truncations_fail() {
        let verdicts = [
            DataVerdict::Held {
                text_hash: crate::hash::sha256(&[b"t"]),
                coverage_bps: 10_000,
                covered_by: Some(ContributionId(u64::MAX)),
                against_version: 3,
            },
            DataVerdict::Held {
                text_hash: crate::hash::ZERO,
                coverage_bps: 0,
                covered_by: None,
                against_version: 0,
            },
            DataVerdict::WrongSize { actual: 22 },
            DataVerdict::Unreadable,
        ];
        for verdict in verdicts {
            let report =
                DataReport { datanet: DatanetId(1), contribution: ContributionId(2), verdict };
            let bytes = report.encode();
            assert_eq!(bytes.len(), report.encode_size());
            assert_eq!(DataReport::decode(bytes.clone()).unwrap(), report);
            for cut in 0..bytes.len() {
                assert!(DataReport::decode(commonware_codec::Copying(&bytes[..cut])).is_err());
            }
        }
        let refusals = [
            Refusal::WrongSize { declared: 10, actual: 180_000 },
            Refusal::Unreadable,
            Refusal::Duplicate { of: ContributionId(4) },
            Refusal::NearDuplicate {
                coverage_bps: 9_500,
                covered_by: Some(ContributionId(1)),
                against_version: 2,
            },
            Refusal::NearDuplicate { coverage_bps: 9_500, covered_by: None, against_version: 2 },
        ];
        for refusal in refusals {
            let bytes = refusal.encode();
            assert_eq!(bytes.len(), refusal.encode_size());
            assert_eq!(Refusal::decode(bytes).unwrap(), refusal);
        }
        let over = DataVerdict::Held {
            text_hash: crate::hash::ZERO,
            coverage_bps: 10_001,
            covered_by: None,
            against_version: 0,
        };
        assert!(DataVerdict::decode(over.encode()).is_err());
    }

    #[test]
    fn quorum_is_what_consensus_needs() {
        let expect = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5), (10, 7), (100, 67)];
        for (n, q) in expect {
            assert_eq!(quorum(n), q, "n = {n}");
        }
    }
}
