//! `alx subnet seal-eval|reveal-eval|evals`: sealed evaluation sets (docs/design/evaluation.md).
//! The owner commits to a private set, keeps it (and the salt, saved in the home before the
//! seal is sent) and publishes it a subnet epoch or more later; validators then score every
//! miner registered before the reveal on it.

use crate::{
    Globals,
    cmd::{blob, wallet::TxOptions},
    output::{emit, hinted},
    wallet,
};
use alx_client::Client;
use alx_types::{
    ErrorCode,
    datanet::{ContentRef, MediaType},
    hash::{parse_hex, to_hex},
    subnet::{SubnetId, SubnetOp, eval_commitment},
    subnet_api::EvalSealJson,
    tx::Payload,
};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the home keeps of a sealed set until it is revealed: `evals/<subnet>-<commitment>.json`.
#[derive(Serialize, Deserialize)]
struct Sealed {
    subnet: SubnetId,
    salt: String,
    file: PathBuf,
    content: ContentRef,
}

fn store_path(g: &Globals, subnet: SubnetId, commitment: &alx_types::Hash) -> PathBuf {
    g.home.join("evals").join(format!("{subnet}-{}.json", to_hex(commitment)))
}

fn media_of(file: &Path) -> MediaType {
    if file.extension().is_some_and(|e| e == "jsonl") { MediaType::Jsonl } else { MediaType::Text }
}

/// `alx subnet seal-eval`.
pub(crate) fn seal(
    g: &Globals,
    subnet: &SubnetId,
    file: &Path,
    from: &str,
    opts: &TxOptions,
) -> anyhow::Result<()> {
    let media = media_of(file);
    let bytes = blob::read_checked(file, Some(media))?;
    let content = ContentRef {
        hash: alx_blobs::blake3_hash(&bytes),
        size: bytes.len() as u64,
        media_type: media,
    };
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for the salt: {e}"))?;
    let commitment = eval_commitment(*subnet, &salt, &content);
    // The salt is on disk before the commitment is on chain: a set sealed without it could
    // never be revealed.
    let path = store_path(g, *subnet, &commitment);
    let file =
        std::fs::canonicalize(file).with_context(|| format!("cannot read {}", file.display()))?;
    let record = Sealed { subnet: *subnet, salt: hex::encode(salt), file, content };
    std::fs::create_dir_all(path.parent().unwrap_or(&g.home))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&record)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let op = SubnetOp::SealEval { subnet: *subnet, commitment };
    let sent = wallet::send(g, from, opts.fee, Payload::Subnet(op), !opts.no_wait)?;
    if let Some(failed) = sent.failure("subnet seal-eval", |code| match code {
        Some(ErrorCode::NotSubnetOwner) => "only the subnet's owner seals its sets".into(),
        Some(ErrorCode::TooManySeals) => {
            "reveal a sealed set first (`alx subnet evals SUBNET` lists them)".into()
        }
        _ => "see `alx tx show HASH`".into(),
    }) {
        let _ = std::fs::remove_file(&path);
        return Err(failed.into());
    }
    let seal = Client::new(&g.node)
        .subnet_evals(&subnet.to_string())?
        .into_iter()
        .find(|e| e.commitment == commitment)
        .map(|e| e.seal);
    #[derive(Serialize)]
    struct Out<'a> {
        subnet: SubnetId,
        seal: Option<u64>,
        #[serde(with = "alx_types::hash::serde_hex")]
        commitment: alx_types::Hash,
        saved: &'a Path,
        #[serde(flatten)]
        sent: &'a wallet::Sent,
    }
    let out = Out { subnet: *subnet, seal, commitment, saved: &path, sent: &sent };
    emit(g.json, &out, || {
        let seal = seal.map_or_else(|| "N (see `alx subnet evals`)".to_owned(), |s| s.to_string());
        format!(
            "sealed set {seal} of subnet {subnet} ({} bytes, commitment {}); the salt is in {}\n  keep the file private; from the next subnet epoch: alx subnet reveal-eval {subnet} --seal {seal} --from {from}",
            content.size,
            to_hex(&commitment),
            path.display()
        )
    })
}

/// `alx subnet reveal-eval`: uploads the set and publishes it.
pub(crate) fn reveal(
    g: &Globals,
    subnet: &SubnetId,
    seal: u64,
    from: &str,
    opts: &TxOptions,
) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    let evals = client.subnet_evals(&subnet.to_string())?;
    let sealed =
        evals.iter().find(|e| e.seal == seal && e.revealed_at.is_none()).ok_or_else(|| {
            hinted(
                format!("subnet {subnet} has no sealed set {seal} waiting to be revealed"),
                format!("list them with `alx subnet evals {subnet}`"),
            )
        })?;
    // Refused before anything is uploaded: a reveal the chain turns down would publish the set
    // (the blob on the node, the salt in a block) while it still counted as sealed.
    let schedule = client.subnet(&subnet.to_string())?.schedule();
    let next_block = client.status()?.height.next();
    if schedule.epoch_of(next_block) <= schedule.epoch_of(sealed.sealed_at) {
        return Err(crate::output::coded(
            "eval_reveal_too_early",
            format!("seal {seal} was made in this subnet epoch; nothing was uploaded or sent"),
            format!(
                "reveal it from block {} on (the next subnet epoch)",
                schedule.next_epoch_after(sealed.sealed_at).next()
            ),
        ));
    }
    let older =
        evals.iter().filter(|e| e.revealed_at.is_none()).map(|e| e.seal).find(|n| *n < seal);
    if let Some(older) = older {
        return Err(crate::output::coded(
            "eval_seal_out_of_order",
            format!("seal {older} is older and still sealed; nothing was uploaded or sent"),
            format!("sets are revealed in the order they were sealed: reveal seal {older} first"),
        ));
    }
    let path = store_path(g, *subnet, &sealed.commitment);
    let record: Sealed = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            hinted(
                format!("no saved salt for seal {seal} at {}", path.display()),
                "reveal from the home that sealed it",
            )
        })?;
    let bytes = blob::read_checked(&record.file, Some(record.content.media_type))?;
    if alx_blobs::blake3_hash(&bytes) != record.content.hash {
        return Err(hinted(
            format!("{} changed since it was sealed", record.file.display()),
            "restore the sealed file: only its exact bytes match the commitment",
        ));
    }
    let salt = parse_hex(&record.salt).context("the saved salt is not hex")?;
    let key = wallet::unlock(g, from)?;
    blob::upload(&client, &key, &record.file, bytes, Some(record.content.media_type), !g.json)?;
    let op = SubnetOp::RevealEval { subnet: *subnet, seal, salt: salt.0, content: record.content };
    let sent = wallet::send(g, from, opts.fee, Payload::Subnet(op), !opts.no_wait)?;
    if let Some(failed) = sent.failure("subnet reveal-eval", |code| match code {
        Some(ErrorCode::EvalRevealTooEarly) => {
            "a set is revealed in a subnet epoch after the one it was sealed in: wait for the next epoch".into()
        }
        Some(ErrorCode::NotSubnetOwner) => "only the subnet's owner reveals its sets".into(),
        _ => "see `alx tx show HASH`".into(),
    }) {
        return Err(failed.into());
    }
    emit(g.json, &sent, || {
        format!(
            "revealed set {seal} of subnet {subnet}: validators score every miner registered before this block on it"
        )
    })
}

/// `alx subnet evals`.
pub(crate) fn list(g: &Globals, subnet: &SubnetId) -> anyhow::Result<()> {
    let evals = Client::new(&g.node).subnet_evals(&subnet.to_string())?;
    emit(g.json, &evals, || text(*subnet, &evals))
}

fn text(subnet: SubnetId, evals: &[EvalSealJson]) -> String {
    if evals.is_empty() {
        return format!(
            "subnet {subnet} has no sealed evaluation set: validators score on the public held-out split (hint: alx subnet seal-eval {subnet} --file SET.jsonl --from OWNER)"
        );
    }
    let mut out = format!("{:>5}  {:>10}  {:>11}  {}", "seal", "sealed at", "revealed at", "set");
    for e in evals {
        let (at, set) = match (e.revealed_at, e.content) {
            (Some(at), Some(c)) => {
                (at.to_string(), format!("{} ({} bytes)", to_hex(&c.hash), c.size))
            }
            _ => ("—".to_owned(), format!("sealed, commitment {}", to_hex(&e.commitment))),
        };
        out.push_str(&format!(
            "\n{:>5}  {:>10}  {:>11}  {set}",
            e.seal,
            e.sealed_at.to_string(),
            at
        ));
    }
    out
}
