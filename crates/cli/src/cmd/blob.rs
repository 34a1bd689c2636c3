//! `alx blob put|get`: content-addressed uploads and verified downloads, and the shared
//! upload step of `alx datanet contribute`.

use crate::{
    Globals,
    output::{emit, hinted},
};
use alx_blobs::ingest;
use alx_client::Client;
use alx_types::{
    attribution_api::BlobResponse,
    datanet::{CONTRIBUTION_SIZE_MAX, MediaType},
    hash::{Hash, parse_hex, to_hex},
};
use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// `alx blob …`.
#[derive(Subcommand)]
pub(crate) enum BlobCommand {
    /// Upload a file; prints its BLAKE3 hash (its address). Uploading twice is harmless. The
    /// upload is signed by --from (an account holding funds answers for what a node stores);
    /// blobs no transaction references are deleted by the node after a grace period.
    Put {
        /// The file.
        file: PathBuf,
        /// The key signing the upload.
        #[arg(long)]
        from: String,
        /// Also require the content to ingest as this type (default: from the file name, if
        /// it is one datanets take; otherwise unchecked).
        #[arg(long, value_enum)]
        media_type: Option<MediaArg>,
    },
    /// Download a blob, checking its bytes against the hash.
    Get {
        /// The BLAKE3 hash (64 hex characters).
        hash: String,
        /// Where to write it (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// A content type, as datanets read it.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum MediaArg {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
    /// JSON lines with a "text" field.
    Jsonl,
    /// Source code.
    Code,
}

impl From<MediaArg> for MediaType {
    fn from(m: MediaArg) -> Self {
        match m {
            MediaArg::Text => Self::Text,
            MediaArg::Markdown => Self::Markdown,
            MediaArg::Jsonl => Self::Jsonl,
            MediaArg::Code => Self::Code,
        }
    }
}

pub(crate) fn run(g: &Globals, cmd: BlobCommand) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    match cmd {
        BlobCommand::Put { file, from, media_type } => {
            let media = media_type.map(MediaType::from).or_else(|| ingest::media_type_for(&file));
            let bytes = read_checked(&file, media)?;
            let key = crate::wallet::unlock(g, &from)?;
            let stored = upload(&client, &key, &file, bytes, media, !g.json)?;
            emit(g.json, &stored, || {
                let verb = if stored.created { "stored" } else { "already stored" };
                format!("{verb} {} ({} bytes)", to_hex(&stored.hash), stored.size)
            })
        }
        BlobCommand::Get { hash, output } => get(&client, &hash, output.as_deref()),
    }
}

/// Reads a file to upload and checks it the way the node will: size, and (with a media type)
/// ingestion. Nothing is sent when this fails.
pub(crate) fn read_checked(file: &Path, media: Option<MediaType>) -> anyhow::Result<Vec<u8>> {
    let size =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if size > CONTRIBUTION_SIZE_MAX {
        return Err(hinted(
            format!(
                "{} is {size} bytes, over the limit of {CONTRIBUTION_SIZE_MAX}",
                file.display()
            ),
            "split it into several files",
        ));
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if let Some(media) = media {
        ingest::documents(media, &bytes).map_err(|e| {
            hinted(
                format!("{} cannot be contributed: {e}", file.display()),
                "datanets take UTF-8 text, Markdown, source code, or JSON lines with a \"text\" field",
            )
        })?;
    } else if bytes.is_empty() {
        return Err(hinted(format!("{} is empty", file.display()), "there is nothing to upload"));
    }
    Ok(bytes)
}

/// Blocks an upload grant stays good for: a few minutes, enough for a large upload.
const GRANT_BLOCKS: u64 = 600;

/// Uploads `bytes` under their hash, signed by `key`, with a progress bar on a terminal.
pub(crate) fn upload(
    client: &Client,
    key: &commonware_cryptography::ed25519::PrivateKey,
    file: &Path,
    bytes: Vec<u8>,
    media: Option<MediaType>,
    progress: bool,
) -> anyhow::Result<BlobResponse> {
    let hash = alx_blobs::blake3_hash(&bytes);
    let size = bytes.len() as u64;
    let status = client.status()?;
    let grant = alx_types::upload::UploadGrant::sign(
        key,
        &status.chain_id,
        hash,
        size,
        status.height.saturating_add(GRANT_BLOCKS),
    );
    let bar = if progress { ProgressBar::new(size) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "uploading {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let body = bar.wrap_read(std::io::Cursor::new(bytes));
    let stored = client
        .put_blob(&hash, media, body, size, &alx_client::UploadAuth::Grant(grant))
        .map_err(|e| upload_error(e, file))?;
    bar.finish_and_clear();
    if stored.hash != hash || stored.size != size {
        anyhow::bail!(
            "the node stored {} ({} bytes), not what was sent",
            to_hex(&stored.hash),
            stored.size
        );
    }
    Ok(stored)
}

fn upload_error(e: alx_client::ClientError, file: &Path) -> anyhow::Error {
    let text = e.to_string();
    let hint = if text.contains("insufficient_funds") {
        Some(
            "the node stores data only for accounts holding funds: transfer some ALX to the signing key",
        )
    } else if text.contains("quota_exceeded") {
        Some("the node's hourly upload quota is used up; retry after the time it names")
    } else if text.contains("upload_unauthorized") {
        Some("the upload grant was refused; check the key and that the node is on the same chain")
    } else {
        None
    };
    match hint {
        Some(hint) => hinted(format!("cannot upload {}: {text}", file.display()), hint),
        None => anyhow::Error::new(e).context(format!("cannot upload {}", file.display())),
    }
}

fn get(client: &Client, hash: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let hash: Hash = parse_hex(hash)
        .ok_or_else(|| hinted(format!("{hash:?} is not a hash"), "give 64 hex characters"))?;
    let (size, mut body) = client.get_blob(&hash).map_err(|e| {
        if e.is_not_found() {
            hinted(
                format!("no blob {}", to_hex(&hash)),
                "check the hash (alx datanet show ID lists them)",
            )
        } else {
            e.into()
        }
    })?;
    // A file is written under a temporary name and renamed only once the hash checks out,
    // so a bad or truncated download never leaves a file that looks complete.
    match output {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            copy_verified(&mut body, &mut std::io::BufWriter::new(tmp.as_file_mut()), &hash, size)?;
            tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => copy_verified(&mut body, &mut std::io::stdout().lock(), &hash, size)?,
    }
    Ok(())
}

fn copy_verified(
    body: &mut impl std::io::Read,
    sink: &mut impl std::io::Write,
    hash: &Hash,
    size: u64,
) -> anyhow::Result<()> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = body.read(&mut buf).context("download interrupted")?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        received += n as u64;
        sink.write_all(&buf[..n])?;
    }
    sink.flush()?;
    let actual = alx_types::hash::from_bytes(*hasher.finalize().as_bytes());
    if actual != *hash || received != size {
        anyhow::bail!(
            "the node sent {received} bytes hashing to {}, not blob {}",
            to_hex(&actual),
            to_hex(hash)
        );
    }
    Ok(())
}
