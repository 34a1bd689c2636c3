//! The on-disk index: a directory of immutable segment files and a manifest that lists them.
//! This is the crate's only I/O.
//!
//! ```text
//! DIR/MANIFEST                 JSON: format, sampling, next segment id, live segments
//! DIR/seg-0000000007.text      document bytes, each followed by 0xFF
//! DIR/seg-0000000007.sa        packed suffix array (pointer_bytes per anchor)
//! DIR/seg-0000000007.docs      document table (see DocTable)
//! ```
//!
//! Writes are crash-safe: segment files are written to temporary names, synced and renamed,
//! then the manifest is replaced the same way. Until the manifest's rename, readers see the old
//! index; files no manifest lists are ignored and removed by the next write. Segment files are
//! never modified once renamed, which is what makes reading them through memory maps sound.
//!
//! One writer at a time: appends and merges of two processes on one directory are not
//! coordinated (the chain's state layer is the single writer of a datanet's index).

use crate::{
    ContributionId, DocTable, Document, IndexError, Sampling, Searcher, SegmentData, SegmentView,
    manifest::{FORMAT_VERSION, Manifest, SEGMENTS_MAX, SegmentMeta},
    merge::MergeError,
};
use filebuffer::FileBuffer;
use std::{
    collections::BTreeSet,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

const MANIFEST: &str = "MANIFEST";

/// When to merge segments: whenever `fan_in` segments fall in the same size tier (tier `t`
/// holds segments of `fan_in^t` up to `fan_in^(t+1)` bytes), the oldest `fan_in` of the
/// smallest such tier are merged into one; repeated until no tier is full. Each byte is thus
/// rewritten about `log_fan_in(corpus / smallest segment)` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    /// Segments per tier that trigger a merge (at least 2).
    pub fan_in: usize,
}

/// Sizes of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Live segments.
    pub segments: usize,
    /// Documents.
    pub documents: u64,
    /// Corpus text bytes (without separators).
    pub corpus_bytes: u64,
    /// Indexed suffixes.
    pub anchors: u64,
    /// Bytes of all segment files (text, suffix array, documents).
    pub index_bytes: u64,
}

struct Loaded {
    meta: SegmentMeta,
    text: Option<FileBuffer>,
    sa: Option<FileBuffer>,
    docs: DocTable,
}

impl Loaded {
    fn view(&self) -> SegmentView<'_> {
        let text = self.text.as_deref().unwrap_or(&[]);
        let sa = self.sa.as_deref().unwrap_or(&[]);
        SegmentView::new(text, sa, usize::from(self.meta.pointer_bytes), &self.docs)
    }
}

/// An index directory, open for queries and appends.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    segments: Vec<Loaded>,
    contributions: BTreeSet<ContributionId>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("dir", &self.dir).field("manifest", &self.manifest).finish()
    }
}

#[path = "store_files.rs"]
mod files;
use files::{hash, map, sync_dir, write_atomic, write_streamed};

fn seg_path(dir: &Path, id: u64, ext: &str) -> PathBuf {
    dir.join(format!("seg-{id:010}.{ext}"))
}

impl Index {
    /// Creates an empty index in `dir` (created if missing).
    pub fn create(dir: &Path, sampling: Sampling) -> Result<Self, IndexError> {
        fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            return Err(IndexError::AlreadyExists(dir.to_owned()));
        }
        let manifest =
            Manifest { format: FORMAT_VERSION, sampling, next_segment: 0, segments: Vec::new() };
        write_atomic(&path, &manifest.encode())?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
            segments: Vec::new(),
            contributions: BTreeSet::new(),
        })
    }

    /// Opens the index in `dir`: reads the manifest, maps every segment and checks file sizes
    /// and document tables (suffix arrays are checked by [`Index::verify`]).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let manifest = Manifest::read(&dir.join(MANIFEST))?;
        let mut index = Self {
            dir: dir.to_owned(),
            manifest: manifest.clone(),
            segments: Vec::new(),
            contributions: BTreeSet::new(),
        };
        for meta in manifest.segments {
            index.load(meta)?;
        }
        Ok(index)
    }

    fn load(&mut self, meta: SegmentMeta) -> Result<(), IndexError> {
        let loaded = self.open_segment(meta)?;
        for c in loaded.docs.contributions() {
            self.contributions.insert(c);
        }
        self.segments.push(loaded);
        Ok(())
    }

    /// Maps segment `meta`'s files and checks their sizes and document table.
    fn open_segment(&self, meta: SegmentMeta) -> Result<Loaded, IndexError> {
        let text = map(&seg_path(&self.dir, meta.id, "text"), meta.text_bytes)?;
        let sa_len = meta.anchors.checked_mul(u64::from(meta.pointer_bytes));
        let sa_path = seg_path(&self.dir, meta.id, "sa");
        let sa_len =
            sa_len.ok_or_else(|| IndexError::corrupt(&sa_path, "anchor count overflows"))?;
        let sa = map(&sa_path, sa_len)?;
        let docs_path = seg_path(&self.dir, meta.id, "docs");
        let raw = fs::read(&docs_path).map_err(|e| IndexError::io(&docs_path, e))?;
        let docs = DocTable::decode(&raw, text.as_deref().unwrap_or(&[]), &docs_path)?;
        if docs.len() as u64 != meta.documents {
            return Err(IndexError::corrupt(
                &docs_path,
                "document count differs from the manifest",
            ));
        }
        Ok(Loaded { meta, text, sa, docs })
    }

    /// The index's sampling.
    #[must_use]
    pub const fn sampling(&self) -> Sampling {
        self.manifest.sampling
    }

    /// A searcher over the live segments.
    #[must_use]
    pub fn searcher(&self) -> Searcher<'_> {
        Searcher::new(self.segments.iter().map(Loaded::view).collect(), self.manifest.sampling)
    }

    /// One past the largest contribution id in the index (0 when empty): the next free id
    /// for plain corpora, whose ids are line numbers.
    #[must_use]
    pub fn next_contribution(&self) -> ContributionId {
        ContributionId(self.contributions.last().map_or(0, |c| c.0.saturating_add(1)))
    }

    /// Sizes of the index.
    #[must_use]
    pub fn stats(&self) -> IndexStats {
        let mut s = IndexStats {
            segments: self.segments.len(),
            documents: 0,
            corpus_bytes: 0,
            anchors: 0,
            index_bytes: 0,
        };
        for l in &self.segments {
            let m = &l.meta;
            s.documents += m.documents;
            s.corpus_bytes += m.text_bytes - m.documents;
            s.anchors += m.anchors;
            let docs_bytes = fs::metadata(seg_path(&self.dir, m.id, "docs")).map_or(0, |d| d.len());
            s.index_bytes += m.text_bytes + m.anchors * u64::from(m.pointer_bytes) + docs_bytes;
        }
        s
    }

    /// Adds a batch of documents as one new segment, searchable once this returns. Every
    /// contribution in the batch must be new to the index. A batch of more than
    /// [`BUILD_PART_BYTES`] is sorted in parts that are then merged, so an append may pass what
    /// one construction takes (2 GiB).
    pub fn append(&mut self, docs: &[Document]) -> Result<(), IndexError> {
        self.append_in_parts(docs, BUILD_PART_BYTES)
    }

    /// [`Index::append`], sorting parts of at most `part_bytes` of text.
    pub(crate) fn append_in_parts(
        &mut self,
        docs: &[Document],
        part_bytes: usize,
    ) -> Result<(), IndexError> {
        if self.segments.len() >= SEGMENTS_MAX {
            return Err(IndexError::TooLarge {
                what: "segment count",
                actual: self.segments.len() as u64,
                limit: SEGMENTS_MAX as u64,
            });
        }
        if docs.is_empty() {
            return Ok(());
        }
        if let Some(d) = docs.iter().find(|d| self.contributions.contains(&d.key.contribution)) {
            return Err(IndexError::DuplicateContribution(d.key.contribution.0));
        }
        let batches = build_batches(docs, part_bytes);
        let id = self.manifest.next_segment;
        if let [only] = batches.as_slice() {
            let data = SegmentData::from_documents(only, self.manifest.sampling)?;
            let meta = self.write_segment(id, &data)?;
            drop(data);
            return self.install(vec![meta], &[], id + 1);
        }
        // A batch larger than one construction should hold: build it in parts, each written
        // to files no manifest lists (swept if anything fails), then merge them into the one
        // new segment. Memory stays at one part's construction, then the merge's inputs.
        let mut seen = BTreeSet::new();
        if let Some(d) = docs.iter().find(|d| !seen.insert(d.key)) {
            return Err(IndexError::DuplicateContribution(d.key.contribution.0));
        }
        let mut parts = Vec::with_capacity(batches.len());
        for (i, batch) in batches.iter().enumerate() {
            let data = SegmentData::from_documents(batch, self.manifest.sampling)?;
            let part = self.write_segment(id + 1 + i as u64, &data)?;
            drop(data);
            parts.push(self.open_segment(part)?);
        }
        let views: Vec<SegmentView<'_>> = parts.iter().map(Loaded::view).collect();
        let merged = self.write_merged(id, &views);
        drop(views);
        let next_id = id + 1 + batches.len() as u64;
        match merged {
            Ok(meta) => {
                drop(parts);
                self.install(vec![meta], &[], next_id)
            }
            Err(IndexError::TooRepetitive { .. }) => {
                // Too repetitive to merge, too large to sort again together: the parts become
                // segments of their own, all listed at once, and the policy leaves them alone.
                let metas = parts
                    .into_iter()
                    .map(|l| SegmentMeta { merge_refused: true, ..l.meta })
                    .collect();
                self.install(metas, &[], next_id)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `data`'s files as segment `id` (not yet listed in the manifest).
    fn write_segment(&self, id: u64, data: &SegmentData) -> Result<SegmentMeta, IndexError> {
        let docs = data.docs.encode();
        let meta = SegmentMeta {
            id,
            text_bytes: data.text.len() as u64,
            anchors: (data.sa.len() / data.width) as u64,
            pointer_bytes: data.width as u8,
            documents: data.docs.len() as u64,
            text_hash: hash(&data.text),
            sa_hash: hash(&data.sa),
            docs_hash: hash(&docs),
            merge_refused: false,
        };
        write_atomic(&seg_path(&self.dir, id, "text"), &data.text)?;
        write_atomic(&seg_path(&self.dir, id, "sa"), &data.sa)?;
        write_atomic(&seg_path(&self.dir, id, "docs"), &docs)?;
        Ok(meta)
    }

    /// Writes the merge of `parts` (in order) as segment `id` (not yet listed), streaming:
    /// the text is copied and the suffix arrays merged straight into the files.
    fn write_merged(&self, id: u64, parts: &[SegmentView<'_>]) -> Result<SegmentMeta, IndexError> {
        let text_bytes: u64 = parts.iter().map(|p| p.text().len() as u64).sum();
        if text_bytes > crate::MERGED_SEGMENT_BYTES_MAX {
            return Err(IndexError::TooLarge {
                what: "merged segment",
                actual: text_bytes,
                limit: crate::MERGED_SEGMENT_BYTES_MAX,
            });
        }
        let width = crate::segment::pointer_width(text_bytes as usize);
        let budget = crate::merge::scan_budget(text_bytes);
        let sa = write_streamed(&seg_path(&self.dir, id, "sa"), |out, tmp| {
            crate::merge::write_merged(parts, width, budget, out).map_err(|e| match e {
                MergeError::Io(e) => IndexError::io(tmp, e),
                MergeError::Corrupt { part } => IndexError::corrupt(
                    tmp,
                    format!("input {part} of the merge has a suffix array pointing past its text"),
                ),
                MergeError::TooRepetitive { scanned, budget } => {
                    IndexError::TooRepetitive { scanned, budget }
                }
            })
        });
        let (sa_hash, merged) = match sa {
            Err(IndexError::TooRepetitive { .. })
                if text_bytes <= crate::SEGMENT_BYTES_MAX as u64 =>
            {
                // Long shared text: sorting the concatenation is linear whatever it repeats.
                let data = SegmentData::rebuild(parts, self.manifest.sampling)?;
                return self.write_segment(id, &data);
            }
            other => other?,
        };
        let (text_hash, ()) = write_streamed(&seg_path(&self.dir, id, "text"), |out, tmp| {
            parts
                .iter()
                .try_for_each(|p| out.write_all(p.text()))
                .map_err(|e| IndexError::io(tmp, e))
        })?;
        let table = crate::segment::merged_docs(parts);
        let docs = table.encode();
        write_atomic(&seg_path(&self.dir, id, "docs"), &docs)?;
        Ok(SegmentMeta {
            id,
            text_bytes,
            anchors: merged.pointers,
            pointer_bytes: width as u8,
            documents: table.len() as u64,
            text_hash,
            sa_hash,
            docs_hash: hash(&docs),
            merge_refused: false,
        })
    }

    /// Lists the written segments `metas` in place of the segments `replaced` (ids): the
    /// manifest's rename is the commit. `next_id` is the next free segment id.
    fn install(
        &mut self,
        metas: Vec<SegmentMeta>,
        replaced: &[u64],
        next_id: u64,
    ) -> Result<(), IndexError> {
        let mut next = self.manifest.clone();
        next.next_segment = next_id;
        next.segments.retain(|s| !replaced.contains(&s.id));
        next.segments.extend(metas.iter().cloned());
        self.write_manifest(next)?;
        self.segments.retain(|l| !replaced.contains(&l.meta.id));
        for meta in metas {
            self.load(meta)?;
        }
        self.sweep();
        Ok(())
    }

    /// Replaces the manifest by `next` (synced, renamed).
    fn write_manifest(&mut self, next: Manifest) -> Result<(), IndexError> {
        sync_dir(&self.dir)?;
        write_atomic(&self.dir.join(MANIFEST), &next.encode())?;
        sync_dir(&self.dir)?;
        self.manifest = next;
        Ok(())
    }

    /// Marks the segments `ids` as refused by a merge, so that the policy leaves them alone.
    fn refuse_merge(&mut self, ids: &[u64]) -> Result<(), IndexError> {
        let mut next = self.manifest.clone();
        for s in next.segments.iter_mut().filter(|s| ids.contains(&s.id)) {
            s.merge_refused = true;
        }
        self.write_manifest(next)?;
        for l in self.segments.iter_mut().filter(|l| ids.contains(&l.meta.id)) {
            l.meta.merge_refused = true;
        }
        Ok(())
    }

    /// Removes files no manifest lists: segments replaced by a merge, and whatever a crashed
    /// write left behind. Best effort: a leftover file is unreferenced and harmless.
    fn sweep(&self) {
        let live: BTreeSet<String> = self
            .manifest
            .segments
            .iter()
            .flat_map(|s| ["text", "sa", "docs"].map(|ext| format!("seg-{:010}.{ext}", s.id)))
            .collect();
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with("seg-") || name.ends_with(".tmp");
            if ours && !live.contains(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Merges the segments with ids `ids` (in id order) into one.
    fn merge_ids(&mut self, ids: &[u64]) -> Result<(), IndexError> {
        let views: Vec<SegmentView<'_>> =
            self.segments.iter().filter(|l| ids.contains(&l.meta.id)).map(Loaded::view).collect();
        let id = self.manifest.next_segment;
        let meta = self.write_merged(id, &views)?;
        drop(views);
        self.install(vec![meta], ids, id + 1)
    }

    /// Applies `policy` until no tier is full. Returns the number of merges done.
    pub fn merge(&mut self, policy: MergePolicy) -> Result<usize, IndexError> {
        let fan_in = policy.fan_in.max(2);
        let mut merges = 0;
        loop {
            let mut tiers: std::collections::BTreeMap<u32, Vec<(u64, u64)>> = Default::default();
            for l in self.segments.iter().filter(|l| !l.meta.merge_refused) {
                let tier = tier_of(l.meta.text_bytes, fan_in as u64);
                tiers.entry(tier).or_default().push((l.meta.id, l.meta.text_bytes));
            }
            let Some(group) = tiers.into_values().find(|g| g.len() >= fan_in) else {
                return Ok(merges);
            };
            let mut group = group;
            group.sort_unstable();
            let ids: Vec<u64> = group.iter().take(fan_in).map(|(id, _)| *id).collect();
            let bytes: u64 = group.iter().take(fan_in).map(|(_, b)| *b).sum();
            if bytes > crate::MERGED_SEGMENT_BYTES_MAX {
                return Ok(merges);
            }
            match self.merge_ids(&ids) {
                Ok(()) => merges += 1,
                // Too repetitive to merge past one construction: the segments stay apart, and
                // are not tried again (each try would cost the merge's budget).
                Err(IndexError::TooRepetitive { .. }) => self.refuse_merge(&ids)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Merges every segment into one (when the result fits in a segment).
    pub fn compact(&mut self) -> Result<(), IndexError> {
        if self.segments.len() < 2 {
            return Ok(());
        }
        let ids: Vec<u64> = self.manifest.segments.iter().map(|s| s.id).collect();
        self.merge_ids(&ids)
    }

    /// Whether the index holds a document of `contribution`.
    #[must_use]
    pub fn contains(&self, contribution: ContributionId) -> bool {
        self.contributions.contains(&contribution)
    }

    /// Writes the index as it is now to `dest`, which must not exist: hard links to the
    /// immutable segment files (copies where the file system cannot link) and the manifest.
    /// The copy is assembled under a temporary name and renamed, so `dest` is whole or absent.
    /// Later appends and merges here never change it: that is how each datanet version keeps
    /// its own index at almost no cost.
    pub fn snapshot(&self, dest: &Path) -> Result<(), IndexError> {
        if dest.exists() {
            return Err(IndexError::AlreadyExists(dest.to_owned()));
        }
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        for meta in &self.manifest.segments {
            for ext in ["text", "sa", "docs"] {
                let from = seg_path(&self.dir, meta.id, ext);
                let to = seg_path(&tmp, meta.id, ext);
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(|e| IndexError::io(&to, e))?;
                }
            }
        }
        write_atomic(&tmp.join(MANIFEST), &self.manifest.encode())?;
        sync_dir(&tmp)?;
        fs::rename(&tmp, dest).map_err(|e| IndexError::io(dest, e))?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// Recomputes every segment file's BLAKE3 hash and compares it with the manifest.
    pub fn verify(&self) -> Result<(), IndexError> {
        for l in &self.segments {
            let m = &l.meta;
            let text = l.text.as_deref().unwrap_or(&[]);
            let sa = l.sa.as_deref().unwrap_or(&[]);
            let docs_path = seg_path(&self.dir, m.id, "docs");
            let docs = fs::read(&docs_path).map_err(|e| IndexError::io(&docs_path, e))?;
            for (bytes, want, ext) in [
                (text, &m.text_hash, "text"),
                (sa, &m.sa_hash, "sa"),
                (&docs[..], &m.docs_hash, "docs"),
            ] {
                if &hash(bytes) != want {
                    return Err(IndexError::corrupt(
                        seg_path(&self.dir, m.id, ext),
                        "hash mismatch",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Text bytes one suffix-array construction of an append takes at most: larger batches are
/// built in parts of this size and merged (SA-IS needs about five bytes per text byte, and
/// one construction takes at most 2 GiB).
pub const BUILD_PART_BYTES: usize = 1 << 30;

/// `docs` cut into consecutive runs of at most `part_bytes` of text (a larger document is a
/// run of its own).
fn build_batches(docs: &[Document], part_bytes: usize) -> Vec<&[Document]> {
    let mut out = Vec::new();
    let (mut from, mut bytes) = (0, 0usize);
    for (i, d) in docs.iter().enumerate() {
        let len = d.text.len() + 1;
        if i > from && bytes + len > part_bytes {
            out.push(&docs[from..i]);
            (from, bytes) = (i, 0);
        }
        bytes += len;
    }
    out.push(&docs[from..]);
    out
}

fn tier_of(bytes: u64, fan_in: u64) -> u32 {
    let mut tier = 0;
    let mut size = bytes.max(1);
    while size >= fan_in {
        size /= fan_in;
        tier += 1;
    }
    tier
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
