//! Commit-reveal of subnet weights: the one implementation, used by `alx subnet commit|reveal`
//! and by the validator loop.
//!
//! ```text
//! commit(chain, store, subnet, uid, dests, values)          epoch e
//!   salt ← 32 random bytes
//!   store.save {subnet, uid, dests, values, salt}           durable BEFORE anything is sent
//!   send CommitWeights { subnet, weights_commit(subnet, uid, dests, values, salt) }
//!   refused (never on chain) or failed receipt: the file is put back as it was
//!   receipt unknown: the file stays (the commit may be on chain)
//! reveal(chain, store, subnet)                              epoch e + 1 only
//!   load the file, send RevealWeights { subnet, dests, values, salt }
//!   success: the file is deleted; failure: it is kept (a too-early reveal can be retried)
//! ```
//!
//! Because the file is on disk before the commit is sent, every commit that reaches the chain
//! has its salt saved, even if the process dies while waiting for the receipt.

use crate::{
    NeuronError,
    chain::{Chain, Landed},
    store::{PendingWeights, WeightsStore},
};
use alx_types::{
    Address, ErrorCode, Height,
    hash::to_hex,
    subnet::{SubnetId, SubnetOp, UIDS_MAX, Uid},
    subnet_api::SubnetJson,
    tx::Payload,
};
use std::{collections::BTreeSet, path::PathBuf};

/// A commit on chain, its weights saved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Committed {
    /// The subnet.
    pub subnet: SubnetId,
    /// The committer's uid.
    pub uid: Uid,
    /// The commit (hex).
    pub commit: String,
    /// Where the weights and salt are saved until the reveal.
    pub saved: PathBuf,
    /// The transaction.
    #[serde(flatten)]
    pub landed: Landed,
}

/// Weights revealed on chain.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Revealed {
    /// The subnet.
    pub subnet: SubnetId,
    /// The setter's uid.
    pub uid: Uid,
    /// `(dest, value)` as revealed.
    pub weights: Vec<(Uid, u16)>,
    /// The transaction.
    #[serde(flatten)]
    pub landed: Landed,
}

/// Checks weights as the chain will at the reveal, so that a bad row is refused now rather
/// than an epoch later: as many values as destinations, 1 to `UIDS_MAX` of them, each
/// destination once and below `neurons`.
pub fn check_weights(dests: &[Uid], values: &[u16], neurons: u16) -> Result<(), NeuronError> {
    let bad = |reason: String| Err(NeuronError::BadWeights { reason });
    if dests.len() != values.len() {
        return bad(format!("{} uids but {} values", dests.len(), values.len()));
    }
    if dests.is_empty() || dests.len() > usize::from(UIDS_MAX) {
        return bad(format!("{} weights; give 1 to {UIDS_MAX}", dests.len()));
    }
    let mut seen = BTreeSet::new();
    for &d in dests {
        if d >= neurons {
            return bad(format!("uid {d} is not in use (uids 0..{neurons})"));
        }
        if !seen.insert(d) {
            return bad(format!("uid {d} is given twice"));
        }
    }
    Ok(())
}

/// Who commits: the signer of `chain`, by the key name used in messages.
#[derive(Clone, Copy, Debug)]
pub struct Committer<'a> {
    /// The key's name.
    pub key: &'a str,
    /// The subnet.
    pub subnet: &'a SubnetJson,
    /// The key's uid in it.
    pub uid: Uid,
}

/// The uid `chain`'s signer holds in `subnet`, checking `dests`/`values` against the
/// metagraph: what `alx subnet commit` does before [`commit`].
pub fn committer_uid(
    chain: &dyn Chain,
    key: &str,
    subnet: SubnetId,
    (dests, values): (&[Uid], &[u16]),
) -> Result<Uid, NeuronError> {
    let address = chain.signer();
    let graph = chain.metagraph(subnet)?;
    let uid = graph
        .neurons
        .iter()
        .find(|n| n.address == address)
        .map(|n| n.uid)
        .ok_or_else(|| NeuronError::NotRegistered { key: key.to_owned(), address, subnet })?;
    check_weights(dests, values, u16::try_from(graph.neurons.len()).unwrap_or(u16::MAX))?;
    Ok(uid)
}

/// Commits `dests`/`values` as `who`'s weights with a fresh salt, saving what the reveal
/// needs first (see the module docs).
pub fn commit(
    chain: &dyn Chain,
    store: &WeightsStore,
    who: Committer<'_>,
    (dests, values): (&[Uid], &[u16]),
) -> Result<Committed, NeuronError> {
    let subnet = who.subnet.id;
    let address = chain.signer();
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| NeuronError::NoRandomness(e.to_string()))?;
    let pending = PendingWeights {
        subnet,
        uid: who.uid,
        dests: dests.to_vec(),
        values: values.to_vec(),
        salt,
    };
    let commit = pending.commit();
    let previous = store.save(&address, &pending)?;
    let landed = match chain.send(Payload::Subnet(SubnetOp::CommitWeights { subnet, commit })) {
        Ok(landed) => landed,
        Err(e @ NeuronError::Unconfirmed { .. }) => return Err(e),
        Err(e) => return Err(restored(store, (subnet, &address), previous, e)),
    };
    if landed.failed {
        let hint = commit_hint(landed.error, subnet, who.key);
        let e = failed("subnet commit", &landed, hint);
        return Err(restored(store, (subnet, &address), previous, e));
    }
    let saved = store.path(subnet, &address);
    Ok(Committed { subnet, uid: who.uid, commit: to_hex(&commit), saved, landed })
}

/// Reveals the weights `chain`'s signer committed in `subnet` (saved by [`commit`]); deletes
/// the saved file once they are on chain.
pub fn reveal(
    chain: &dyn Chain,
    store: &WeightsStore,
    key: &str,
    subnet: &SubnetJson,
) -> Result<Revealed, NeuronError> {
    let address = chain.signer();
    let Some(pending) = store.load(subnet.id, &address)? else {
        let path = store.path(subnet.id, &address);
        return Err(NeuronError::NothingToReveal { key: key.to_owned(), subnet: subnet.id, path });
    };
    let op = SubnetOp::RevealWeights {
        subnet: subnet.id,
        dests: pending.dests.clone(),
        values: pending.values.clone(),
        salt: pending.salt,
    };
    let landed = chain.send(Payload::Subnet(op))?;
    if landed.failed {
        let hint = reveal_hint(landed.error, subnet, landed.height, key);
        return Err(failed("subnet reveal", &landed, hint));
    }
    // The reveal is on chain: a file left behind only costs a failed reveal later (no_commit).
    if let Err(err) = store.remove(subnet.id, &address) {
        tracing::warn!(%err, "cannot delete revealed weights");
    }
    let weights = pending.dests.iter().copied().zip(pending.values.iter().copied()).collect();
    Ok(Revealed { subnet: subnet.id, uid: pending.uid, weights, landed })
}

fn failed(what: &'static str, landed: &Landed, hint: String) -> NeuronError {
    NeuronError::TxFailed {
        what,
        hash: landed.hash.clone(),
        height: landed.height,
        code: landed.error,
        hint,
    }
}

/// Puts the store back as it was before a commit that is not on chain, and returns `err`.
fn restored(
    store: &WeightsStore,
    (subnet, address): (SubnetId, &Address),
    previous: Option<Vec<u8>>,
    err: NeuronError,
) -> NeuronError {
    match store.restore(subnet, address, previous) {
        Ok(()) => err,
        Err(restore) => {
            tracing::error!(%restore, "cannot restore the pending weights");
            err
        }
    }
}

fn commit_hint(code: Option<ErrorCode>, subnet: SubnetId, key: &str) -> String {
    match code {
        Some(ErrorCode::NoValidatorPermit) => format!(
            "only uids with a validator permit may commit: the subnet's top validators by \
             bonded stake, and its owner's; bond stake with `alx stake bond --from {key} …` \
             (permits are handed out at each subnet epoch)"
        ),
        Some(ErrorCode::NotRegistered) => {
            format!("register first: alx subnet register-validator {subnet} --from {key}")
        }
        _ => "see `alx tx show HASH`".into(),
    }
}

fn reveal_hint(code: Option<ErrorCode>, s: &SubnetJson, height: Height, key: &str) -> String {
    let subnet = s.id;
    let again = format!("commit again: alx subnet commit {subnet} --from {key} --weights …");
    match code {
        Some(ErrorCode::RevealTooEarly) => format!(
            "a commit is revealed in the subnet epoch after its own; retry then (after block {})",
            s.schedule().end_of(height)
        ),
        Some(ErrorCode::NoCommit) => format!(
            "the chain holds no commit of yours in subnet {subnet} (already revealed, or never \
             committed); {again}"
        ),
        Some(ErrorCode::RevealExpired) => format!("the epoch after the commit has passed; {again}"),
        Some(ErrorCode::RevealMismatch) => format!(
            "the saved weights do not match the commit on chain (committed elsewhere?); {again}"
        ),
        _ => "see `alx tx show HASH`".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_checked_before_the_commit() {
        let check = |dests: &[Uid], values: &[u16], ok: bool| {
            assert_eq!(check_weights(dests, values, 4).is_ok(), ok, "{dests:?} {values:?}");
        };
        check(&[0, 3], &[1, 65_535], true);
        check(&[0, 3], &[1], false);
        check(&[], &[], false);
        check(&[4], &[1], false);
        check(&[1, 1], &[1, 2], false);
    }
}
