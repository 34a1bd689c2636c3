//! Commit-reveal of subnet weights, for `alx subnet commit|reveal` and for validator processes
//! that score miners and set weights every epoch.
//!
//! ```text
//! commit(g, from, subnet, dests, values)          epoch e
//!   salt ← 32 random bytes
//!   save {subnet, uid, dests, values, salt} → <home>/weights/<subnet>-<address>.json (0600)
//!   send CommitWeights { subnet, weights_commit(subnet, uid, dests, values, salt) }
//!   refused or failed: the file is put back as it was (an older commit stays revealable)
//! reveal(g, from, subnet)                         epoch e + 1 only
//!   load the file, send RevealWeights { subnet, dests, values, salt }
//!   success: the file is deleted; failure: it is kept (a too-early reveal can be retried)
//! ```
//!
//! The file is written before the commit is sent, so a commit that reaches the chain always
//! has its salt on disk, even if this process dies while waiting for the receipt.

use crate::{
    Globals,
    cmd::wallet::{FEE_DEFAULT, amount},
    output::hinted,
    wallet::{self, Sent},
};
use alx_client::{Client, ClientError};
use alx_types::{
    Address, ErrorCode, Hash, SignedTx, Transaction,
    hash::to_hex,
    subnet::{Salt, SubnetId, SubnetOp, UIDS_MAX, Uid, weights_commit},
    subnet_api::SubnetJson,
    tx::Payload,
};
use anyhow::Context as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeSet,
    io::Read as _,
    path::{Path, PathBuf},
    time::Duration,
};

/// Directory of pending weights, under the home.
pub(crate) const WEIGHTS_DIR: &str = "weights";
/// Largest pending-weights file read back (256 pairs take under 4 KiB).
const PENDING_FILE_LEN_MAX: u64 = 64 << 10;
/// How long to wait for a commit or reveal to be committed.
const WAIT: Duration = Duration::from_secs(60);

/// Weights committed and not yet revealed: everything the reveal needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PendingWeights {
    /// The subnet.
    pub(crate) subnet: SubnetId,
    /// The committer's uid.
    pub(crate) uid: Uid,
    /// Destination uids.
    pub(crate) dests: Vec<Uid>,
    /// One weight per destination.
    pub(crate) values: Vec<u16>,
    /// The secret that hides the weights until the reveal (hex).
    #[serde(with = "salt_hex")]
    pub(crate) salt: Salt,
}

impl PendingWeights {
    /// The commit these weights reveal.
    pub(crate) fn commit(&self) -> Hash {
        weights_commit(self.subnet, self.uid, &self.dests, &self.values, &self.salt)
    }
}

/// A commit on chain, its weights saved.
#[derive(Serialize)]
pub(crate) struct Committed {
    /// The subnet.
    pub(crate) subnet: SubnetId,
    /// The committer's uid.
    pub(crate) uid: Uid,
    /// The commit (hex).
    pub(crate) commit: String,
    /// Where the weights and salt are saved until the reveal.
    pub(crate) saved: PathBuf,
    /// The transaction.
    #[serde(flatten)]
    pub(crate) sent: Sent,
}

/// Weights revealed on chain.
#[derive(Serialize)]
pub(crate) struct Revealed {
    /// The subnet.
    pub(crate) subnet: SubnetId,
    /// The setter's uid.
    pub(crate) uid: Uid,
    /// `(dest, value)` as revealed.
    pub(crate) weights: Vec<(Uid, u16)>,
    /// The transaction.
    #[serde(flatten)]
    pub(crate) sent: Sent,
}

/// Where `address`'s pending weights in `subnet` are kept.
pub(crate) fn pending_path(home: &Path, subnet: SubnetId, address: &Address) -> PathBuf {
    home.join(WEIGHTS_DIR).join(format!("{subnet}-{address}.json"))
}

/// The last block of the subnet epoch holding `height`: epoch e is the heights
/// `(created + e·tempo, created + (e+1)·tempo]`, and its Yuma epoch runs at its last block.
pub(crate) fn epoch_end(s: &SubnetJson, height: u64) -> u64 {
    let tempo = u64::from(s.spec.tempo.max(1));
    let into = height.saturating_sub(s.created_at).saturating_sub(1);
    s.created_at.saturating_add((into / tempo + 1).saturating_mul(tempo))
}

/// Checks weights as the chain will at the reveal, so that a bad row is refused now rather
/// than an epoch later: as many values as destinations, at most `UIDS_MAX`, each destination
/// once and below `neurons`.
pub(crate) fn check_weights(dests: &[Uid], values: &[u16], neurons: u16) -> anyhow::Result<()> {
    let fix = "give each destination uid once, as UID=VALUE,… (see `alx subnet metagraph ID`)";
    if dests.len() != values.len() {
        return Err(hinted(format!("{} uids but {} values", dests.len(), values.len()), fix));
    }
    if dests.is_empty() || dests.len() > usize::from(UIDS_MAX) {
        return Err(hinted(format!("{} weights; give 1 to {UIDS_MAX}", dests.len()), fix));
    }
    let mut seen = BTreeSet::new();
    for &d in dests {
        if d >= neurons {
            return Err(hinted(format!("uid {d} is not in use (uids 0..{neurons})"), fix));
        }
        if !seen.insert(d) {
            return Err(hinted(format!("uid {d} is given twice"), fix));
        }
    }
    Ok(())
}

/// Commits `from`'s weights `dests`/`values` in `subnet` with a fresh salt, saving what the
/// reveal needs first (see the module docs). Errors with [`crate::output::TxFailed`] on a
/// failed receipt.
pub(crate) fn commit(
    g: &Globals,
    from: &str,
    subnet: SubnetId,
    dests: &[Uid],
    values: &[u16],
) -> anyhow::Result<Committed> {
    let key = wallet::unlock(g, from)?;
    let address = Address::from_public_key(&key.public_key());
    let client = Client::new(&g.node);
    let graph = client.metagraph(&subnet.to_string())?;
    let uid =
        graph.neurons.iter().find(|n| n.address == address).map(|n| n.uid).ok_or_else(|| {
            hinted(
                format!("{from} ({address}) holds no uid in subnet {subnet}"),
                format!("register first: alx subnet register-validator {subnet} --from {from}"),
            )
        })?;
    check_weights(dests, values, u16::try_from(graph.neurons.len()).unwrap_or(u16::MAX))?;
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let pending =
        PendingWeights { subnet, uid, dests: dests.to_vec(), values: values.to_vec(), salt };
    let commit = pending.commit();
    let path = pending_path(&g.home, subnet, &address);
    let tx = sign(g, &key, Payload::Subnet(SubnetOp::CommitWeights { subnet, commit }))?;
    let previous = read_bounded(&path)?;
    save(&path, &pending)?;
    let sent = match submit_and_wait(g, &tx) {
        Ok(sent) => sent,
        Err(Sending::Refused(e)) => return Err(restored(&path, previous, e)),
        Err(Sending::Unknown(e)) => return Err(e),
    };
    if let Some(failed) = sent.failure("subnet commit", |code| commit_hint(code, subnet, from)) {
        return Err(restored(&path, previous, failed.into()));
    }
    Ok(Committed { subnet, uid, commit: to_hex(&commit), saved: path, sent })
}

/// Reveals the weights `from` committed in `subnet` (saved by [`commit`]); deletes the saved
/// file once they are on chain. Errors with [`crate::output::TxFailed`] on a failed receipt.
pub(crate) fn reveal(g: &Globals, from: &str, subnet: SubnetId) -> anyhow::Result<Revealed> {
    let key = wallet::unlock(g, from)?;
    let address = Address::from_public_key(&key.public_key());
    let path = pending_path(&g.home, subnet, &address);
    let pending = load(&path)?.ok_or_else(|| {
        hinted(
            format!("nothing to reveal: no saved commit of {from} in subnet {subnet}"),
            format!(
                "commit first: alx subnet commit {subnet} --from {from} --weights UID=VALUE,… \
                 (it saves the salt in {})",
                path.display()
            ),
        )
    })?;
    if pending.subnet != subnet {
        anyhow::bail!(
            "{} holds weights for subnet {}, not {subnet}",
            path.display(),
            pending.subnet
        );
    }
    let op = SubnetOp::RevealWeights {
        subnet,
        dests: pending.dests.clone(),
        values: pending.values.clone(),
        salt: pending.salt,
    };
    let sent =
        submit_and_wait(g, &sign(g, &key, Payload::Subnet(op))?).map_err(Sending::into_error)?;
    let height = sent.committed.as_ref().map_or(0, |c| c.height.0);
    let hint = |code| reveal_hint(g, code, RevealAt { subnet, height, from });
    if let Some(failed) = sent.failure("subnet reveal", hint) {
        return Err(failed.into());
    }
    // The reveal is on chain: a file left behind only costs a failed reveal later (no_commit).
    if let Err(err) = std::fs::remove_file(&path) {
        tracing::warn!(%err, path = %path.display(), "cannot delete revealed weights");
    }
    let weights = pending.dests.iter().copied().zip(pending.values.iter().copied()).collect();
    Ok(Revealed { subnet, uid: pending.uid, weights, sent })
}

fn commit_hint(code: Option<ErrorCode>, subnet: SubnetId, from: &str) -> String {
    match code {
        Some(ErrorCode::NoValidatorPermit) => format!(
            "only uids with a validator permit may commit: the subnet's top validators by \
             bonded stake, and its owner's; bond stake with `alx stake bond --from {from} …`"
        ),
        Some(ErrorCode::NotRegistered) => {
            format!("register first: alx subnet register-validator {subnet} --from {from}")
        }
        _ => "see `alx tx show HASH`".into(),
    }
}

/// Where a failed reveal happened.
struct RevealAt<'a> {
    subnet: SubnetId,
    height: u64,
    from: &'a str,
}

fn reveal_hint(g: &Globals, code: Option<ErrorCode>, at: RevealAt<'_>) -> String {
    let RevealAt { subnet, height, from } = at;
    let again = format!("commit again: alx subnet commit {subnet} --from {from} --weights …");
    match code {
        Some(ErrorCode::RevealTooEarly) => {
            // The end of the epoch the reveal landed in (the subnet may have moved on since).
            let s = Client::new(&g.node).subnet(&subnet.to_string()).ok();
            let end = s.map(|s| epoch_end(&s, height));
            let after = end.map_or_else(String::new, |end| format!(" (after block {end})"));
            format!("a commit is revealed in the subnet epoch after its own; retry then{after}")
        }
        Some(ErrorCode::NoCommit) => format!(
            "the chain holds no commit of yours in subnet {subnet} (already revealed, or never \
             committed); {again}"
        ),
        Some(ErrorCode::RevealExpired) => format!("the epoch after the commit has passed; {again}"),
        Some(ErrorCode::RevealMismatch) => {
            format!(
                "the saved weights do not match the commit on chain (committed elsewhere?); {again}"
            )
        }
        _ => "see `alx tx show HASH`".into(),
    }
}

/// Why a transaction has no receipt.
enum Sending {
    /// The node refused it, or it never reached the node: it will never be committed.
    Refused(anyhow::Error),
    /// It may or may not be committed (the node became unreachable, or the wait timed out).
    Unknown(anyhow::Error),
}

impl Sending {
    fn into_error(self) -> anyhow::Error {
        match self {
            Self::Refused(e) | Self::Unknown(e) => e,
        }
    }
}

/// Signs `payload` with the sender's next nonce and the default fee (all reads: nothing is
/// sent yet).
fn sign(g: &Globals, key: &PrivateKey, payload: Payload) -> anyhow::Result<SignedTx> {
    let fee = amount(FEE_DEFAULT).map_err(anyhow::Error::msg)?;
    let sender = Address::from_public_key(&key.public_key());
    let client = Client::new(&g.node);
    let chain_id = client.status()?.chain_id;
    let nonce = client.account(&sender, false)?.account.nonce;
    Ok(Transaction { chain_id, sender, nonce, fee, payload }.sign(key))
}

/// Submits `tx`, then waits for its receipt.
fn submit_and_wait(g: &Globals, tx: &SignedTx) -> Result<Sent, Sending> {
    let client = Client::new(&g.node);
    let hash = client.submit(tx).map_err(|e| match &e {
        // The node refused it, or it never reached the node.
        ClientError::Api { .. } => Sending::Refused(e.into()),
        ClientError::Connect { source, .. } if source.is_connect() => Sending::Refused(e.into()),
        _ => Sending::Unknown(e.into()),
    })?;
    let hash = to_hex(&hash);
    let committed = client
        .wait_for_tx(&hash, WAIT)
        .with_context(|| format!("transaction {hash} was sent; its receipt is unknown"))
        .map_err(Sending::Unknown)?;
    Ok(Sent { hash, committed: Some(committed) })
}

/// Puts back the pending file as it was before a commit that did not happen, and returns `err`.
fn restored(path: &Path, previous: Option<Vec<u8>>, err: anyhow::Error) -> anyhow::Error {
    let put_back = match previous {
        Some(bytes) => write_private(path, &bytes),
        None => std::fs::remove_file(path).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }),
    };
    match put_back {
        Ok(()) => err,
        Err(e) => err.context(format!("and {} could not be restored: {e}", path.display())),
    }
}

/// The pending weights saved at `path`, if any. The file is checked like any outside input:
/// bounded size, known fields, equal lengths.
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<PendingWeights>> {
    let Some(bytes) = read_bounded(path)? else { return Ok(None) };
    let pending: PendingWeights = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a pending-weights file", path.display()))?;
    if pending.dests.len() != pending.values.len() || pending.dests.len() > usize::from(UIDS_MAX) {
        anyhow::bail!("{} holds malformed weights", path.display());
    }
    Ok(Some(pending))
}

fn read_bounded(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(PENDING_FILE_LEN_MAX + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > PENDING_FILE_LEN_MAX {
        anyhow::bail!("{} is over {PENDING_FILE_LEN_MAX} bytes", path.display());
    }
    Ok(Some(bytes))
}

/// Writes `pending` to `path`, readable only by the owner (the salt is a secret until the
/// reveal), replacing any earlier file in one step.
pub(crate) fn save(path: &Path, pending: &PendingWeights) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(pending)?;
    write_private(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `bytes` to a fresh 0600 file next to `path`, flushes it, and renames it over
/// `path`: a reader sees the old file or the new one, never a part.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A salt as 64 hex characters.
mod salt_hex {
    use alx_types::subnet::Salt;
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(salt: &Salt, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(salt))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Salt, D::Error> {
        let text = String::deserialize(d)?;
        let mut salt = [0u8; 32];
        hex::decode_to_slice(&text, &mut salt)
            .map_err(|e| D::Error::custom(format!("salt is not 64 hex characters: {e}")))?;
        Ok(salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_end_every_tempo_blocks_after_creation() {
        let s: SubnetJson = serde_json::from_value(serde_json::json!({
            "id": 0, "owner": Address([1; 32]), "name": "s", "task": "t", "datanets": [],
            "tempo": 10, "max_uids": 8, "max_validators": 4, "registration_burn": "0",
            "immunity_blocks": 0, "yuma3": false, "created_at": 15, "neurons": 0,
            "pending": "0", "epochs": 0, "last_epoch_block": 0, "next_epoch_block": 25,
        }))
        .unwrap();
        for (height, end) in [(16, 25), (24, 25), (25, 25), (26, 35), (35, 35), (36, 45)] {
            assert_eq!(epoch_end(&s, height), end, "height {height}");
        }
    }

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

    #[test]
    fn pending_weights_round_trip_privately_and_refuse_junk() {
        let dir = tempfile::tempdir().unwrap();
        let path = pending_path(dir.path(), 3, &Address([9; 32]));
        assert_eq!(load(&path).unwrap(), None);
        let pending = PendingWeights {
            subnet: 3,
            uid: 1,
            dests: vec![0, 2],
            values: vec![7, 9],
            salt: [5; 32],
        };
        save(&path, &pending).unwrap();
        assert_eq!(load(&path).unwrap(), Some(pending.clone()));
        assert_eq!(pending.commit(), weights_commit(3, 1, &[0, 2], &[7, 9], &[5; 32]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        for junk in [
            "{",
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[1],"salt":"00"}"#,
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[],"salt":"SALT"}"#,
            r#"{"subnet":3,"uid":1,"dests":[0],"values":[1],"salt":"SALT","extra":1}"#,
        ] {
            std::fs::write(&path, junk.replace("SALT", &"ab".repeat(32))).unwrap();
            assert!(load(&path).is_err(), "{junk}");
        }
        std::fs::write(&path, vec![b' '; 70_000]).unwrap();
        assert!(load(&path).is_err(), "oversized");
    }
}
