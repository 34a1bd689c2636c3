//! The documents of a segment: where each starts in the segment text, which contribution it
//! belongs to, and who contributed it.
//!
//! Encoding (all integers little-endian), the `.docs` file of a segment:
//!
//! ```text
//! magic "ALXDOCS1" | u64 documents | documents × (u64 start, u64 contribution, u32 ordinal,
//! u32 contributor index or u32::MAX) | u64 contributors | contributors × (u32 len, UTF-8 bytes)
//! ```

use crate::{ContributionId, DocKey, IndexError};
use std::{collections::BTreeMap, path::Path};

const MAGIC: &[u8; 8] = b"ALXDOCS1";
const RECORD_BYTES: usize = 24;
const NO_CONTRIBUTOR: u32 = u32::MAX;

/// Longest contributor name accepted, in bytes.
pub const CONTRIBUTOR_BYTES_MAX: usize = 256;

/// The document table of one segment, sorted by start offset.
#[derive(Clone, Debug, Default)]
pub struct DocTable {
    starts: Vec<u64>,
    contributions: Vec<u64>,
    ordinals: Vec<u32>,
    contributor_of: Vec<u32>,
    contributors: Vec<String>,
    /// Contributor name to index, filled while building (not stored).
    lookup: BTreeMap<String, u32>,
}

impl PartialEq for DocTable {
    fn eq(&self, other: &Self) -> bool {
        // The lookup is a cache of `contributors`: equal tables may differ in it.
        (
            &self.starts,
            &self.contributions,
            &self.ordinals,
            &self.contributor_of,
            &self.contributors,
        ) == (
            &other.starts,
            &other.contributions,
            &other.ordinals,
            &other.contributor_of,
            &other.contributors,
        )
    }
}

impl Eq for DocTable {}

impl DocTable {
    /// Number of documents.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Appends a document starting at `start` (after every document already present).
    pub(crate) fn push(&mut self, start: u64, key: DocKey, contributor: Option<&str>) {
        let index = contributor.map_or(NO_CONTRIBUTOR, |name| {
            if let Some(&i) = self.lookup.get(name) {
                return i;
            }
            let i = self.contributors.len() as u32;
            self.contributors.push(name.to_owned());
            self.lookup.insert(name.to_owned(), i);
            i
        });
        self.starts.push(start);
        self.contributions.push(key.contribution.0);
        self.ordinals.push(key.ordinal);
        self.contributor_of.push(index);
    }

    /// The start offset of document `i` in the segment text.
    #[must_use]
    pub fn start(&self, i: usize) -> u64 {
        self.starts[i]
    }

    /// The key of document `i`.
    #[must_use]
    pub fn key(&self, i: usize) -> DocKey {
        DocKey { contribution: ContributionId(self.contributions[i]), ordinal: self.ordinals[i] }
    }

    /// The contributor of document `i`, if any.
    #[must_use]
    pub fn contributor(&self, i: usize) -> Option<&str> {
        let c = self.contributor_of[i];
        if c == NO_CONTRIBUTOR {
            None
        } else {
            self.contributors.get(c as usize).map(String::as_str)
        }
    }

    /// The document holding text position `pos`, if any.
    #[must_use]
    pub fn at(&self, pos: u64) -> Option<usize> {
        self.starts.partition_point(|&s| s <= pos).checked_sub(1)
    }

    /// The contribution ids present, in table order.
    pub fn contributions(&self) -> impl Iterator<Item = ContributionId> + '_ {
        self.contributions.iter().map(|&c| ContributionId(c))
    }

    /// Serializes the table.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.len() * RECORD_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for i in 0..self.len() {
            out.extend_from_slice(&self.starts[i].to_le_bytes());
            out.extend_from_slice(&self.contributions[i].to_le_bytes());
            out.extend_from_slice(&self.ordinals[i].to_le_bytes());
            out.extend_from_slice(&self.contributor_of[i].to_le_bytes());
        }
        out.extend_from_slice(&(self.contributors.len() as u64).to_le_bytes());
        for c in &self.contributors {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c.as_bytes());
        }
        out
    }

    /// Parses a table and checks it against the segment text length: starts strictly increase,
    /// lie inside the text, and each document is followed by the separator byte.
    pub fn decode(bytes: &[u8], text: &[u8], path: &Path) -> Result<Self, IndexError> {
        let bad = |reason: &str| IndexError::corrupt(path, reason);
        let mut r = Reader { bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("truncated header"))? != MAGIC {
            return Err(bad("not a document table (bad magic)"));
        }
        let n = r.u64().ok_or_else(|| bad("truncated header"))?;
        let n = usize::try_from(n).map_err(|_| bad("document count too large"))?;
        if n > bytes.len() / RECORD_BYTES {
            return Err(bad("document count larger than the file"));
        }
        let mut t = Self::default();
        for _ in 0..n {
            let rec = r.take(RECORD_BYTES).ok_or_else(|| bad("truncated document record"))?;
            let start = u64::from_le_bytes(rec[0..8].try_into().unwrap_or_default());
            t.starts.push(start);
            t.contributions.push(u64::from_le_bytes(rec[8..16].try_into().unwrap_or_default()));
            t.ordinals.push(u32::from_le_bytes(rec[16..20].try_into().unwrap_or_default()));
            t.contributor_of.push(u32::from_le_bytes(rec[20..24].try_into().unwrap_or_default()));
        }
        let m = r.u64().ok_or_else(|| bad("truncated contributor count"))?;
        let m = usize::try_from(m).map_err(|_| bad("contributor count too large"))?;
        if m > bytes.len() {
            return Err(bad("contributor count larger than the file"));
        }
        for _ in 0..m {
            let len = r.u32().ok_or_else(|| bad("truncated contributor"))? as usize;
            if len > CONTRIBUTOR_BYTES_MAX {
                return Err(bad("contributor name too long"));
            }
            let raw = r.take(len).ok_or_else(|| bad("truncated contributor"))?;
            let name = std::str::from_utf8(raw).map_err(|_| bad("contributor is not UTF-8"))?;
            t.contributors.push(name.to_owned());
        }
        if r.at != bytes.len() {
            return Err(bad("trailing bytes after the contributors"));
        }
        t.validate(text).map_err(bad)?;
        Ok(t)
    }

    fn validate(&self, text: &[u8]) -> Result<(), &'static str> {
        let len = text.len() as u64;
        for i in 0..self.len() {
            let start = self.starts[i];
            let end = self.starts.get(i + 1).map_or(len, |&next| next);
            if start >= end || end > len {
                return Err("document offsets out of order or outside the text");
            }
            // Every document ends with the separator, which marks the next start.
            if text.get((end - 1) as usize) != Some(&crate::SEPARATOR) {
                return Err("document not followed by the separator byte");
            }
            let c = self.contributor_of[i];
            if c != NO_CONTRIBUTOR && c as usize >= self.contributors.len() {
                return Err("contributor index out of range");
            }
        }
        if self.starts.first().is_some_and(|&s| s != 0) || (self.is_empty() && len != 0) {
            return Err("text not fully covered by documents");
        }
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> (DocTable, Vec<u8>) {
        let mut t = DocTable::default();
        let mut text = Vec::new();
        for (i, (body, who)) in
            [("ab", Some("x")), ("", None), ("cde", Some("y")), ("f", Some("x"))]
                .into_iter()
                .enumerate()
        {
            let key = DocKey { contribution: ContributionId(i as u64 * 10), ordinal: i as u32 };
            t.push(text.len() as u64, key, who);
            text.extend_from_slice(body.as_bytes());
            text.push(crate::SEPARATOR);
        }
        (t, text)
    }

    #[test]
    fn round_trip() {
        let (t, text) = table();
        let back = DocTable::decode(&t.encode(), &text, Path::new("t")).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.contributor(3), Some("x"));
        assert_eq!(back.contributor(1), None);
        assert_eq!(back.at(4), Some(2));
        assert_eq!(back.key(2).contribution, ContributionId(20));
    }

    #[test]
    fn rejects_tables_that_do_not_fit_the_text() {
        let (t, mut text) = table();
        text.pop();
        assert!(DocTable::decode(&t.encode(), &text, Path::new("t")).is_err());
    }

    proptest! {
        #[test]
        fn decoding_hostile_bytes_never_panics(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cut in 0usize..200,
        ) {
            let (t, text) = table();
            let good = t.encode();
            let _ = DocTable::decode(&bytes, &text, Path::new("t"));
            // Also mutate a real table: a flipped or truncated byte is an error or a table,
            // never a panic.
            bytes.truncate(good.len());
            let mut mixed = good.clone();
            for (m, b) in mixed.iter_mut().zip(&bytes).step_by(7) {
                *m ^= *b;
            }
            let _ = DocTable::decode(&mixed, &text, Path::new("t"));
            let _ = DocTable::decode(&good[..cut.min(good.len())], &text, Path::new("t"));
        }
    }
}
