//! Why a node could not start, for the failures a user can fix: another process holds the home
//! or one of the node's addresses. Everything else stays an `anyhow` chain with context.

use std::{fmt, io, net::SocketAddr, path::PathBuf};

/// Which of the node's listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The HTTP API (`api_addr`).
    Api,
    /// The validators' p2p endpoint (`p2p_addr`).
    P2p,
}

impl Listener {
    /// The key of `config.toml` that sets this listener's address.
    #[must_use]
    pub const fn config_key(self) -> &'static str {
        match self {
            Self::Api => "api_addr",
            Self::P2p => "p2p_addr",
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Api => "API",
            Self::P2p => "p2p network",
        })
    }
}

/// A failure to start that the user can fix, with what they need to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another process holds the home's lock (`alx.lock`): two processes on one store would
    /// corrupt it, so the second one stops before opening anything.
    #[error("{} is in use by another alx process{}", home.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    HomeInUse {
        /// The home directory.
        home: PathBuf,
        /// The process holding it, as it wrote in the lock file (a hint, not a proof).
        pid: Option<u32>,
    },
    /// A listener's address cannot be bound.
    #[error("cannot listen on {addr} for the {listener}")]
    Listen {
        /// Which listener.
        listener: Listener,
        /// The address it was given.
        addr: SocketAddr,
        /// The config file that holds that address.
        config: PathBuf,
        /// The operating system's refusal.
        #[source]
        source: io::Error,
    },
    /// The lock file cannot be created or locked for another reason than a holder.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl StartError {
    /// True if another process listens on the address (as opposed to, say, an address this
    /// machine does not have).
    #[must_use]
    pub fn is_address_in_use(&self) -> bool {
        matches!(self, Self::Listen { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
    }
}
