//! File descriptors: a node raises its soft limit to the hard one at start (the common default
//! of 1024 is far below what a validator serving many clients needs), and the API listener is
//! then sized to half of whatever limit it got (see `alx_api::server`).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft descriptor limit to the hard limit where allowed, and returns the soft
/// limit in force afterwards.
pub fn raise_limit() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        // No way to tell: assume the common default.
        return 1024;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        tracing::debug!(from = soft, to = hard, "raised the descriptor limit");
        return hard;
    }
    soft
}
