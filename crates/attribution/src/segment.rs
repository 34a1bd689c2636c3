//! One segment: the text of its documents, a compact suffix array over the text's anchors, and
//! its document table. Building is pure computation; [`SegmentView`] searches borrowed bytes,
//! whether they live in memory or in memory-mapped files.
//!
//! Text layout: each document's UTF-8 bytes followed by [`SEPARATOR`] (0xFF, a byte that
//! never occurs in UTF-8). Patterns are UTF-8, so a match always stops at a document's end.
//!
//! Suffix array: the anchors (see [`crate::anchor`]) in lexicographic order of their suffixes,
//! each stored as a little-endian integer of [`pointer_width`] bytes (3 bytes up to 16 MiB of
//! text, 4 bytes up to 4 GiB, 5 bytes up to 1 TiB).

use crate::{CONTRIBUTOR_BYTES_MAX, DocKey, DocTable, Document, IndexError, SEPARATOR, Sampling};
use std::{cmp::Ordering, ops::Range};

/// Largest text one suffix-array construction takes, in bytes (it works on 32-bit positions).
/// Larger segments are merges of smaller ones.
pub const SEGMENT_BYTES_MAX: usize = i32::MAX as usize - 1;

/// Largest segment text in bytes, merged or built: 1 TiB, five bytes per pointer.
pub const MERGED_SEGMENT_BYTES_MAX: u64 = 1 << 40;

/// Bytes per suffix-array pointer for a text of `text_len` bytes: the fewest whole bytes that
/// hold every position.
#[must_use]
pub const fn pointer_width(text_len: usize) -> usize {
    let max = if text_len == 0 { 0 } else { text_len - 1 };
    let bits = usize::BITS - max.leading_zeros();
    let bytes = bits.div_ceil(8) as usize;
    if bytes == 0 { 1 } else { bytes }
}

/// A segment built in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentData {
    /// Document bytes, each followed by the separator.
    pub text: Vec<u8>,
    /// The packed suffix array.
    pub sa: Vec<u8>,
    /// Bytes per pointer in `sa`.
    pub width: usize,
    /// The documents.
    pub docs: DocTable,
}

impl SegmentData {
    /// Builds the suffix array of `text` (documents already laid out with their separators and
    /// described by `docs`).
    pub fn build(text: Vec<u8>, docs: DocTable, sampling: Sampling) -> Result<Self, IndexError> {
        if text.len() > SEGMENT_BYTES_MAX {
            return Err(IndexError::TooLarge {
                what: "segment text",
                actual: text.len() as u64,
                limit: SEGMENT_BYTES_MAX as u64,
            });
        }
        let width = pointer_width(text.len());
        let full: Vec<i32> = if text.is_empty() {
            Vec::new()
        } else {
            libsais::SuffixArrayConstruction::for_text(text.as_slice())
                .in_owned_buffer32()
                .single_threaded()
                .run()
                .map_err(|e| IndexError::Construction(format!("{e:?}")))?
                .into_vec()
        };
        let sa = match sampling {
            Sampling::EveryByte => {
                // Separator suffixes start with 0xFF, the largest byte: they sort last.
                let keep = text.len().saturating_sub(docs.len());
                pack(&full[..keep.min(full.len())], width, |_| true)
            }
            Sampling::WordStarts => {
                let bitmap = anchor_bitmap(&text, sampling);
                pack(&full, width, |p| bitmap[p / 64] >> (p % 64) & 1 == 1)
            }
        };
        Ok(Self { text, sa, width, docs })
    }

    /// Lays out `docs` (in order) and builds their segment. Rejects duplicate document keys
    /// and over-long contributor names.
    pub fn from_documents(docs: &[Document], sampling: Sampling) -> Result<Self, IndexError> {
        let total: usize = docs.iter().map(|d| d.text.len() + 1).sum();
        if total > SEGMENT_BYTES_MAX {
            return Err(IndexError::TooLarge {
                what: "batch of documents",
                actual: total as u64,
                limit: SEGMENT_BYTES_MAX as u64,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut text = Vec::with_capacity(total);
        let mut table = DocTable::default();
        for d in docs {
            if !seen.insert(d.key) {
                return Err(IndexError::DuplicateContribution(d.key.contribution.0));
            }
            if let Some(name) = d.contributor.as_ref().filter(|n| n.len() > CONTRIBUTOR_BYTES_MAX) {
                return Err(IndexError::TooLarge {
                    what: "contributor name",
                    actual: name.len() as u64,
                    limit: CONTRIBUTOR_BYTES_MAX as u64,
                });
            }
            table.push(text.len() as u64, d.key, d.contributor.as_deref());
            text.extend_from_slice(d.text.as_bytes());
            text.push(SEPARATOR);
        }
        Self::build(text, table, sampling)
    }

    /// Concatenates segments (in order) and merges their suffix arrays (see [`crate::merge`]):
    /// no suffix is sorted again, so the result may pass [`SEGMENT_BYTES_MAX`]. Segments
    /// that repeat too much of each other's text are sorted again instead (see
    /// [`crate::merge::scan_budget`]), which needs them to fit one construction.
    pub fn merge(parts: &[SegmentView<'_>], sampling: Sampling) -> Result<Self, IndexError> {
        let total: u64 = parts.iter().map(|p| p.text.len() as u64).sum();
        Self::merge_with_budget(parts, sampling, crate::merge::scan_budget(total))
    }

    /// Concatenates segments (in order) and sorts the concatenation's suffixes again: linear
    /// whatever the text repeats, within one construction's [`SEGMENT_BYTES_MAX`].
    pub fn rebuild(parts: &[SegmentView<'_>], sampling: Sampling) -> Result<Self, IndexError> {
        let total: u64 = parts.iter().map(|p| p.text.len() as u64).sum();
        if total > SEGMENT_BYTES_MAX as u64 {
            return Err(IndexError::TooLarge {
                what: "segment text",
                actual: total,
                limit: SEGMENT_BYTES_MAX as u64,
            });
        }
        Self::build(concat_text(parts), merged_docs(parts), sampling)
    }

    pub(crate) fn merge_with_budget(
        parts: &[SegmentView<'_>],
        sampling: Sampling,
        budget: u64,
    ) -> Result<Self, IndexError> {
        let total: u64 = parts.iter().map(|p| p.text.len() as u64).sum();
        if total > MERGED_SEGMENT_BYTES_MAX {
            return Err(IndexError::TooLarge {
                what: "merged segment",
                actual: total,
                limit: MERGED_SEGMENT_BYTES_MAX,
            });
        }
        let width = pointer_width(total as usize);
        let mut sa = Vec::with_capacity(parts.iter().map(|p| p.anchors()).sum::<usize>() * width);
        match crate::merge::write_merged(parts, width, budget, &mut sa) {
            Ok(_) => Ok(Self { text: concat_text(parts), sa, width, docs: merged_docs(parts) }),
            Err(crate::merge::MergeError::TooRepetitive { .. }) => Self::rebuild(parts, sampling),
            Err(e) => Err(IndexError::Construction(e.to_string())),
        }
    }

    /// A search view over this segment.
    #[must_use]
    pub fn view(&self) -> SegmentView<'_> {
        SegmentView { text: &self.text, sa: &self.sa, width: self.width, docs: &self.docs }
    }
}

/// The texts of `parts`, concatenated in order.
fn concat_text(parts: &[SegmentView<'_>]) -> Vec<u8> {
    let mut text = Vec::with_capacity(parts.iter().map(|p| p.text.len()).sum());
    for p in parts {
        text.extend_from_slice(p.text);
    }
    text
}

/// The document table of the concatenation of `parts` (in order).
pub(crate) fn merged_docs(parts: &[SegmentView<'_>]) -> DocTable {
    let mut table = DocTable::default();
    let mut base = 0u64;
    for p in parts {
        for i in 0..p.docs.len() {
            table.push(base + p.docs.start(i), p.docs.key(i), p.docs.contributor(i));
        }
        base += p.text.len() as u64;
    }
    table
}

/// Packs the positions of `full` that `keep` accepts, `width` bytes each, in order. The scan
/// is a random walk over the text (or its anchor bitmap), so large arrays are split between
/// threads; the concatenated result is the same whatever the split.
fn pack(full: &[i32], width: usize, keep: impl Fn(usize) -> bool + Sync) -> Vec<u8> {
    const CHUNK_MIN: usize = 1 << 22;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let chunk = full.len().div_ceil(threads).max(CHUNK_MIN);
    let pack_one = |part: &[i32]| {
        let mut out = Vec::with_capacity(part.len() * width / 2);
        for &p in part {
            let p = p as u32;
            if keep(p as usize) {
                out.extend_from_slice(&p.to_le_bytes()[..width]);
            }
        }
        out
    };
    let parts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = full.chunks(chunk).map(|part| s.spawn(|| pack_one(part))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    parts.concat()
}

/// One bit per text byte, set at anchors (never at separators).
fn anchor_bitmap(text: &[u8], sampling: Sampling) -> Vec<u64> {
    let mut bits = vec![0u64; text.len().div_ceil(64)];
    let mut prev: Option<u8> = None;
    for (i, &b) in text.iter().enumerate() {
        if b == SEPARATOR {
            prev = None;
            continue;
        }
        if sampling.is_anchor(prev, b) {
            bits[i / 64] |= 1 << (i % 64);
        }
        prev = Some(b);
    }
    bits
}

/// Borrowed bytes of one segment, searchable. Every read is bounds-checked: a corrupt suffix
/// array gives wrong answers, never a panic.
#[derive(Clone, Copy, Debug)]
pub struct SegmentView<'a> {
    text: &'a [u8],
    sa: &'a [u8],
    width: usize,
    docs: &'a DocTable,
}

impl<'a> SegmentView<'a> {
    /// A view over parts checked by the caller (`sa.len()` a multiple of `width`).
    pub(crate) const fn new(
        text: &'a [u8],
        sa: &'a [u8],
        width: usize,
        docs: &'a DocTable,
    ) -> Self {
        Self { text, sa, width, docs }
    }

    /// The segment text.
    #[must_use]
    pub const fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Number of indexed suffixes.
    #[must_use]
    pub const fn anchors(&self) -> usize {
        self.sa.len() / self.width
    }

    /// The document table.
    #[must_use]
    pub const fn docs(&self) -> &'a DocTable {
        self.docs
    }

    /// The text position of the suffix of rank `rank`.
    #[must_use]
    pub fn position(&self, rank: usize) -> usize {
        let at = rank * self.width;
        let mut buf = [0u8; 8];
        if let Some(raw) = self.sa.get(at..at + self.width) {
            buf[..self.width].copy_from_slice(raw);
        }
        usize::try_from(u64::from_le_bytes(buf)).unwrap_or(usize::MAX)
    }

    fn suffix(&self, rank: usize) -> &'a [u8] {
        self.text.get(self.position(rank)..).unwrap_or(&[])
    }

    /// Compares the suffix of rank `rank` with `pattern`, knowing the first `skip` bytes agree.
    /// `Equal` means the suffix starts with the pattern. Also returns the common prefix length.
    fn compare(&self, rank: usize, pattern: &[u8], skip: usize) -> (Ordering, usize) {
        let suffix = self.suffix(rank);
        let mut i = skip;
        while i < pattern.len() {
            let Some(&s) = suffix.get(i) else { return (Ordering::Less, i) };
            match s.cmp(&pattern[i]) {
                Ordering::Equal => i += 1,
                other => return (other, i),
            }
        }
        (Ordering::Equal, i)
    }

    /// First rank whose suffix is not below `pattern` (`upper = false`), or not below-or-equal
    /// (`upper = true`). Skips the bytes both bounds already share with the pattern.
    ///
    /// Also returns the common prefix lengths of the pattern with the suffixes just below and
    /// at the bound (0 where there is none): the binary search compared both last.
    fn bound(&self, pattern: &[u8], upper: bool) -> (usize, usize, usize) {
        let (mut lo, mut hi) = (0, self.anchors());
        let (mut lcp_lo, mut lcp_hi) = (0, 0);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (ord, lcp) = self.compare(mid, pattern, lcp_lo.min(lcp_hi));
            let go_right = ord == Ordering::Less || (upper && ord == Ordering::Equal);
            if go_right {
                lo = mid + 1;
                lcp_lo = lcp;
            } else {
                hi = mid;
                lcp_hi = lcp;
            }
        }
        (lo, lcp_lo, lcp_hi)
    }

    /// The ranks of the suffixes starting with `pattern`.
    #[must_use]
    pub fn range(&self, pattern: &[u8]) -> Range<usize> {
        let lo = self.bound(pattern, false).0;
        let hi = self.bound(pattern, true).0;
        lo..hi.max(lo)
    }

    /// The length of the longest prefix of `pattern` that starts some indexed suffix: the
    /// longer common prefix with the two suffixes around the pattern's insertion point.
    #[must_use]
    pub fn longest_prefix(&self, pattern: &[u8]) -> usize {
        let (_, before, after) = self.bound(pattern, false);
        before.max(after)
    }

    /// The document containing the suffix of rank `rank`.
    #[must_use]
    pub fn doc_of_rank(&self, rank: usize) -> Option<usize> {
        self.docs.at(self.position(rank) as u64)
    }

    /// The key of the document containing the suffix of rank `rank`.
    #[must_use]
    pub fn key_of_rank(&self, rank: usize) -> Option<DocKey> {
        self.doc_of_rank(rank).map(|d| self.docs.key(d))
    }
}
