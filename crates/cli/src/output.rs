//! User-facing output: data on stdout (text or JSON), errors on stderr with a `hint:`.

use alx_client::ClientError;
use alx_keys::KeystoreError;
use serde::Serialize;

/// Prints `value` as JSON, or `text` for humans.
pub(crate) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// An error with a suggested fix.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error with a hint.
pub(crate) fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message: message.into(), hint: hint.into() })
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
    pub(crate) height: u64,
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

fn hint_for(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
        if let Some(f) = cause.downcast_ref::<TxFailed>() {
            return Some(f.hint.clone());
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

/// Prints an error and its causes, then a hint if one applies.
pub(crate) fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
    if let Some(hint) = hint_for(err) {
        eprintln!("hint: {hint}");
    }
}
