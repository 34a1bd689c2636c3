//! `alx keys new|list|show|import`.

use crate::{
    Globals,
    output::{emit, hinted},
    wallet,
};
use clap::Subcommand;
use std::io::{BufRead as _, IsTerminal as _};

/// `alx keys …`.
#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key from a new 24-word mnemonic, encrypted with a passphrase.
    New {
        /// Name of the key (letters, digits, '-' and '_').
        name: String,
        /// Store without a passphrase (only for throwaway development keys).
        #[arg(long)]
        no_passphrase: bool,
    },
    /// List keys.
    List,
    /// Show one key's address.
    Show {
        /// Name of the key.
        name: String,
    },
    /// API keys for the OpenAI-compatible gateway, paid from a prepaid deposit.
    #[command(subcommand)]
    ApiKey(super::usage::ApiKeyCommand),
    /// Import a key from its mnemonic, read from stdin (one line).
    Import {
        /// Name of the key.
        name: String,
        /// Store without a passphrase.
        #[arg(long)]
        no_passphrase: bool,
    },
}

fn new_passphrase(no_passphrase: bool) -> anyhow::Result<Option<String>> {
    if no_passphrase {
        return Ok(None);
    }
    let first = wallet::passphrase("new passphrase: ")?;
    if std::env::var(crate::env::ALX_PASSPHRASE).is_err() {
        let again = wallet::passphrase("repeat passphrase: ")?;
        if again != first {
            return Err(hinted("the passphrases differ", "type the same passphrase twice"));
        }
    }
    if first.is_empty() {
        return Err(hinted(
            "empty passphrase",
            "choose a passphrase, or pass --no-passphrase for a throwaway key",
        ));
    }
    Ok(Some(first))
}

pub(crate) fn run(g: &Globals, cmd: KeysCommand) -> anyhow::Result<()> {
    let store = wallet::keystore(g)?;
    match cmd {
        KeysCommand::New { name, no_passphrase } => {
            let pass = new_passphrase(no_passphrase)?;
            let (info, mnemonic) = store.create(&name, pass.as_deref())?;
            let phrase = mnemonic.phrase();
            let value = serde_json::json!({ "key": info, "mnemonic": phrase.as_str() });
            emit(g.json, &value, || {
                format!(
                    "created key {} {}\n\nmnemonic (write it down; it is the only way to recover this key):\n{}",
                    info.name,
                    info.address,
                    phrase.as_str()
                )
            })
        }
        KeysCommand::List => {
            let list = store.list()?;
            for err in &list.errors {
                eprintln!("warning: {err}");
            }
            let keys = list.keys;
            emit(g.json, &keys, || {
                if keys.is_empty() {
                    return "no keys; create one with `alx keys new NAME`".into();
                }
                keys.iter()
                    .map(|k| {
                        format!(
                            "{:<16} {} {}",
                            k.name,
                            k.address,
                            if k.encrypted { "" } else { "(no passphrase)" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        KeysCommand::Show { name } => {
            let info = store.info(&name)?;
            emit(g.json, &info, || format!("{} {}", info.name, info.address))
        }
        KeysCommand::ApiKey(c) => super::usage::api_key(g, c),
        KeysCommand::Import { name, no_passphrase } => {
            if std::io::stdin().is_terminal() {
                eprintln!("mnemonic (24 words, one line): ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let pass = new_passphrase(no_passphrase)?;
            let info = store.import_mnemonic(&name, line.trim(), pass.as_deref())?;
            emit(g.json, &info, || format!("imported key {} {}", info.name, info.address))
        }
    }
}
