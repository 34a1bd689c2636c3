//! `alx balance`, `alx transfer`, `alx tx`.

use crate::light::Verified;
use crate::{
    Globals,
    output::emit,
    wallet::{self, Sent},
};
use alx_client::Client;
use alx_types::{Amount, ErrorCode, TxStatus, tx::Payload};
use clap::{Args, Subcommand};

pub(crate) fn amount(text: &str) -> Result<Amount, String> {
    Amount::parse_alx(text).map_err(|e| format!("{e} (amounts are in ALX, e.g. 1.5)"))
}

/// `alx balance`.
#[derive(Args)]
pub(crate) struct BalanceArgs {
    /// An address (alx1…) or a key name.
    who: String,
    /// Believe nothing the node says: check the account's record against the state root of a
    /// block that the light client (started from HOME/genesis.json, following each epoch's
    /// validators) has seen finalized by more than two thirds of its validators.
    #[arg(long)]
    proof: bool,
}

pub(crate) fn balance(g: &Globals, a: &BalanceArgs) -> anyhow::Result<()> {
    let address = wallet::resolve_address(g, &a.who)?;
    let client = Client::new(&g.node);
    let mut resp = client.account(&address, a.proof)?;
    let verified = if a.proof { Some(verify_account(g, &client, &mut resp)?) } else { None };
    let mut doc = serde_json::to_value(&resp)?;
    if let Some(v) = &verified {
        doc["verified"] = serde_json::to_value(v)?;
    }
    emit(g.json, &doc, || {
        let acc = &resp.account;
        let mut s = format!(
            "{}\n  balance    {}\n  bonded     {}\n  unbonding  {}\n  nonce      {}\n  at height  {}",
            resp.address, acc.balance, acc.bonded, acc.unbonding, acc.nonce, resp.height
        );
        if let Some(v) = &verified {
            s.push_str(&format!(
                "\n  proof      the account record is in the state root of block {}, finalized by at least {} of epoch {}'s {} validators (followed from the genesis file through {} epoch changes)",
                v.height, v.signers_needed, v.epoch, v.validators, v.epochs_followed
            ));
        }
        s
    })
}

/// Checks the node's account answer without trusting the node: the block at the answer's
/// height finalized (light client), the account's state key computed here, the proof against
/// that block's state root, and the account shown decoded from the proven record (the node's
/// JSON must agree with it).
fn verify_account(
    g: &Globals,
    client: &Client,
    resp: &mut alx_types::api::AccountResponse,
) -> anyhow::Result<Verified> {
    let proof = resp.proof.as_ref().ok_or_else(|| anyhow::anyhow!("the node sent no proof"))?;
    let key = alx_state::keys::account_key(&resp.address);
    let entries = [(proof.value.as_deref(), &proof.proof)];
    let (finalized, mut values) =
        crate::light::proven_entries(g, client, resp.height, &[key], &entries)?;
    let proven = match &values.remove(0) {
        Some(bytes) => {
            use commonware_codec::DecodeExt as _;
            alx_state::Account::decode(commonware_codec::Copying(bytes.as_slice()))
                .map_err(|e| anyhow::anyhow!("the proven account record does not decode: {e}"))?
        }
        None => alx_state::Account::default(),
    };
    let claimed = &resp.account;
    if (claimed.balance, claimed.bonded, claimed.unbonding, claimed.nonce)
        != (proven.balance, proven.bonded, proven.unbonding, proven.nonce)
    {
        return Err(crate::output::coded(
            "proof_refused",
            format!(
                "the node says the balance is {}, but the record it proved says {}",
                claimed.balance, proven.balance
            ),
            "the node is lying; ask another node with --node",
        ));
    }
    resp.state_root = alx_types::hash::to_hex(&finalized.header.state_root);
    Ok(Verified::of(&finalized))
}

/// The fee transactions offer unless told otherwise, in ALX (the dev chain's minimum).
pub(crate) const FEE_DEFAULT: &str = "0.000001";

/// Options of every transaction.
#[derive(Args)]
pub(crate) struct TxOptions {
    /// Fee in ALX.
    #[arg(long, default_value = FEE_DEFAULT, value_parser = amount)]
    pub(crate) fee: Amount,
    /// Return once the node accepted the transaction, without waiting for it to be committed.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// `alx transfer`.
#[derive(Args)]
pub(crate) struct TransferArgs {
    /// The sending key's name.
    #[arg(long)]
    from: String,
    /// Recipient: an address (alx1…) or a key name.
    #[arg(long)]
    to: String,
    /// Amount in ALX (up to 9 decimals).
    #[arg(long, value_parser = amount)]
    amount: Amount,
    #[command(flatten)]
    opts: TxOptions,
}

/// A failed receipt as an error (code: the receipt's), with the usual hint.
pub(crate) fn failure(what: &str, sent: &Sent) -> Option<anyhow::Error> {
    let failed = sent.failure(what, |code| match code {
        Some(ErrorCode::ProviderNotBonded) => {
            "the provider must hold a bond first: `alx provider bond AMOUNT --from PROVIDER`".into()
        }
        Some(ErrorCode::BondLocked) => {
            "a settlement of this provider is still challengeable (or the bond is smaller); see `alx provider show ADDRESS`".into()
        }
        Some(ErrorCode::ChallengeRejected) => {
            "the evidence opens nothing wrong in that settlement; nothing moved but the fee".into()
        }
        Some(ErrorCode::RedelegationLocked) => format!(
            "this stake arrived by redelegation; it can move again {} blocks after it arrived (or unbond it)",
            alx_types::limits::UNBONDING_PERIOD_BLOCKS
        ),
        Some(ErrorCode::CommissionTooHigh) => "a commission is at most 5000 bps (50%)".into(),
        Some(ErrorCode::NotValidator) => {
            "only a registered validator sets a commission: `alx stake register --from KEY --p2p-addr IP:PORT`".into()
        }
        Some(ErrorCode::TooManyDelegations) => {
            "an account delegates to at most 16 validators; unbond or redelegate from one first".into()
        }
        Some(ErrorCode::UnknownValidator) => {
            "no validator is registered at that address; see `alx status` for the active set".into()
        }
        Some(ErrorCode::NothingToClaim) => {
            "nothing is claimable yet; `alx rewards show NAME` lists what accrues".into()
        }
        _ => format!(
            "see `alx tx show {}`; failed transactions keep their fee when the code says so",
            sent.hash
        ),
    })?;
    Some(failed.into())
}

/// Prints a sent transaction, or, if it was committed with a failed receipt, returns that
/// failure (with `--json`, its error document carries the transaction's hash and height).
pub(crate) fn report(g: &Globals, what: &str, sent: &Sent) -> anyhow::Result<()> {
    if let Some(err) = failure(what, sent) {
        return Err(err);
    }
    emit(g.json, sent, || match &sent.committed {
        Some(c) => format!(
            "{what} {} committed at height {} (fee {})",
            sent.hash, c.height, c.receipt.fee_paid
        ),
        None => format!("{what} {} accepted; not waiting for it to be committed", sent.hash),
    })
}

pub(crate) fn transfer(g: &Globals, a: &TransferArgs) -> anyhow::Result<()> {
    let to = wallet::resolve_address(g, &a.to)?;
    let sent = wallet::send(
        g,
        &a.from,
        a.opts.fee,
        Payload::Transfer { to, amount: a.amount },
        !a.opts.no_wait,
    )?;
    report(g, "transfer", &sent)
}

/// `alx tx …`.
#[derive(Subcommand)]
pub(crate) enum TxCommand {
    /// A committed transaction and its receipt.
    Show {
        /// The transaction hash (64 hex characters).
        hash: String,
        /// Believe nothing the node says: check that the transaction's hash and its receipt are
        /// in a block the light client (from HOME/genesis.json) has seen finalized, and that
        /// the contents shown hash to that hash.
        #[arg(long)]
        proof: bool,
    },
}

pub(crate) fn tx(g: &Globals, cmd: TxCommand) -> anyhow::Result<()> {
    let TxCommand::Show { hash, proof } = cmd;
    let client = Client::new(&g.node);
    let resp = client.tx(&hash)?;
    let verified = if proof { Some(verify_inclusion(g, &client, &resp)?.0) } else { None };
    let mut doc = serde_json::to_value(&resp)?;
    if let Some(v) = &verified {
        doc["verified"] = serde_json::to_value(v)?;
    }
    emit(g.json, &doc, || {
        let r = &resp.receipt;
        let status = match r.status {
            TxStatus::Success => "success".to_owned(),
            TxStatus::Failed => {
                format!("failed ({})", r.error.map_or("unknown", alx_types::ErrorCode::as_str))
            }
        };
        format!(
            "{}\n  status  {status}\n  block   {} (index {})\n  sender  {}\n  nonce   {}\n  fee     {}\n  kind    {}",
            resp.tx.hash,
            resp.height,
            resp.index,
            resp.tx.sender,
            resp.tx.nonce,
            r.fee_paid,
            serde_json::to_value(&resp.tx.payload)
                .ok()
                .and_then(|v| v.get("kind").cloned())
                .unwrap_or_default(),
        ) + &verified.as_ref().map_or_else(String::new, |v| {
            format!(
                "\n  proof   its contents, hash and receipt are in block {}, finalized by at least {} of epoch {}'s {} validators",
                v.height, v.signers_needed, v.epoch, v.validators
            )
        })
    })
}

/// Checks without trusting the node that the transaction's hash is at its index in a finalized
/// block (the block's transaction hashes against the header's transaction root), that the
/// receipt shown is that block's receipt at that index (against the receipts root), and that
/// the transaction shown is the one with that hash (decoded from its signed bytes, which must
/// hash to it). Returns what was proven and the transaction.
pub(crate) fn verify_inclusion(
    g: &Globals,
    client: &Client,
    resp: &alx_types::api::TxResponse,
) -> anyhow::Result<(Verified, alx_types::SignedTx)> {
    use commonware_codec::Encode as _;
    let refused = |what: &str| {
        crate::output::coded(
            "proof_refused",
            format!("the node's answer is not proven: {what}"),
            "the node may be lying; ask another node with --node",
        )
    };
    let finalized = crate::light::finalized(g, client, resp.height)?;
    let header = &finalized.header;
    let block = client.block(&resp.height.to_string())?;
    let hashes = block
        .txs
        .iter()
        .map(|t| alx_types::hash::parse_hex(&t.tx.hash).ok_or_else(|| refused("a bad tx hash")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if alx_types::merkle::list_root(&hashes) != header.tx_root {
        return Err(refused("the block's transactions do not match its finalized header"));
    }
    let receipts: Vec<alx_types::Hash> =
        block.txs.iter().map(|t| alx_types::hash::sha256(&[&t.receipt.encode()])).collect();
    if alx_types::merkle::list_root(&receipts) != header.receipts_root {
        return Err(refused("the block's receipts do not match its finalized header"));
    }
    let at = usize::try_from(resp.index).unwrap_or(usize::MAX);
    let wanted = alx_types::hash::parse_hex(&resp.tx.hash);
    let included = block.txs.get(at).filter(|t| t.receipt == resp.receipt);
    if wanted.is_none() || hashes.get(at).copied() != wanted || included.is_none() {
        return Err(refused("the transaction or its receipt is not at that place in the block"));
    }
    let signed = hex::decode(&resp.raw)
        .ok()
        .and_then(|b| alx_types::SignedTx::decode_bytes(&b).ok())
        .filter(|s| Some(s.tx.hash()) == wanted && alx_types::api::TxJson::from(s) == resp.tx)
        .ok_or_else(|| refused("the transaction's contents do not hash to its hash"))?;
    Ok((Verified::of(&finalized), signed))
}
