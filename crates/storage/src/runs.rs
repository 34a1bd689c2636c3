//! Sorted runs: an append-mostly index of fixed-width records (a key, then a value), kept as
//! immutable files of sorted records, as log-structured merge trees keep their tables.
//!
//! An append sorts its records and writes them as one new file, sequentially; a B-tree would
//! instead insert them one by one into pages all over the tree, which for random keys (hashes)
//! costs microseconds per record and rewrites most pages. Runs are merged two at a time
//! whenever the newer holds at least half as many records as the older, so their sizes fall
//! geometrically, a lookup searches O(log n) runs, and a record is rewritten O(log n) times.
//!
//! Durability: a run is written to a temporary file, synced and renamed into place, then the
//! manifest (runs, and the height the records reach) is replaced the same way. After a crash
//! the manifest lists whole runs only, and files it does not list are deleted at open.
//! Of records with equal keys, the last appended wins: within an append the last in its input
//! order, across runs the newer run's (a replay after a crash appends the same records again;
//! a block may hold two transactions with one hash, the later one answering, as before runs).

use crate::{Result, StorageError};
use alx_types::hash::sha256;
use filebuffer::FileBuffer;
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

const MANIFEST: &str = "MANIFEST";
const MAGIC: &[u8; 8] = b"ALXRUNS1";

/// One immutable run file, mapped.
struct Run {
    id: u64,
    count: u64,
    map: Option<FileBuffer>,
}

impl Run {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// What the manifest lists.
#[derive(Clone)]
struct Listing {
    /// Every record of heights below it is in the runs.
    next_height: u64,
    next_id: u64,
    /// Oldest first.
    runs: Vec<Arc<Run>>,
}

/// A set of runs in a directory of its own.
pub struct Runs {
    dir: PathBuf,
    key_len: usize,
    record_len: usize,
    listing: RwLock<Arc<Listing>>,
    /// Held by the one writer at a time.
    write: Mutex<()>,
}

impl Runs {
    /// Opens (or creates) the runs in `dir`, of records `key_len + value_len` bytes long.
    ///
    /// # Errors
    /// The directory cannot be read or written, or its manifest or runs are damaged.
    pub fn open(dir: &Path, key_len: usize, value_len: usize) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| io(dir, &e))?;
        let record_len = key_len + value_len;
        let Manifest { next_height, next_id, runs: listed } = read_manifest(dir, record_len)?;
        let mut runs = Vec::with_capacity(listed.len());
        for (id, count) in listed {
            let path = run_path(dir, id);
            let len = match fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(corrupt(&path, "listed in the manifest but missing"));
                }
                Err(e) => return Err(io(&path, &e)),
            };
            if Some(len) != count.checked_mul(record_len as u64) {
                return Err(corrupt(&path, "its length does not match the manifest"));
            }
            runs.push(Arc::new(Run { id, count, map: map_run(&path, len)? }));
        }
        // Runs written or merged before a crash but never listed.
        for entry in fs::read_dir(dir).map_err(|e| io(dir, &e))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let listed = runs.iter().any(|r| run_name(r.id) == name);
            if name != MANIFEST && !listed {
                let _ = fs::remove_file(entry.path());
            }
        }
        let listing = Listing { next_height, next_id, runs };
        Ok(Self {
            dir: dir.to_owned(),
            key_len,
            record_len,
            listing: RwLock::new(Arc::new(listing)),
            write: Mutex::new(()),
        })
    }

    /// Opens the runs in `dir` like [`Runs::open`], but starts them over, empty, when their
    /// files are damaged: for indexes derived from the chain, which their owner rebuilds from
    /// [`Runs::next_height`] on.
    ///
    /// # Errors
    /// The directory cannot be read, removed or written.
    pub fn open_or_start_over(dir: &Path, key_len: usize, value_len: usize) -> Result<Self> {
        match Self::open(dir, key_len, value_len) {
            Err(StorageError::Corrupt { .. }) if dir.join(MANIFEST).exists() => {
                fs::remove_dir_all(dir).map_err(|e| io(dir, &e))?;
                Self::open(dir, key_len, value_len)
            }
            opened => opened,
        }
    }

    fn listing(&self) -> Arc<Listing> {
        self.listing.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Every record of heights below this is in the runs.
    #[must_use]
    pub fn next_height(&self) -> u64 {
        self.listing().next_height
    }

    /// Adds `records` (concatenated, in any order) as a new run, and records that the runs now
    /// reach `next_height`; then merges runs as the policy says ([`Runs::compact`]). Whole or
    /// not at all.
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn append(&self, records: Vec<u8>, next_height: u64) -> Result<()> {
        self.add(records, next_height)?;
        self.compact()
    }

    /// Adds `records` (concatenated, in any order) as a new run, and records that the runs now
    /// reach `next_height`, without merging: once it returns, lookups find the records. Whole
    /// or not at all.
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn add(&self, mut records: Vec<u8>, next_height: u64) -> Result<()> {
        let _writer = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut listing = (*self.listing()).clone();
        if !records.is_empty() {
            sort_records(&mut records, self.record_len, self.key_len);
            let run = self.write_run(listing.next_id, |out| out.write_all(&records))?;
            listing.next_id += 1;
            listing.runs.push(Arc::new(run));
        }
        listing.next_height = next_height;
        self.install(listing)
    }

    /// Merges the two newest runs while the newer holds at least half as many records as the
    /// older, so run sizes fall geometrically. Lookups are served throughout.
    ///
    /// # Errors
    /// A file cannot be written (the runs stay as they were before the failed merge).
    pub fn compact(&self) -> Result<()> {
        let _writer = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut listing = (*self.listing()).clone();
        while let [.., older, newer] = listing.runs.as_slice()
            && older.count <= newer.count.saturating_mul(2)
        {
            let (older, newer) = (older.clone(), newer.clone());
            let merged = self.write_run(listing.next_id, |out| {
                merge(older.bytes(), newer.bytes(), self.record_len, self.key_len, out)
            })?;
            listing.next_id += 1;
            listing.runs.truncate(listing.runs.len() - 2);
            listing.runs.push(Arc::new(merged));
            self.install(listing.clone())?;
            for gone in [older.id, newer.id] {
                // Readers holding the old listing keep their maps; the names go now.
                let _ = fs::remove_file(run_path(&self.dir, gone));
            }
        }
        Ok(())
    }

    /// Empties the runs: no records, heights from 1.
    ///
    /// # Errors
    /// The manifest cannot be written.
    pub fn reset(&self) -> Result<()> {
        let _writer = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.listing();
        self.install(Listing { next_height: 1, next_id: old.next_id, runs: Vec::new() })?;
        for run in &old.runs {
            let _ = fs::remove_file(run_path(&self.dir, run.id));
        }
        Ok(())
    }

    /// The value stored under `key`, newest run first.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let listing = self.listing();
        listing.runs.iter().rev().find_map(|run| {
            let bytes = run.bytes();
            let at = lower_bound(bytes, self.record_len, self.key_len, key);
            let record = bytes.get(at * self.record_len..(at + 1) * self.record_len)?;
            (&record[..self.key_len] == key).then(|| record[self.key_len..].to_vec())
        })
    }

    /// Records with keys in `low..high`, highest key first, at most `limit`, each once.
    #[must_use]
    pub fn range_rev(&self, low: &[u8], high: &[u8], limit: usize) -> Vec<Vec<u8>> {
        let listing = self.listing();
        let (len, key_len) = (self.record_len, self.key_len);
        // Per run: the records in range, as [start, end) record numbers; walked from the end.
        let mut cursors: Vec<(&[u8], usize, usize)> = listing
            .runs
            .iter()
            .map(|run| {
                let bytes = run.bytes();
                let start = lower_bound(bytes, len, key_len, low);
                let end = lower_bound(bytes, len, key_len, high);
                (bytes, start, end.max(start))
            })
            .collect();
        let mut out: Vec<Vec<u8>> = Vec::new();
        while out.len() < limit {
            let best = cursors
                .iter()
                .enumerate()
                .filter(|(_, (_, start, end))| end > start)
                .max_by(|a, b| last_key(a.1, len, key_len).cmp(last_key(b.1, len, key_len)))
                .map(|(i, _)| i);
            let Some(i) = best else { break };
            let (bytes, _, end) = &mut cursors[i];
            *end -= 1;
            let record = &bytes[*end * len..(*end + 1) * len];
            if out.last().is_none_or(|last| last[..key_len] != record[..key_len]) {
                out.push(record.to_vec());
            }
        }
        out
    }

    /// Writes a run through `fill` to a synced temporary file, renamed into place.
    fn write_run(
        &self,
        id: u64,
        fill: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> std::io::Result<()>,
    ) -> Result<Run> {
        let path = run_path(&self.dir, id);
        let tmp = path.with_extension("tmp");
        let written = (|| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
            fill(&mut out)?;
            let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io(&path, &e));
        }
        let len = fs::metadata(&path).map_err(|e| io(&path, &e))?.len();
        Ok(Run { id, count: len / self.record_len as u64, map: map_run(&path, len)? })
    }

    /// Replaces the manifest with `listing` (synced, renamed, directory synced), then serves it.
    fn install(&self, listing: Listing) -> Result<()> {
        let mut bytes = Vec::with_capacity(36 + 16 * listing.runs.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.record_len as u64).to_be_bytes());
        bytes.extend_from_slice(&listing.next_height.to_be_bytes());
        bytes.extend_from_slice(&listing.next_id.to_be_bytes());
        for run in &listing.runs {
            bytes.extend_from_slice(&run.id.to_be_bytes());
            bytes.extend_from_slice(&run.count.to_be_bytes());
        }
        let sum = sha256(&[&bytes]);
        bytes.extend_from_slice(sum.as_ref());
        let path = self.dir.join(MANIFEST);
        let tmp = path.with_extension("tmp");
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        written.map_err(|e| io(&path, &e))?;
        *self.listing.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(listing);
        Ok(())
    }
}

/// What a manifest file says.
struct Manifest {
    next_height: u64,
    next_id: u64,
    /// (id, records), oldest first.
    runs: Vec<(u64, u64)>,
}

/// The manifest in `dir`; a missing one is an empty set of runs.
fn read_manifest(dir: &Path, record_len: usize) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Manifest { next_height: 1, next_id: 0, runs: Vec::new() });
        }
        Err(e) => return Err(io(&path, &e)),
    };
    let bad = || corrupt(&path, "not a manifest of runs, or damaged");
    if bytes.len() < 64 {
        return Err(bad());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if sha256(&[body]).as_ref() != sum || (body.len() - 32) % 16 != 0 {
        return Err(bad());
    }
    let u64_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().unwrap_or_default());
    if &body[..8] != MAGIC || u64_at(8) != record_len as u64 {
        return Err(bad());
    }
    let runs: Vec<(u64, u64)> = body[32..]
        .chunks_exact(16)
        .map(|c| {
            let id = u64::from_be_bytes(c[..8].try_into().unwrap_or_default());
            (id, u64::from_be_bytes(c[8..].try_into().unwrap_or_default()))
        })
        .collect();
    let next_id = u64_at(24);
    // Ids are handed out in increasing order: a list that is not, or names an id not yet
    // handed out, would let a new run overwrite a listed one.
    if !runs.windows(2).all(|w| w[0].0 < w[1].0) || runs.last().is_some_and(|r| r.0 >= next_id) {
        return Err(bad());
    }
    Ok(Manifest { next_height: u64_at(16), next_id, runs })
}

/// Maps a run file of `len` bytes (an empty one is not mapped).
fn map_run(path: &Path, len: u64) -> Result<Option<FileBuffer>> {
    if len == 0 {
        return Ok(None);
    }
    FileBuffer::open(path).map(Some).map_err(|e| io(path, &e))
}

fn run_name(id: u64) -> String {
    format!("run-{id:016x}")
}

fn run_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(run_name(id))
}

/// The number of the first record whose key is not below `key`.
fn lower_bound(bytes: &[u8], len: usize, key_len: usize, key: &[u8]) -> usize {
    let (mut lo, mut hi) = (0, bytes.len() / len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if &bytes[mid * len..mid * len + key_len] < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The key of the last record of a cursor's range (which is not empty).
fn last_key<'a>(
    &(bytes, _, end): &(&'a [u8], usize, usize),
    len: usize,
    key_len: usize,
) -> &'a [u8] {
    bytes.get((end - 1) * len..(end - 1) * len + key_len).unwrap_or_default()
}

/// Sorts concatenated records by key, keeping of each key the last in input order.
fn sort_records(records: &mut Vec<u8>, len: usize, key_len: usize) {
    let mut order: Vec<&[u8]> = records.chunks_exact(len).collect();
    // Stable, so equal keys stay in input order; then the last of each group is kept.
    order.sort_by(|a, b| a[..key_len].cmp(&b[..key_len]));
    let mut sorted = Vec::with_capacity(records.len());
    for (i, record) in order.iter().enumerate() {
        let last_of_key = order.get(i + 1).is_none_or(|next| next[..key_len] != record[..key_len]);
        if last_of_key {
            sorted.extend_from_slice(record);
        }
    }
    *records = sorted;
}

/// Merges two sorted runs into `out`; of equal keys, `newer`'s record is kept.
fn merge(
    older: &[u8],
    newer: &[u8],
    len: usize,
    key_len: usize,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let (mut a, mut b) = (older.chunks_exact(len).peekable(), newer.chunks_exact(len).peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (Some(x), Some(y)) => match x[..key_len].cmp(&y[..key_len]) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next()
                }
            },
        };
        if let Some(record) = next {
            out.write_all(record)?;
        }
    }
}

fn io(path: &Path, e: &std::io::Error) -> StorageError {
    StorageError::Runs(format!("{}: {e}", path.display()))
}

fn corrupt(path: &Path, why: &str) -> StorageError {
    StorageError::Corrupt { what: "sorted runs", at: format!("{}: {why}", path.display()) }
}

#[cfg(test)]
mod tests;
