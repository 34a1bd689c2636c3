//! The manifest: the list of live segments, replaced atomically on every change.

use crate::{IndexError, Sampling};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Manifest format version this crate reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Largest manifest read, in bytes.
const MANIFEST_BYTES_MAX: u64 = 16 << 20;

/// Largest number of segments an index may list.
pub(crate) const SEGMENTS_MAX: usize = 4096;

/// Largest next segment id a manifest may name: ids are counted up from it with room to spare.
pub(crate) const NEXT_SEGMENT_MAX: u64 = 1 << 48;

/// The manifest file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) sampling: Sampling,
    pub(crate) next_segment: u64,
    pub(crate) segments: Vec<SegmentMeta>,
}

/// What the manifest records about one segment; files are checked against it on open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SegmentMeta {
    pub(crate) id: u64,
    pub(crate) text_bytes: u64,
    pub(crate) anchors: u64,
    pub(crate) pointer_bytes: u8,
    pub(crate) documents: u64,
    /// BLAKE3 of the text, suffix array and document files (hex), checked by `verify`.
    pub(crate) text_hash: String,
    pub(crate) sa_hash: String,
    pub(crate) docs_hash: String,
    /// A merge that included this segment stopped at its budget and could not sort the
    /// group again (past one construction): the merge policy leaves it alone from then on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) merge_refused: bool,
}

impl Manifest {
    pub(crate) fn read(path: &Path) -> Result<Self, IndexError> {
        let meta = std::fs::metadata(path).map_err(|e| IndexError::io(path, e))?;
        if meta.len() > MANIFEST_BYTES_MAX {
            return Err(IndexError::corrupt(path, "manifest larger than 16 MiB"));
        }
        let bytes = std::fs::read(path).map_err(|e| IndexError::io(path, e))?;
        let m: Self = serde_json::from_slice(&bytes)
            .map_err(|e| IndexError::corrupt(path, format!("manifest is not valid JSON: {e}")))?;
        if m.format != FORMAT_VERSION {
            return Err(IndexError::corrupt(
                path,
                format!("manifest format {} (this build reads {FORMAT_VERSION})", m.format),
            ));
        }
        if m.next_segment > NEXT_SEGMENT_MAX {
            return Err(IndexError::corrupt(path, "next segment id out of range"));
        }
        if m.segments.len() > SEGMENTS_MAX {
            return Err(IndexError::corrupt(path, "too many segments"));
        }
        for (i, s) in m.segments.iter().enumerate() {
            if s.id >= m.next_segment || m.segments[..i].iter().any(|o| o.id == s.id) {
                return Err(IndexError::corrupt(path, format!("bad segment id {}", s.id)));
            }
            if !(1..=8).contains(&s.pointer_bytes) {
                return Err(IndexError::corrupt(path, "pointer width outside 1..=8 bytes"));
            }
        }
        Ok(m)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        // A manifest of plain data always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
