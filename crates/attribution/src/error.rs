//! Errors of the attribution index.

use std::path::PathBuf;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading or writing an index file failed.
    #[error("io error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An index file is truncated, inconsistent or not an index file at all.
    #[error("corrupt index file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory already holds an index.
    #[error("an index already exists in {0}")]
    AlreadyExists(PathBuf),
    /// Input bytes are not UTF-8 (the index stores UTF-8 text only).
    #[error("input is not valid UTF-8: {reason}")]
    NotUtf8 {
        /// Where the bad bytes are.
        reason: String,
    },
    /// A contribution id already present in the index was added again.
    #[error("contribution {0} is already in the index")]
    DuplicateContribution(u64),
    /// A batch, query or output is larger than a limit.
    #[error("{what} is {actual} bytes, over the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// A query that the index cannot answer exactly.
    #[error("invalid query: {0}")]
    Query(&'static str),
    /// Segments past one construction's size repeat too much of each other's text to be
    /// merged by comparison (see `merge::scan_budget`); they stay separate segments.
    #[error(
        "the segments repeat too much text to merge ({scanned} bytes compared, budget {budget}); they stay separate"
    )]
    TooRepetitive {
        /// Bytes compared when the merge stopped.
        scanned: u64,
        /// The budget.
        budget: u64,
    },
    /// The suffix array construction library failed.
    #[error("suffix array construction failed: {0}")]
    Construction(String),
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corrupt { path: path.into(), reason: reason.into() }
    }
}
