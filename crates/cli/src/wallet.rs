//! Wallet plumbing shared by commands: the keystore, resolving a name or address, unlocking a
//! key (ALX_PASSPHRASE or a prompt), and building, signing and sending transactions.

use crate::{
    Globals, env,
    output::{TxFailed, hinted},
};
use alx_client::Client;
use alx_keys::Keystore;
use alx_types::{
    Address, Amount, ErrorCode, Transaction, TxHash, TxStatus, api::TxResponse, hash::to_hex,
    tx::Payload,
};
use commonware_cryptography::ed25519::PrivateKey;
use std::{io::IsTerminal as _, time::Duration};

/// The keystore of the home directory.
pub(crate) fn keystore(g: &Globals) -> anyhow::Result<Keystore> {
    Ok(Keystore::open(g.home.join(alx_node::home::KEYS_DIR))?)
}

/// An `alx1…` address, or the address of a key in the keystore.
pub(crate) fn resolve_address(g: &Globals, who: &str) -> anyhow::Result<Address> {
    if who.starts_with("alx1") {
        let address = who
            .parse::<Address>()
            .map_err(|e| hinted(e.to_string(), "check the address, or use a key name"))?;
        if !address.is_strict_key() {
            return Err(hinted(
                format!("{address} is not an account anyone holds a key for"),
                "the chain refuses addresses that are not strict ed25519 keys (bad_address); check where the address came from",
            ));
        }
        return Ok(address);
    }
    Ok(keystore(g)?.info(who)?.address)
}

/// The passphrase: ALX_PASSPHRASE, else a prompt on a terminal, else an error.
pub(crate) fn passphrase(prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(env::ALX_PASSPHRASE) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(hinted(
            "a passphrase is needed and stdin is not a terminal",
            "set ALX_PASSPHRASE",
        ));
    }
    Ok(rpassword::prompt_password(prompt)?)
}

/// Unlocks the key `name` (no prompt for dev keys).
pub(crate) fn unlock(g: &Globals, name: &str) -> anyhow::Result<PrivateKey> {
    let store = keystore(g)?;
    let pass = if store.needs_passphrase(name)? {
        passphrase(&format!("passphrase for {name}: "))?
    } else {
        String::new()
    };
    Ok(store.unlock(name, &pass)?)
}

/// Signs `payload` from key `from` with the sender's next nonce, submits it, and (unless
/// `wait` is false) waits until it is committed.
pub(crate) fn send(
    g: &Globals,
    from: &str,
    fee: Amount,
    payload: Payload,
    wait: bool,
) -> anyhow::Result<Sent> {
    let key = unlock(g, from)?;
    let mut sent = send_all(g, &key, fee, vec![payload], wait)?;
    Ok(sent.remove(0))
}

/// Signs `payloads` with `key` under consecutive nonces from the sender's next, submits them
/// in order, and (unless `wait` is false) waits until each is committed.
pub(crate) fn send_all(
    g: &Globals,
    key: &PrivateKey,
    fee: Amount,
    payloads: Vec<Payload>,
    wait: bool,
) -> anyhow::Result<Vec<Sent>> {
    use commonware_cryptography::Signer as _;
    let sender = Address::from_public_key(&key.public_key());
    let client = Client::new(&g.node);
    let status = client.status()?;
    let first = client.account(&sender, false)?.account.nonce;
    let mut hashes = Vec::new();
    for (payload, nonce) in payloads.into_iter().zip(first..) {
        let tx = Transaction { chain_id: status.chain_id, sender, nonce, fee, payload }.sign(key);
        let hash: TxHash = client.submit(&tx)?;
        hashes.push(to_hex(&hash));
    }
    hashes
        .into_iter()
        .map(|hash| {
            let committed =
                if wait { Some(client.wait_for_tx(&hash, Duration::from_secs(60))?) } else { None };
            Ok(Sent { hash, committed })
        })
        .collect()
}

/// A submitted transaction.
#[derive(serde::Serialize)]
pub(crate) struct Sent {
    pub(crate) hash: String,
    pub(crate) committed: Option<TxResponse>,
}

impl Sent {
    /// If it was committed with a failed receipt: that failure, with `hint(code)` as the fix.
    pub(crate) fn failure(
        &self,
        what: &str,
        hint: impl FnOnce(Option<ErrorCode>) -> String,
    ) -> Option<TxFailed> {
        let c = self.committed.as_ref().filter(|c| c.receipt.status == TxStatus::Failed)?;
        let code = c.receipt.error;
        Some(TxFailed {
            what: what.to_owned(),
            hash: self.hash.clone(),
            height: c.height.0,
            code,
            hint: hint(code),
        })
    }
}
