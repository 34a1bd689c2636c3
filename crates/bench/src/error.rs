//! What can stop a benchmark. A benchmark either measures everything it promised or fails: a
//! figure is never silently left out, except where its report says so (`null`).

use alx_client::ClientError;
use std::time::Duration;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A configuration value outside what the benchmark can run (a programmer's or a user's
    /// mistake, caught before anything is measured).
    #[error("{what} must be {rule}")]
    Config {
        /// The field.
        what: &'static str,
        /// What it must be.
        rule: &'static str,
    },
    /// A local operating-system operation failed (a temporary directory, a port, a process).
    #[error("cannot {what}")]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The home of a benchmark network could not be laid out.
    #[error("cannot lay out the benchmark network's home")]
    Home(#[source] anyhow::Error),
    /// The in-process benchmark node stopped with an error.
    #[error("the benchmark node stopped")]
    Node(#[source] anyhow::Error),
    /// A request to the node's API failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Something the benchmark waits for did not happen in time.
    #[error("{what} within {waited:?}")]
    Timeout {
        /// What was awaited, phrased as its absence (`no block 1`).
        what: String,
        /// How long the benchmark waited.
        waited: Duration,
    },
    /// The node refused transactions the benchmark signed as valid.
    #[error("node refused {count} transactions: {first}")]
    Refused {
        /// How many were refused in the batch.
        count: usize,
        /// The first refusal, as the node sent it.
        first: String,
    },
    /// A batch the benchmark built does not check out (a bug in the benchmark or the check).
    #[error("the benchmark's own batch does not check: {0}")]
    Check(String),
    /// The in-memory chain of a state benchmark could not be built, or refused a block.
    #[error("the benchmark's in-memory chain failed: {0}")]
    Chain(String),
    /// A worker thread of the benchmark panicked.
    #[error("a {0} panicked")]
    Panicked(&'static str),
    /// A Yuma subnet refused to advance (a bug in the benchmark's inputs).
    #[error(transparent)]
    Yuma(#[from] alx_yuma::YumaError),
    /// The attribution index of a benchmark failed.
    #[error(transparent)]
    Attribution(#[from] alx_attribution::IndexError),
    /// alx-model failed to load or run the model.
    #[error(transparent)]
    Model(#[from] alx_model::Error),
    /// The llama.cpp peer could not run, or ran and failed.
    #[error("the llama.cpp peer failed: {0}")]
    Peer(String),
    /// The llama.cpp peer's report did not parse.
    #[error("the llama.cpp peer printed no JSON report")]
    PeerReport(#[source] serde_json::Error),
    /// A request to an HTTP server under measurement failed before an answer.
    #[error("cannot reach {server} at {url}")]
    Unreachable {
        /// Which server (`alexandria`, `peer`, `the node`).
        server: String,
        /// Its base URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A server under measurement answered with an error status.
    #[error("{server} answered {status}")]
    Status {
        /// Which server.
        server: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
    },
    /// A server's answer (a body or a stream chunk) was not the JSON expected.
    #[error("{server}'s answer is not JSON")]
    Answer {
        /// Which server.
        server: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A server's streamed answer broke off.
    #[error("{server}'s stream broke off")]
    Stream {
        /// Which server.
        server: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The gateway's answer carried no `Server-Timing` stages.
    #[error("the gateway sent no Server-Timing stages (an older node?)")]
    NoServerTiming,
}

impl BenchError {
    /// An [`BenchError::Io`] error, for `map_err`.
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}
