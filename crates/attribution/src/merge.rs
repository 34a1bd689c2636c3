//! Merging segments without sorting them again: a k-way merge of their suffix arrays.
//!
//! Each segment's suffix array is already sorted, so the merged one is their merge, read in
//! order and written out as it is produced: memory is the segments' text (compared at random)
//! and their suffix arrays (read in order), never a copy of either. That is what lets an index
//! grow past what one suffix-array construction can hold (32-bit positions, five times the
//! text in memory): segments are built at a bounded size and merged, and a merge of any size
//! needs no more memory than its inputs.
//!
//! **The order.** A search compares a pattern with a suffix only up to the suffix's first
//! separator: patterns are UTF-8 and never hold `0xFF`, which sorts above every byte they do
//! hold. So any order that sorts suffixes by their bytes up to and including the first
//! separator answers every search, and the order among suffixes equal that far does not
//! matter. The merge sorts by exactly that, taking equal suffixes from the earlier segment
//! first. Each input is sorted in a finer order (its full suffixes, or an earlier merge), so
//! its own suffixes come out in its order, and the output is sorted in this one.
//!
//! **The cost.** A comparison first reads an 8-byte key per suffix (read ahead a block at a
//! time per segment, so the random reads overlap), and reads the text only when two keys tie.
//! Suffixes that agree for long, like a file copied into two segments, cost a scan of what
//! they share each time they meet: copies of a long document in many segments would make that
//! quadratic. So a merge has a budget of bytes scanned past the keys ([`scan_budget`], 16
//! per text byte: ordinary text needs a fraction of a byte); a merge that exceeds it stops, and
//! the caller sorts the concatenated text with SA-IS instead, which is linear whatever
//! repeats (or, past one construction's 2 GiB, leaves the segments unmerged).

use crate::{SEPARATOR, SegmentView};
use std::{
    cmp::Ordering,
    io::{self, Write},
};

/// Suffixes per segment whose keys are read in one go: their reads are independent, so the
/// memory system serves them together instead of one cache miss after another.
const READ_AHEAD: usize = 1024;

/// Bytes compared per step when two keys tie.
const STEP: usize = 256;

/// One input's text and documents, with a hash of each document's bytes (computed the first
/// time a tie reaches the document): two suffixes at the same offset of documents with the
/// same bytes are equal without reading them.
struct Side<'a> {
    text: &'a [u8],
    docs: &'a crate::DocTable,
    hashes: Vec<std::cell::OnceCell<[u8; 16]>>,
}

impl<'a> Side<'a> {
    fn new(view: &SegmentView<'a>) -> Self {
        let (text, docs) = (view.text(), view.docs());
        Self { text, docs, hashes: (0..docs.len()).map(|_| std::cell::OnceCell::new()).collect() }
    }

    /// The hash of document `d`'s bytes, from its start to the next document's.
    fn hash(&self, d: usize) -> Option<[u8; 16]> {
        let cell = self.hashes.get(d)?;
        Some(*cell.get_or_init(|| {
            let start = usize::try_from(self.docs.start(d)).unwrap_or(usize::MAX);
            let end = if d + 1 < self.docs.len() {
                usize::try_from(self.docs.start(d + 1)).unwrap_or(usize::MAX)
            } else {
                self.text.len()
            };
            let mut h = [0u8; 16];
            h.copy_from_slice(
                &blake3::hash(self.text.get(start..end).unwrap_or(&[])).as_bytes()[..16],
            );
            h
        }))
    }

    /// The document holding `pos` and `pos`'s offset in it.
    fn locate(&self, pos: usize) -> Option<(usize, u64)> {
        let d = self.docs.at(pos as u64)?;
        Some((d, pos as u64 - self.docs.start(d)))
    }
}

/// Whether `a` of `x` and `b` of `y` are the same offset of two copies of one document.
fn same_copy(x: &Side<'_>, a: usize, y: &Side<'_>, b: usize) -> bool {
    match (x.locate(a), y.locate(b)) {
        (Some((da, oa)), Some((db, ob))) => {
            oa == ob && x.hash(da).is_some_and(|h| y.hash(db) == Some(h))
        }
        _ => false,
    }
}

/// The first 8 bytes of the suffix at `pos`, big-endian, with the first separator and every
/// byte after it (and past the text) read as the separator: keys order suffixes as the merge
/// does, as far as 8 bytes tell.
///
/// Branch-free away from the text's end, so that the keys of a block of suffixes are read
/// with their cache misses overlapping instead of one after another.
#[inline]
fn key(text: &[u8], pos: usize) -> u64 {
    let Some(bytes) = text.get(pos..pos.saturating_add(8)) else {
        return key_near_end(text, pos);
    };
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    let v = u64::from_be_bytes(word);
    // Bytes of `v` equal to 0xFF are the zero bytes of `!v`; exact zero-byte test (no false
    // positives): the high bit of each byte of `marks` is set where `!v` has a zero byte.
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let t = !v;
    let marks = !(((t & LOW7) + LOW7) | t | LOW7);
    // The first separator in text order is the most significant mark.
    let first = marks.leading_zeros() / 8;
    if first >= 8 { v } else { v | (u64::MAX >> (8 * first)) }
}

/// [`key`] for a suffix within 8 bytes of the text's end (or past it).
fn key_near_end(text: &[u8], pos: usize) -> u64 {
    let mut k = [SEPARATOR; 8];
    for (i, slot) in k.iter_mut().enumerate() {
        match text.get(pos.saturating_add(i)) {
            Some(&b) if b != SEPARATOR => *slot = b,
            _ => break,
        }
    }
    u64::from_be_bytes(k)
}

/// The bytes a merge of `text_bytes` of text may scan past the keys before it gives up.
#[must_use]
pub const fn scan_budget(text_bytes: u64) -> u64 {
    text_bytes.saturating_mul(16).saturating_add(64 << 20)
}

/// Why a merge stopped.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// An input's suffix array points past its text.
    #[error("suffix array of segment {part} of the merge points past its text")]
    Corrupt {
        /// Which input (0-based, in merge order).
        part: usize,
    },
    /// The inputs share so much text that comparing them passed the budget.
    #[error(
        "the segments repeat too much text to merge by comparison ({scanned} bytes scanned, budget {budget})"
    )]
    TooRepetitive {
        /// Bytes scanned when the merge stopped.
        scanned: u64,
        /// The budget.
        budget: u64,
    },
}

/// What a merge wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merged {
    /// Pointers written.
    pub pointers: u64,
    /// Bytes compared past the keys.
    pub scanned: u64,
}

/// Compares the suffix at `a` of `x` with the one at `b` of `y` from their 9th byte on, up to
/// and including the first separator (the end of a text reads as one); adds the bytes compared
/// to `scanned`. Suffixes still equal after one step are checked for being copies.
fn compare_tail(x: &Side<'_>, a: usize, y: &Side<'_>, b: usize, scanned: &mut u64) -> Ordering {
    let (from_a, from_b) = (a, b);
    let (mut a, mut b) = (a.saturating_add(8), b.saturating_add(8));
    let mut first = true;
    loop {
        let sa = x.text.get(a..).unwrap_or(&[]);
        let sb = y.text.get(b..).unwrap_or(&[]);
        let n = STEP.min(sa.len()).min(sb.len());
        let (ca, cb) = (&sa[..n], &sb[..n]);
        if ca != cb {
            let d = ca.iter().zip(cb).position(|(p, q)| p != q).unwrap_or(n);
            *scanned += d as u64 + 1;
            return if ca[..d].contains(&SEPARATOR) { Ordering::Equal } else { ca[d].cmp(&cb[d]) };
        }
        *scanned += n as u64 + 1;
        if ca.contains(&SEPARATOR) {
            return Ordering::Equal;
        }
        if n < STEP {
            // One text ended: its end is a separator.
            let p = sa.get(n).copied().unwrap_or(SEPARATOR);
            let q = sb.get(n).copied().unwrap_or(SEPARATOR);
            return p.cmp(&q);
        }
        if std::mem::take(&mut first) && same_copy(x, from_a, y, from_b) {
            return Ordering::Equal;
        }
        (a, b) = (a + n, b + n);
    }
}

/// One input: where it is in its suffix array and the keys read ahead.
struct Cursor<'a> {
    view: SegmentView<'a>,
    /// Where its text starts in the merged text.
    offset: u64,
    /// The next rank to read ahead.
    rank: usize,
    /// `(key, position)` of the ranks read ahead; `heads[at]` is the current one.
    heads: Vec<(u64, usize)>,
    at: usize,
    /// A position read past the text: the merge stops rather than write it into another
    /// segment's range.
    corrupt: bool,
}

impl<'a> Cursor<'a> {
    fn new(view: SegmentView<'a>, offset: u64) -> Self {
        let mut c = Self { view, offset, rank: 0, heads: Vec::new(), at: 0, corrupt: false };
        c.refill();
        c
    }

    fn refill(&mut self) {
        let end = self.rank.saturating_add(READ_AHEAD).min(self.view.anchors());
        let text = self.view.text();
        self.heads.clear();
        // Positions first (a sequential read), then the keys: independent random reads.
        self.heads.extend((self.rank..end).map(|r| (0, self.view.position(r))));
        for (k, p) in &mut self.heads {
            *k = key(text, *p);
        }
        self.corrupt |= self.heads.iter().any(|&(_, p)| p >= text.len());
        self.rank = end;
        self.at = 0;
    }

    fn head(&self) -> Option<(u64, usize)> {
        self.heads.get(self.at).copied()
    }

    fn advance(&mut self) {
        self.at += 1;
        if self.at >= self.heads.len() {
            self.refill();
        }
    }
}

/// The inputs and the work done so far.
struct Merge<'a> {
    cursors: Vec<Cursor<'a>>,
    sides: Vec<Side<'a>>,
    scanned: u64,
}

impl Merge<'_> {
    /// Whether input `i`'s head comes before input `j`'s (both have one).
    fn before(&mut self, i: usize, j: usize) -> bool {
        let (Some((ki, pi)), Some((kj, pj))) = (self.cursors[i].head(), self.cursors[j].head())
        else {
            return self.cursors[i].head().is_some();
        };
        let order = ki.cmp(&kj).then_with(|| {
            // Equal keys holding a separator are equal suffixes (as far as the order goes).
            if ki & 0xFF == u64::from(SEPARATOR) {
                Ordering::Equal
            } else {
                compare_tail(&self.sides[i], pi, &self.sides[j], pj, &mut self.scanned)
            }
        });
        order.then(i.cmp(&j)) == Ordering::Less
    }

    /// Restores the min-heap of input indices `heap` below `at`.
    fn sift_down(&mut self, heap: &mut [usize], mut at: usize) {
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut least = at;
            if l < heap.len() && self.before(heap[l], heap[least]) {
                least = l;
            }
            if r < heap.len() && self.before(heap[r], heap[least]) {
                least = r;
            }
            if least == at {
                return;
            }
            heap.swap(at, least);
            at = least;
        }
    }
}

/// Writes the suffix array of the concatenation of `parts` (in order) to `out`, `width`
/// bytes per little-endian pointer: the merge of their suffix arrays (see the module docs).
///
/// # Errors
/// `out`'s; [`MergeError::Corrupt`] for a suffix array pointing past its text; or
/// [`MergeError::TooRepetitive`] once more than `budget` bytes were compared past the keys.
/// What was written is then incomplete. `width` must hold every position of the concatenated
/// text (see [`crate::segment::pointer_width`]); unsorted inputs give a wrong order, never a
/// panic.
pub fn write_merged(
    parts: &[SegmentView<'_>],
    width: usize,
    budget: u64,
    out: &mut impl Write,
) -> Result<Merged, MergeError> {
    let width = width.clamp(1, 8);
    let mut offset = 0u64;
    let mut cursors = Vec::with_capacity(parts.len());
    for part in parts {
        cursors.push(Cursor::new(*part, offset));
        offset += part.text().len() as u64;
    }
    let mut heap: Vec<usize> =
        (0..cursors.len()).filter(|&i| cursors[i].head().is_some()).collect();
    let sides = parts.iter().map(Side::new).collect();
    let mut merge = Merge { cursors, sides, scanned: 0 };
    for at in (0..heap.len() / 2).rev() {
        merge.sift_down(&mut heap, at);
    }
    if let Some(part) = merge.cursors.iter().position(|c| c.corrupt) {
        return Err(MergeError::Corrupt { part });
    }
    let mut pointers = 0u64;
    while let Some(&top) = heap.first() {
        let cursor = &mut merge.cursors[top];
        let Some((_, pos)) = cursor.head() else { break };
        let global = cursor.offset.saturating_add(pos as u64);
        out.write_all(&global.to_le_bytes()[..width])?;
        pointers += 1;
        cursor.advance();
        if cursor.corrupt {
            return Err(MergeError::Corrupt { part: top });
        }
        if cursor.head().is_none() {
            heap.swap_remove(0);
        }
        merge.sift_down(&mut heap, 0);
        if merge.scanned > budget {
            return Err(MergeError::TooRepetitive { scanned: merge.scanned, budget });
        }
    }
    Ok(Merged { pointers, scanned: merge.scanned })
}

#[cfg(test)]
mod tests {
    use super::{key, write_merged};
    use crate::{
        ContributionId, DocKey, DocTable, SEPARATOR, Sampling, Searcher, SegmentView,
        segment::pointer_width,
    };
    use std::{cmp::Ordering, io::Write as _};

    /// A merged segment past 4 GiB of text: five-byte pointers, positions past both the
    /// 32-bit construction limit and `u32`, found by searches and resolved to their documents.
    /// The text is a sparse file (holes read as zeros), so the test writes a few hundred
    /// bytes; the suffix arrays list the anchors of the written words only.
    #[test]
    fn a_merge_past_four_gib_keeps_every_position() {
        const SPLIT: u64 = (1 << 31) + 5; // part 0's text: past the i32 limit
        const TOTAL: u64 = (1 << 32) + (1 << 20); // both parts: past u32
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("text");
        let mut file = std::fs::File::create(&path).expect("create");
        file.set_len(TOTAL).expect("sparse file");
        let mut put = |at: u64, bytes: &[u8]| {
            use std::io::{Seek as _, SeekFrom};
            file.seek(SeekFrom::Start(at)).expect("seek");
            file.write_all(bytes).expect("write");
        };
        let far = TOTAL - 100; // where part 1's words are, in the merged text
        put(0, b"needle one");
        put(SPLIT - 1, &[SEPARATOR]);
        put(far, b"needle two");
        put(TOTAL - 1, &[SEPARATOR]);
        let text = filebuffer::FileBuffer::open(&path).expect("map");
        let (t0, t1) = (&text[..SPLIT as usize], &text[SPLIT as usize..]);
        let key = |c| DocKey { contribution: ContributionId(c), ordinal: 0 };
        let (mut d0, mut d1, mut merged_docs) =
            (DocTable::default(), DocTable::default(), DocTable::default());
        d0.push(0, key(1), Some("ada"));
        d1.push(0, key(2), Some("bo"));
        merged_docs.push(0, key(1), Some("ada"));
        merged_docs.push(SPLIT, key(2), Some("bo"));
        // Each part's anchors sorted by their suffixes, five-byte pointers.
        let local = far - SPLIT;
        let sa =
            |ps: &[u64]| ps.iter().flat_map(|p| p.to_le_bytes()[..5].to_vec()).collect::<Vec<u8>>();
        let (sa0, sa1) = (sa(&[0, 7]), sa(&[local, local + 7]));
        let parts = [SegmentView::new(t0, &sa0, 5, &d0), SegmentView::new(t1, &sa1, 5, &d1)];
        let width = pointer_width(TOTAL as usize);
        assert_eq!(width, 5);
        let mut merged = Vec::new();
        let done = write_merged(&parts, width, u64::MAX, &mut merged).expect("merge");
        assert_eq!(done.pointers, 4);
        let view = SegmentView::new(&text, &merged, width, &merged_docs);
        let positions: Vec<usize> = (0..4).map(|r| view.position(r)).collect();
        assert_eq!(positions, [0, far as usize, 7, far as usize + 7]);
        let search = Searcher::new(vec![view], Sampling::WordStarts);
        assert_eq!(search.count("needle").expect("count"), 2);
        assert_eq!(search.count("two").expect("count"), 1);
        let docs = search.documents("needle t", 10).expect("documents");
        assert_eq!(docs.into_iter().collect::<Vec<_>>(), [(key(2), 1)]);
    }

    #[test]
    fn keys_match_the_byte_by_byte_rule_everywhere() {
        let text: Vec<u8> = (0..600u32)
            .map(|i| [b'a', 0xFF, b'z', 0x7F, 0x80, 0xFE][(i * i % 7 % 6) as usize])
            .collect();
        for pos in 0..text.len() + 2 {
            assert_eq!(key(&text, pos), super::key_near_end(&text, pos), "at {pos}");
        }
    }

    #[test]
    fn keys_stop_at_the_separator_and_the_text_end() {
        assert_eq!(key(b"abcdefghij", 0), u64::from_be_bytes(*b"abcdefgh"));
        assert_eq!(key(b"ab\xFFcd", 0), u64::from_be_bytes(*b"ab\xFF\xFF\xFF\xFF\xFF\xFF"));
        assert_eq!(key(b"abc", 1), u64::from_be_bytes(*b"bc\xFF\xFF\xFF\xFF\xFF\xFF"));
        assert_eq!(key(b"abc", 9), u64::MAX);
    }

    #[test]
    fn tails_compare_up_to_the_first_separator() {
        fn compare_tail(a: &[u8], i: usize, b: &[u8], j: usize) -> Ordering {
            let docs = crate::DocTable::default();
            let x = super::Side { text: a, docs: &docs, hashes: Vec::new() };
            let y = super::Side { text: b, docs: &docs, hashes: Vec::new() };
            super::compare_tail(&x, i, &y, j, &mut 0)
        }
        let long = |tail: &str| format!("01234567{}", tail).into_bytes();
        let (a, b) = (long(&"x".repeat(2000)), long(&"x".repeat(1500)));
        // b ends first: its end is a separator, which sorts last.
        assert_eq!(compare_tail(&a, 0, &b, 0), Ordering::Less);
        let mut c = long("same");
        c.push(SEPARATOR);
        c.extend_from_slice(b"different after");
        let mut d = long("same");
        d.push(SEPARATOR);
        d.extend_from_slice(b"other");
        assert_eq!(compare_tail(&c, 0, &d, 0), Ordering::Equal);
        assert_eq!(compare_tail(&long("ab"), 0, &long("ac"), 0), Ordering::Less);
        assert_eq!(compare_tail(b"short", 0, b"short", 0), Ordering::Equal);
    }
}
