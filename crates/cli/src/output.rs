//! User-facing output: data on stdout (text or JSON), errors on stderr with a `hint:`.
//!
//! With `--json`, stdout carries JSON only, failures included: a failed command prints one
//! document `{"error": {"code", "message", "hint"}}` (the code a stable snake_case name from
//! [`code_for`], the hint `null` when there is none; a failed transaction adds `"tx"` with its
//! hash and height). A command that already printed its own document describing the failure
//! (a refused contribution, a failed receipt) keeps it as the only document, so stdout always
//! parses as JSON. Errors also go to stderr as text, in both modes.

use alx_client::ClientError;
use alx_keys::KeystoreError;
use alx_node::StartError;
use serde::Serialize;
use std::{
    io::IsTerminal as _,
    sync::atomic::{AtomicBool, Ordering},
};

/// Set once a document has been printed on stdout under `--json`.
static DOCUMENT_PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints `value` as JSON, or `text` for humans.
pub(crate) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
        DOCUMENT_PRINTED.store(true, Ordering::Relaxed);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// An error with a stable code and a suggested fix.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// The code of a [`hinted`] error that names none.
pub(crate) const CODE_HINTED_DEFAULT: &str = "command_failed";

/// An error with a hint (code [`CODE_HINTED_DEFAULT`]).
pub(crate) fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    coded(CODE_HINTED_DEFAULT, message, hint)
}

/// An error with a stable snake_case `code` and a hint.
pub(crate) fn coded(
    code: &'static str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(Hinted { code, message: message.into(), hint: hint.into() })
}

/// A transaction that was committed with a failed receipt. Callers that act on the failure
/// (a validator retrying a reveal) downcast to it and match `code`.
#[derive(Debug)]
pub(crate) struct TxFailed {
    /// What was sent (`subnet commit`, …).
    pub(crate) what: String,
    /// The transaction hash (hex).
    pub(crate) hash: String,
    /// The height it was committed at.
    pub(crate) height: alx_types::Height,
    /// The receipt's error code (always present on a failed receipt).
    pub(crate) code: Option<alx_types::ErrorCode>,
    /// What to do about it.
    pub(crate) hint: String,
}

impl std::fmt::Display for TxFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.code.map_or("unknown", alx_types::ErrorCode::as_str);
        write!(f, "{} {} failed at height {}: {code}", self.what, self.hash, self.height)
    }
}

impl std::error::Error for TxFailed {}

/// Longest error code taken from a node's answer.
const NODE_CODE_LEN_MAX: usize = 64;

/// A node's `error.type`, if it is a plain snake_case name; the node is not trusted to send
/// one (it is printed to terminals and matched by scripts).
fn node_code(kind: &str) -> &str {
    let plain = !kind.is_empty()
        && kind.len() <= NODE_CODE_LEN_MAX
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain { kind } else { "node_error" }
}

/// The stable snake_case code of an error: the first cause in the chain that has one.
pub(crate) fn code_for(err: &anyhow::Error) -> String {
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return h.code.to_owned();
        }
        if let Some(f) = cause.downcast_ref::<TxFailed>() {
            return f.code.map_or("tx_failed", alx_types::ErrorCode::as_str).to_owned();
        }
        if let Some(s) = cause.downcast_ref::<StartError>() {
            return match s {
                StartError::HomeInUse { .. } => "home_in_use",
                StartError::Listen { .. } if s.is_address_in_use() => "port_in_use",
                StartError::Listen { .. } => "cannot_listen",
                StartError::Lock { .. } => "io_error",
            }
            .to_owned();
        }
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return match c {
                ClientError::Connect { .. } => "node_unreachable",
                ClientError::Api { kind, .. } => node_code(kind),
                ClientError::Decode(_) => "bad_node_response",
                ClientError::Timeout(_) => "timeout",
            }
            .to_owned();
        }
        if let Some(k) = cause.downcast_ref::<KeystoreError>() {
            return match k {
                KeystoreError::NotFound(_) => "key_not_found",
                KeystoreError::AlreadyExists(_) => "key_exists",
                KeystoreError::InvalidName(_) => "bad_key_name",
                KeystoreError::WrongPassphrase(_) => "wrong_passphrase",
                KeystoreError::InvalidMnemonic(_) => "bad_mnemonic",
                _ => "keystore_error",
            }
            .to_owned();
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "io_error".to_owned();
        }
    }
    "error".to_owned()
}

fn hint_for(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
        if let Some(f) = cause.downcast_ref::<TxFailed>() {
            return Some(f.hint.clone());
        }
        if let Some(s) = cause.downcast_ref::<StartError>() {
            return Some(start_hint(s));
        }
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return Some(match c {
                ClientError::Connect { url, .. } => {
                    format!(
                        "is a node running at {url}? start one with `alx up`, or pass --node URL"
                    )
                }
                ClientError::Api { kind, .. } if kind == "bad_nonce" => {
                    "another transaction from this account is pending; wait for it, then retry"
                        .into()
                }
                ClientError::Api { kind, .. }
                    if kind == "insufficient_fee" || kind == "insufficient_funds" =>
                {
                    "check the balance with `alx balance KEY`".into()
                }
                ClientError::Api { kind, .. } if kind == "mempool_full" => {
                    "the node is busy; retry in a few seconds".into()
                }
                _ => continue,
            });
        }
        if let Some(k) = cause.downcast_ref::<KeystoreError>() {
            return Some(match k {
                KeystoreError::NotFound(_) => {
                    "list keys with `alx keys list`, or create one with `alx keys new NAME`".into()
                }
                KeystoreError::WrongPassphrase(_) => {
                    "check ALX_PASSPHRASE (or the passphrase you typed)".into()
                }
                KeystoreError::AlreadyExists(_) => {
                    "pick another name; keys are never overwritten".into()
                }
                _ => continue,
            });
        }
    }
    None
}

/// What to do when a node cannot start: which flag or config key changes what is taken.
fn start_hint(err: &StartError) -> String {
    match err {
        StartError::HomeInUse { home, .. } => format!(
            "another alx process runs the node of {}: stop it (Ctrl-C in its terminal), or pass \
             --home NEW_DIR to run a separate network",
            home.display()
        ),
        StartError::Listen { listener, addr, config, .. } => {
            let flags = match listener {
                alx_node::Listener::Api => "--api-addr IP:PORT (`alx up`, `alx node start`)",
                alx_node::Listener::P2p => {
                    "--p2p-port PORT (`alx up` creating a home), --p2p-addr IP:PORT \
                     (`alx node start`)"
                }
            };
            let what = if err.is_address_in_use() {
                format!("another process listens on {addr} (another `alx up`?): stop it, or")
            } else {
                format!("{addr} is not an address of this machine:")
            };
            format!(
                "{what} pick another {listener} address: {flags}, or {} in {}",
                listener.config_key(),
                config.display()
            )
        }
        StartError::Lock { path, .. } => {
            format!("check that {} is writable", path.display())
        }
    }
}

/// `text` without control characters: error messages quote what nodes and files said, and a
/// terminal must not take any of it as a command.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' { '\u{fffd}' } else { c }).collect()
}

/// The error document printed on stdout under `--json`.
pub(crate) fn error_document(err: &anyhow::Error) -> serde_json::Value {
    let mut error = serde_json::json!({
        "code": code_for(err),
        "message": printable(&format!("{err:#}")),
        "hint": hint_for(err),
    });
    if let Some(f) = err.chain().find_map(|c| c.downcast_ref::<TxFailed>()) {
        error["tx"] = serde_json::json!({ "hash": f.hash, "height": f.height });
    }
    serde_json::json!({ "error": error })
}

/// Prints an error and its causes on stderr, then a hint if one applies; with `json`, also the
/// error document on stdout (unless the command printed its own document already).
pub(crate) fn print_error(err: &anyhow::Error, json: bool) {
    eprintln!("error: {}", printable(&format!("{err:#}")));
    if let Some(hint) = hint_for(err) {
        eprintln!("hint: {}", printable(&hint));
    }
    if json && !DOCUMENT_PRINTED.load(Ordering::Relaxed) {
        println!("{}", error_document(err));
    }
}

/// Whether to colour what goes to a stream: only a terminal, and never when `NO_COLOR` is set
/// to a non-empty value (<https://no-color.org>).
pub(crate) fn use_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// [`use_color`] for stderr, where logs go.
pub(crate) fn stderr_color() -> bool {
    use_color(std::io::stderr().is_terminal(), std::env::var_os(crate::env::NO_COLOR).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let check = |terminal, no_color: Option<&str>, expect| {
            let v = no_color.map(std::ffi::OsStr::new);
            assert_eq!(use_color(terminal, v), expect, "{terminal} {no_color:?}");
        };
        check(true, None, true);
        check(true, Some(""), true);
        check(true, Some("1"), false);
        check(false, None, false);
        check(false, Some("1"), false);
    }

    #[test]
    fn error_documents_have_stable_codes_and_hints() {
        let check = |err: anyhow::Error, code: &str, hint: bool| {
            let doc = error_document(&err);
            assert_eq!(doc["error"]["code"], code, "{doc}");
            assert_eq!(doc["error"]["hint"].is_string(), hint, "{doc}");
            assert!(doc["error"]["message"].is_string(), "{doc}");
        };
        check(coded("insufficient_balance", "too much", "less"), "insufficient_balance", true);
        check(hinted("bad", "fix").context("while sending"), CODE_HINTED_DEFAULT, true);
        check(anyhow::anyhow!("plain"), "error", false);
        let api = |kind: &str| ClientError::Api {
            status: 400,
            kind: kind.into(),
            message: "m".into(),
            code: None,
        };
        check(api("bad_nonce").into(), "bad_nonce", true);
        // A node's error type is hostile text: anything but a short snake_case name is replaced.
        check(api("\u{1b}[31mred").into(), "node_error", false);
        check(api(&"a".repeat(65)).into(), "node_error", false);
        check(KeystoreError::NotFound("x".into()).into(), "key_not_found", true);
        let in_use = StartError::HomeInUse { home: "/h".into(), pid: Some(7) };
        check(in_use.into(), "home_in_use", true);
        let taken = StartError::Listen {
            listener: alx_node::Listener::P2p,
            addr: "127.0.0.1:7800".parse().unwrap(),
            config: "/h/config.toml".into(),
            source: std::io::ErrorKind::AddrInUse.into(),
        };
        let doc = error_document(&taken.into());
        assert_eq!(doc["error"]["code"], "port_in_use");
        let hint = doc["error"]["hint"].as_str().unwrap();
        assert!(hint.contains("127.0.0.1:7800") && hint.contains("p2p_addr"), "{hint}");
        let failed = TxFailed {
            what: "transfer".into(),
            hash: "ab".into(),
            height: alx_types::Height(9),
            code: Some(alx_types::ErrorCode::InsufficientFunds),
            hint: "h".into(),
        };
        let doc = error_document(&failed.into());
        assert_eq!(doc["error"]["code"], "insufficient_funds");
        assert_eq!(doc["error"]["tx"]["height"], 9);
    }
}
