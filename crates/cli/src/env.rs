//! Every environment variable `alx` reads, in one place. Precedence: flag > env > default.

/// Home directory of the node and wallet (default `~/.alexandria`).
pub(crate) const ALX_HOME: &str = "ALX_HOME";
/// URL of the node the wallet talks to (default `http://127.0.0.1:7700`).
pub(crate) const ALX_NODE: &str = "ALX_NODE";
/// Passphrase of encrypted keys; when set, no command prompts.
pub(crate) const ALX_PASSPHRASE: &str = "ALX_PASSPHRASE";
/// Log filter (`info`, `alx_consensus=debug`, …).
pub(crate) const ALX_LOG: &str = "ALX_LOG";
/// Disables colored output when set (any value).
pub(crate) const NO_COLOR: &str = "NO_COLOR";
