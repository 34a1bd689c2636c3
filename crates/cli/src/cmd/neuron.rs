//! What `alx miner run` and `alx validator run` share: finding the sender's uid, sending a
//! subnet operation and checking its receipt, and waiting for the subnet's next epoch.

use crate::{Globals, wallet};
use alx_client::Client;
use alx_types::{
    Address, Amount, ErrorCode,
    subnet::{SubnetOp, Uid},
    subnet_api::SubnetJson,
    tx::Payload,
};
use std::time::Duration;

/// The uid `me` holds in `subnet`, if any.
pub(crate) fn uid_of(client: &Client, subnet: &str, me: &Address) -> anyhow::Result<Option<Uid>> {
    Ok(super::subnet::own_uid(&client.metagraph(subnet)?, me))
}

/// The uid `me` holds in `subnet`, registering with `register` first if it holds none.
pub(crate) fn ensure_uid(
    g: &Globals,
    client: &Client,
    subnet: &str,
    (me, from): (&Address, &str),
    fee: Amount,
    register: SubnetOp,
) -> anyhow::Result<Uid> {
    if let Some(uid) = uid_of(client, subnet, me)? {
        return Ok(uid);
    }
    send(g, from, fee, register)?;
    uid_of(client, subnet, me)?.ok_or_else(|| anyhow::anyhow!("registered, but no uid holds {me}"))
}

/// Sends `op` from `from`, waits for it, and fails with the receipt's error code if it failed.
pub(crate) fn send(g: &Globals, from: &str, fee: Amount, op: SubnetOp) -> anyhow::Result<()> {
    let kind = op.kind();
    match try_send(g, from, fee, op)? {
        None => Ok(()),
        Some((code, hash)) => {
            anyhow::bail!("{kind} failed: {} (transaction {hash})", code.as_str())
        }
    }
}

/// Sends `op` and returns its receipt's error code (and the transaction) if it failed.
pub(crate) fn try_send(
    g: &Globals,
    from: &str,
    fee: Amount,
    op: SubnetOp,
) -> anyhow::Result<Option<(ErrorCode, String)>> {
    let sent = wallet::send(g, from, fee, Payload::Subnet(op), true)?;
    Ok(sent.committed.as_ref().and_then(|c| c.receipt.error).map(|code| (code, sent.hash)))
}

/// Waits until the subnet has run more epochs than `seen` (polling the node), and returns it.
pub(crate) fn next_epoch(client: &Client, subnet: &str, seen: u64) -> anyhow::Result<SubnetJson> {
    loop {
        let s = client.subnet(subnet)?;
        if s.epochs > seen {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
