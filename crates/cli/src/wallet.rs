//! Wallet plumbing shared by commands: the keystore, resolving a name or address, unlocking a
//! key (ALX_PASSPHRASE or a prompt), and building, signing and sending transactions.

use crate::{
    Globals, env,
    output::{TxFailed, coded, hinted},
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
    let answer = client.account(&sender, false)?;
    let account = answer.account;
    check_balance(&sender, account.balance, fee, &payloads)?;
    // Past the sender's transactions still waiting (another command of the same key, a miner
    // running in the background), so this one queues behind them instead of colliding.
    let first = answer.next_nonce.unwrap_or(account.nonce).max(account.nonce);
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

/// What `payload` takes from the sender's spendable balance when it succeeds, as far as the
/// wallet knows without asking the node (a datanet's contribution fee or a subnet's burn are
/// not counted); `None` when it may add to the balance (a withdrawal, a claim), which makes a
/// check against the current balance meaningless.
fn spends(payload: &Payload) -> Option<Amount> {
    use alx_types::usage::UsageOp;
    match payload {
        Payload::Transfer { amount, .. } | Payload::Bond { amount, .. } => Some(*amount),
        Payload::Usage(UsageOp::Deposit { amount }) => Some(*amount),
        Payload::Usage(UsageOp::Withdraw { .. } | UsageOp::Claim) => None,
        _ => Some(Amount::ZERO),
    }
}

/// Refuses, before anything is signed, transactions the sender's committed balance cannot
/// pay for: on chain they would fail and (once the fee is covered) still cost the fee. A
/// necessary check only: transactions already in the mempool may spend more.
fn check_balance(
    sender: &Address,
    balance: Amount,
    fee: Amount,
    payloads: &[Payload],
) -> anyhow::Result<()> {
    let mut spend = Some(Amount::ZERO);
    let mut fees = Some(Amount::ZERO);
    for payload in payloads {
        let Some(s) = spends(payload) else { return Ok(()) };
        spend = spend.and_then(|t| t.checked_add(s));
        fees = fees.and_then(|t| t.checked_add(fee));
    }
    let need = spend.zip(fees).and_then(|(s, f)| s.checked_add(f));
    if need.is_some_and(|n| n <= balance) {
        return Ok(());
    }
    let (spend, fees) = (spend.unwrap_or(Amount(u128::MAX)), fees.unwrap_or(Amount(u128::MAX)));
    let what = match payloads {
        [one] => one.kind().replace('_', " "),
        many => format!("{} transactions", many.len()),
    };
    let chain = if fees <= balance {
        "on chain it would fail (insufficient_funds) and still cost the fee"
    } else {
        "the chain would refuse it (insufficient_fee)"
    };
    Err(coded(
        "insufficient_balance",
        format!(
            "{what} of {spend} plus {fees} in fees exceeds the balance of {sender}, {balance}: \
             not signed, since {chain}"
        ),
        format!(
            "check `alx balance {sender}`; send less, or fund the account first (bonded stake \
             and the prepaid deposit are not spendable until unbonded or withdrawn)"
        ),
    ))
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
            height: c.height,
            code,
            hint: hint(code),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::usage::UsageOp;
    use commonware_cryptography::Signer as _;

    #[test]
    fn balance_check_counts_amounts_and_fees_and_skips_inflows() {
        let sender = Address::from_public_key(&PrivateKey::from_seed(1).public_key());
        let fee = Amount(10);
        let transfer = |n| Payload::Transfer { to: sender, amount: Amount(n) };
        let check = |balance: u128, payloads: &[Payload], ok: bool| {
            let r = check_balance(&sender, Amount(balance), fee, payloads);
            assert_eq!(r.is_ok(), ok, "{balance} {payloads:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(crate::output::code_for(&e), "insufficient_balance");
            }
        };
        check(110, &[transfer(100)], true);
        check(109, &[transfer(100)], false);
        check(9, &[Payload::Usage(UsageOp::Claim)], true);
        check(219, &[transfer(100), transfer(100)], false);
        check(5, &[Payload::Usage(UsageOp::Deposit { amount: Amount(1) })], false);
        check(0, &[transfer(u128::MAX)], false);
        // A claim first may pay for what follows: no check.
        check(0, &[Payload::Usage(UsageOp::Claim), transfer(100)], true);
    }
}
