//! The index's file primitives: memory maps, and whole-or-nothing writes (a synced temporary
//! file renamed into place), from memory or streamed through a hash.

use crate::IndexError;
use filebuffer::FileBuffer;
use std::{fs, io::Write, path::Path};

/// Maps a file read-only; empty files are not mapped.
pub(super) fn map(path: &Path, len: u64) -> Result<Option<FileBuffer>, IndexError> {
    let actual = fs::metadata(path).map_err(|e| IndexError::io(path, e))?.len();
    if actual != len {
        return Err(IndexError::corrupt(path, format!("{actual} bytes, the manifest says {len}")));
    }
    if len == 0 {
        return Ok(None);
    }
    FileBuffer::open(path).map(Some).map_err(|e| IndexError::io(path, e))
}

/// Writes `bytes` to `path` via a synced temporary file and a rename.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| IndexError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))
}

/// Hashes what passes through it on its way to the file.
pub(super) struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The writer [`write_streamed`] fills.
pub(super) type Streamed = Hashing<std::io::BufWriter<fs::File>>;

/// Writes `path` through `fill` (buffered, hashed) via a synced temporary file and a rename;
/// returns the hash and what `fill` returned. Nothing is held in memory but the buffer. If
/// `fill` fails, the temporary file is removed.
pub(super) fn write_streamed<T>(
    path: &Path,
    fill: impl FnOnce(&mut Streamed, &Path) -> Result<T, IndexError>,
) -> Result<(String, T), IndexError> {
    let tmp = path.with_extension("tmp");
    let file = fs::File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    let mut out = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
    };
    let value = match fill(&mut out, &tmp) {
        Ok(value) => value,
        Err(e) => {
            drop(out);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let file = out.inner.into_inner().map_err(|e| IndexError::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))?;
    Ok((out.hasher.finalize().to_hex().to_string(), value))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IndexError::io(dir, e))
}

pub(super) fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
