//! One process per home. A node holds an exclusive lock on `<home>/alx.lock` while it runs (and
//! `alx up --validators N` on the network's root while it supervises), so a second `alx` on the
//! same home stops with [`StartError::HomeInUse`] before it opens a store, instead of the
//! store's own refusal ("Database already open"), which says nothing about what to do.
//!
//! The lock is the operating system's advisory file lock: it is released when the process
//! exits, however it exits, so a crash never leaves a stale lock behind. The holder writes its
//! pid into the file for the error message; the pid is informative only.

use crate::error::StartError;
use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read as _, Seek as _, Write as _},
    path::Path,
};

/// The lock file's name inside a home.
pub const LOCK_FILE: &str = "alx.lock";

/// Longest pid text read back from a lock file (a hostile file is not read whole).
const PID_TEXT_MAX: u64 = 32;

/// A held home lock; released on drop.
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
}

/// Takes the lock of `home` (which must exist), or says who holds it.
///
/// # Errors
/// [`StartError::HomeInUse`] if another process holds it, [`StartError::Lock`] if the file
/// cannot be created or locked.
pub fn lock(home: &Path) -> Result<HomeLock, StartError> {
    let path = home.join(LOCK_FILE);
    let failed = |source| StartError::Lock { path: path.clone(), source };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StartError::HomeInUse { home: home.to_path_buf(), pid: holder(&mut file) });
        }
        Err(TryLockError::Error(e)) => return Err(failed(e)),
    }
    // Best effort: the pid only improves the message another process shows.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()));
    Ok(HomeLock { _file: file })
}

fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(PID_TEXT_MAX).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid_and_released_on_drop() {
        let home = tempfile::tempdir().unwrap();
        let held = lock(home.path()).unwrap();
        match lock(home.path()) {
            Err(StartError::HomeInUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected HomeInUse, got {other:?}"),
        }
        drop(held);
        lock(home.path()).expect("free again once dropped");
    }
}
