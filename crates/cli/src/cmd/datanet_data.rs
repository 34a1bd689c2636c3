//! `alx datanet contribute|coverage|attribute`: the commands that move data, not just
//! transactions.

use crate::{
    Globals,
    cmd::{
        blob::{MediaArg, read_checked, upload},
        datanet::not_found,
        wallet::TxOptions,
    },
    output::{emit, hinted},
    wallet,
};
use alx_blobs::ingest;
use alx_client::Client;
use alx_types::datanet_api::ContributionJson;
use alx_types::{
    TxStatus,
    attribution_api::AttributionRequest,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, MediaType},
    hash::to_hex,
    tx::Payload,
};
use anyhow::Context as _;
use clap::Args;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// `alx datanet contribute`.
#[derive(Args)]
pub(crate) struct ContributeArgs {
    /// Datanet id.
    id: DatanetId,
    /// Files to contribute (.txt, .md, .jsonl with a "text" field, or source code).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Content type of every file (default: from each file's name).
    #[arg(long, value_enum)]
    media_type: Option<MediaArg>,
    /// The contributor's key (pays the datanet's fee and stake).
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// One contributed file.
#[derive(serde::Serialize)]
struct Contributed {
    file: String,
    hash: String,
    size: u64,
    media_type: MediaType,
    tx: String,
    /// Its id in the datanet, once committed.
    contribution: Option<ContributionId>,
    /// `submitted`, `failed`, or the contribution's status once the validators reported on
    /// its data (`approved`, `pending`, `refused`, …; `awaiting_data` if they had not yet).
    status: String,
    error: Option<&'static str>,
    /// Why the validators refused it, with the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<alx_types::availability::Refusal>,
}

/// How long `contribute` waits for the validators to confirm the data held.
const DATA_WAIT: Duration = Duration::from_secs(60);

/// Waits until none of `ids` of `datanet` awaits its data any more (a quorum of validators
/// reported on it, or its deadline passed) or `timeout` passes; returns their records.
pub(crate) fn wait_decided(
    client: &Client,
    datanet: DatanetId,
    ids: &[ContributionId],
    timeout: Duration,
) -> anyhow::Result<Vec<ContributionJson>> {
    let deadline = Instant::now() + timeout;
    let first = ids.iter().copied().min().unwrap_or_default();
    loop {
        let listed: Vec<ContributionJson> = client
            .contributions_from(datanet, first, None)?
            .into_iter()
            .filter(|c| ids.contains(&c.id))
            .collect();
        let waiting = listed.iter().any(|c| c.status == "awaiting_data");
        if !waiting || Instant::now() >= deadline {
            return Ok(listed);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until no contribution of `datanet` awaits its data, or fails after `timeout`.
pub(crate) fn wait_held(
    client: &Client,
    datanet: DatanetId,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !client.contributions(datanet, Some("awaiting_data"))?.is_empty() {
        if Instant::now() >= deadline {
            return Err(hinted(
                format!(
                    "the validators did not confirm datanet {datanet}'s data within {timeout:?}"
                ),
                "check the node's log; a contribution is dropped as unavailable if no quorum holds its data",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

pub(crate) fn contribute(g: &Globals, client: &Client, a: ContributeArgs) -> anyhow::Result<()> {
    let datanet = client.datanet(a.id).map_err(|e| not_found(e, a.id))?;
    // Check every file before sending anything.
    let mut checked = Vec::with_capacity(a.files.len());
    for file in &a.files {
        let media = a.media_type.map(MediaType::from).or_else(|| ingest::media_type_for(file));
        let media = media.ok_or_else(|| {
            hinted(
                format!("cannot tell the content type of {}", file.display()),
                "name it .txt, .md, .jsonl or a source-code extension, or pass --media-type",
            )
        })?;
        checked.push((file, media, read_checked(file, Some(media))?));
    }
    let key = wallet::unlock(g, &a.from)?;
    let mut offers = Vec::with_capacity(checked.len());
    for (file, media, bytes) in checked {
        let stored = upload(client, &key, file, bytes, Some(media), !g.json)?;
        offers.push((file, ContentRef { hash: stored.hash, size: stored.size, media_type: media }));
    }
    let payloads = offers
        .iter()
        .map(|(_, content)| {
            Payload::Datanet(DatanetOp::Contribute { datanet: a.id, content: *content })
        })
        .collect();
    let first_id = ContributionId(client.datanet(a.id)?.datanet.contributions);
    let sent = wallet::send_all(g, &key, a.opts.fee, payloads, !a.opts.no_wait)?;
    let mut listed = if a.opts.no_wait {
        Vec::new()
    } else {
        client.contributions_from(a.id, first_id, None)?
    };
    listed.retain(|c| c.contributor == key_address(&key));
    if !listed.is_empty() {
        // The validators confirm they hold the data (and what it is) within a block or two.
        let ids: Vec<ContributionId> = listed.iter().map(|c| c.id).collect();
        if !g.json {
            eprintln!("waiting for the validators to confirm the data …");
        }
        listed = wait_decided(client, a.id, &ids, DATA_WAIT)?;
    }
    let results: Vec<Contributed> = offers
        .iter()
        .zip(&sent)
        .map(|((file, content), sent)| {
            let receipt = sent.committed.as_ref().map(|c| &c.receipt);
            let failed = receipt.is_some_and(|r| r.status == TxStatus::Failed);
            let record = listed.iter().rev().find(|c| c.content.hash == content.hash && !failed);
            Contributed {
                file: file.display().to_string(),
                hash: to_hex(&content.hash),
                size: content.size,
                media_type: content.media_type,
                tx: sent.hash.clone(),
                contribution: record.map(|c| c.id),
                status: match (receipt, failed, record) {
                    (None, _, _) => "submitted".into(),
                    (Some(_), true, _) => "failed".into(),
                    (Some(_), false, Some(c)) => c.status.clone(),
                    (Some(_), false, None) => "committed".into(),
                },
                error: receipt.and_then(|r| r.error).map(alx_types::ErrorCode::as_str),
                refusal: record.and_then(|c| c.refusal),
            }
        })
        .collect();
    emit(g.json, &results, || {
        results
            .iter()
            .map(|r| match (&r.error, r.contribution) {
                (Some(code), _) => format!("{}: refused ({code}), tx {}", r.file, r.tx),
                (None, Some(id)) => format!(
                    "{}: contribution #{id} to datanet {} ({}), {} bytes, {}: {}{}",
                    r.file,
                    a.id,
                    datanet.datanet.spec.name,
                    r.size,
                    &r.hash[..16],
                    r.status,
                    r.refusal
                        .map(|x| format!(" ({})", super::datanet::refusal_text(&x)))
                        .unwrap_or_default(),
                ),
                (None, None) => format!("{}: submitted, tx {}", r.file, r.tx),
            })
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if let Some(r) = results.iter().find(|r| r.error.is_some()) {
        return Err(hinted(
            format!("{} was not accepted: {}", r.file, r.error.unwrap_or("failed")),
            "see `alx tx show HASH`; the upload itself is kept and costs nothing",
        ));
    }
    if let Some(r) = results.iter().find(|r| r.refusal.is_some() || r.status == "unavailable") {
        return Err(hinted(
            format!("{} was refused by the validators: {}", r.file, r.status),
            "see `alx datanet show ID` for the evidence; the stake of a refused contribution goes to the datanet's owner",
        ));
    }
    Ok(())
}

fn key_address(key: &commonware_cryptography::ed25519::PrivateKey) -> alx_types::Address {
    use commonware_cryptography::Signer as _;
    alx_types::Address::from_public_key(&key.public_key())
}

pub(crate) fn coverage(
    g: &Globals,
    client: &Client,
    id: DatanetId,
    contribution: ContributionId,
) -> anyhow::Result<()> {
    let c = client.coverage(id, contribution)?;
    emit(g.json, &c, || {
        if c.version == 0 {
            return format!("#{contribution}: no earlier version to compare with");
        }
        let pct = f64::from(c.bps) / 100.0;
        let verdict = if c.near_duplicate {
            format!(" — near-duplicate (flag it: alx datanet flag {id} {contribution} --from KEY)")
        } else {
            String::new()
        };
        format!(
            "#{contribution}: {pct:.2}% of {} bytes already in version {}{verdict}",
            c.total_bytes, c.version
        )
    })
}

/// `alx datanet attribute`.
#[derive(Args)]
pub(crate) struct AttributeArgs {
    /// Datanet id.
    id: DatanetId,
    /// The text.
    #[arg(long, conflicts_with = "text_file", required_unless_present = "text_file")]
    text: Option<String>,
    /// A file holding the text.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// The datanet version to attribute against (default: the latest the node has indexed).
    #[arg(long, value_name = "VERSION")]
    at: Option<u32>,
    /// Shortest span counted, in bytes.
    #[arg(long)]
    min_len: Option<usize>,
}

pub(crate) fn attribute(g: &Globals, client: &Client, a: &AttributeArgs) -> anyhow::Result<()> {
    let text = match (&a.text, &a.text_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        (None, None) => anyhow::bail!("give --text or --text-file"),
    };
    let req = AttributionRequest { datanet: a.id, version: a.at, text, min_len: a.min_len };
    let r = client.attribute(&req)?;
    emit(g.json, &r, || {
        let mut out = vec![format!(
            "datanet {} version {}: {} of {} bytes in {} spans of ≥ {} bytes",
            r.datanet,
            r.version,
            r.covered_bytes,
            r.text_bytes,
            r.spans.len(),
            r.min_len
        )];
        if r.contributors.is_empty() {
            out.push("no contribution is quoted: no data share".into());
        }
        for s in &r.contributors {
            out.push(format!("  {:>6.2}%  {}", f64::from(s.bps) / 100.0, s.id));
        }
        for s in &r.contributions {
            out.push(format!("  {:>6.2}%  contribution #{}", f64::from(s.bps) / 100.0, s.id));
        }
        if !r.excluded.is_empty() {
            out.push(format!("  flagged near-duplicates (no share): {:?}", r.excluded));
        }
        out.join("\n")
    })
}
