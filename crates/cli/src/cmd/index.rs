//! `alx index …`: the attribution index over a plain corpus, outside the chain, for benchmarks
//! and curious users.
//!
//! A corpus is JSON lines, one document per line: `{"text": "…", "contributor": "…"}` (the
//! contributor is optional). A document's contribution id is its line number, 1-based (for
//! `append`, counted on from the index's largest id).

use crate::{Globals, output};
use alx_attribution::{
    AttributionConfig, BUILD_PART_BYTES, ContributionId, DocKey, Document, Index, IndexError,
    MergePolicy, Sampling,
};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    time::Instant,
};

/// `alx index …`.
#[derive(Subcommand)]
pub(crate) enum IndexCommand {
    /// Index a JSONL corpus (one `{"text": …}` object per line) into a new index directory.
    Build(BuildArgs),
    /// Add a JSONL file to an index as one new segment (then merge by the tiered policy).
    Append(AppendArgs),
    /// Count the occurrences of a text, or of each line of a file (JSON lines out).
    Count(CountArgs),
    /// Attribute an output: maximal spans and shares per contribution and contributor.
    Attribute(AttributeArgs),
}

/// Which positions to index.
#[derive(Clone, Copy, ValueEnum)]
enum SamplingArg {
    /// Word starts: ~5× smaller; counts occurrences that start a word.
    WordStarts,
    /// Every byte: counts any substring.
    EveryByte,
}

/// `alx index build`.
#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The corpus: JSON lines with a `text` field and an optional `contributor`.
    #[arg(long)]
    input: PathBuf,
    /// The index directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Which positions the suffix array indexes.
    #[arg(long, value_enum, default_value = "word-starts")]
    sampling: SamplingArg,
    /// Keep the corpus as segments of about this many MiB (default: one segment; a corpus over
    /// 1 GiB is sorted in parts of 1 GiB that are then merged).
    #[arg(long, conflicts_with = "part_mib")]
    segment_mib: Option<u64>,
    /// Sort the corpus in parts of this many MiB, then merge them into one segment (default
    /// 1024; smaller parts need less memory while sorting).
    #[arg(long)]
    part_mib: Option<u64>,
}

/// `alx index append`.
#[derive(Args)]
pub(crate) struct AppendArgs {
    /// The index directory.
    #[arg(long)]
    index: PathBuf,
    /// The contribution: JSON lines with a `text` field and an optional `contributor`.
    #[arg(long)]
    input: PathBuf,
    /// Merge when this many segments share a size tier (0: never merge).
    #[arg(long, default_value_t = 4)]
    fan_in: usize,
}

/// `alx index count`.
#[derive(Args)]
pub(crate) struct CountArgs {
    /// The index directory.
    #[arg(long)]
    index: PathBuf,
    /// The text to count.
    #[arg(required_unless_present = "queries")]
    text: Option<String>,
    /// A file of queries, one per line; prints one JSON line per query (`count` and `micros`,
    /// or `error` for a query the index cannot count: the others are still counted, and the
    /// command fails at the end).
    #[arg(long, conflicts_with = "text")]
    queries: Option<PathBuf>,
}

/// `alx index attribute`.
#[derive(Args)]
pub(crate) struct AttributeArgs {
    /// The index directory.
    #[arg(long)]
    index: PathBuf,
    /// The output to attribute (UTF-8 text).
    #[arg(long, required_unless_present = "outputs")]
    text_file: Option<PathBuf>,
    /// JSON lines of outputs (`{"text": …}`); prints one JSON line per output.
    #[arg(long, conflicts_with = "text_file")]
    outputs: Option<PathBuf>,
    /// Shortest span, in bytes.
    #[arg(long, default_value_t = alx_attribution::MIN_SPAN_BYTES_DEFAULT)]
    min_len: usize,
    /// Spans seen more often than this earn nothing.
    #[arg(long, default_value_t = AttributionConfig::DEFAULT.max_count)]
    max_count: u64,
}

pub(crate) fn run(g: &Globals, cmd: IndexCommand) -> anyhow::Result<()> {
    match cmd {
        IndexCommand::Build(a) => build(g, &a),
        IndexCommand::Append(a) => append(g, &a),
        IndexCommand::Count(a) => count(g, &a),
        IndexCommand::Attribute(a) => attribute(g, &a),
    }
}

#[derive(Deserialize)]
struct Line {
    text: String,
    contributor: Option<String>,
}

/// Reads a JSONL corpus; ids are `first_id + line number - 1`. Shows a progress bar by bytes.
fn read_corpus(path: &Path, first_id: u64) -> anyhow::Result<Vec<Document>> {
    let mut docs = Vec::new();
    each_document(path, first_id, |d| {
        docs.push(d);
        Ok(())
    })?;
    Ok(docs)
}

/// Calls `f` with each document of a JSONL corpus in order, holding one line at a time; ids
/// are `first_id + line number - 1`. Shows a progress bar by bytes.
fn each_document(
    path: &Path,
    first_id: u64,
    mut f: impl FnMut(Document) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = file.metadata().map_or(0, |m| m.len());
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("reading  {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reader = BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let mut raw = Vec::new();
    let mut line_no = 0u64;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        let text = alx_attribution::utf8(&raw).with_context(|| format!("line {line_no}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(text).map_err(|e| {
            output::hinted(
                format!("line {line_no} of {} is not a JSON object: {e}", path.display()),
                "each line must be an object like {\"text\": \"…\", \"contributor\": \"…\"}",
            )
        })?;
        f(Document {
            key: DocKey { contribution: ContributionId(first_id + line_no - 1), ordinal: 0 },
            contributor: line.contributor,
            text: line.text,
        })?;
    }
    bar.finish_and_clear();
    Ok(())
}

fn spinner(message: &'static str) -> ProgressBar {
    let s = ProgressBar::new_spinner().with_message(message);
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    s
}

#[derive(Serialize)]
struct BuildReport {
    documents: u64,
    corpus_bytes: u64,
    index_bytes: u64,
    index_bytes_per_corpus_byte: f64,
    anchors: u64,
    segments: usize,
    read_seconds: f64,
    /// Sorting the parts (each appended as a segment).
    index_seconds: f64,
    /// Merging the parts into one segment (0 with `--segment-mib`).
    merge_seconds: f64,
    /// Peak resident memory of the build (Linux `VmHWM`: mapped index files count).
    peak_rss_bytes: Option<u64>,
}

fn build(g: &Globals, a: &BuildArgs) -> anyhow::Result<()> {
    let sampling = match a.sampling {
        SamplingArg::WordStarts => Sampling::WordStarts,
        SamplingArg::EveryByte => Sampling::EveryByte,
    };
    let started = Instant::now();
    let Some(name) = a.out.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(output::hinted(
            format!("--out {} names no directory of its own", a.out.display()),
            "give the new index's directory, e.g. --out ./my-index",
        ));
    };
    let occupied = match std::fs::read_dir(&a.out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    };
    if occupied {
        return Err(output::hinted(
            format!("{} already exists and is not an empty directory", a.out.display()),
            "pick a new --out directory, or delete the old index",
        ));
    }
    // Built beside --out under a name of this process's own and renamed into place once
    // whole: a build that fails (a bad line of the corpus, a full disk) leaves nothing, and
    // two builds never share a directory.
    let building = a.out.with_file_name(format!(".{name}.building-{}", std::process::id()));
    if building.exists() {
        return Err(output::hinted(
            format!("{} is in the way", building.display()),
            "it is left by an earlier build that was killed: delete it",
        ));
    }
    let result = build_into(&building, sampling, a, started);
    let result = result.and_then(|report| {
        // Replaces an empty --out directory, as rename does on Linux.
        std::fs::rename(&building, &a.out)
            .with_context(|| format!("move the new index to {}", a.out.display()))?;
        Ok(report)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    let report = result?;
    output::emit(g.json, &report, || {
        format!(
            "indexed {} documents ({} bytes) in {:.2} s (+{:.2} s reading, {:.2} s merging): {} bytes of index, {:.2} per corpus byte; {} segment(s)",
            report.documents,
            report.corpus_bytes,
            report.index_seconds,
            report.read_seconds,
            report.merge_seconds,
            report.index_bytes,
            report.index_bytes_per_corpus_byte,
            report.segments,
        )
    })
}

/// Builds the index of `a.input` in `dir` (see [`build`]).
fn build_into(
    dir: &Path,
    sampling: Sampling,
    a: &BuildArgs,
    started: Instant,
) -> anyhow::Result<BuildReport> {
    let mut index = Index::create(dir, sampling)?;
    // The corpus is read a part at a time and never held whole: each part (1 GiB, or what
    // --segment-mib asks) is sorted on its own; then, unless segments were asked for, the
    // parts are merged into one.
    let part_bytes =
        a.segment_mib.or(a.part_mib).map_or(BUILD_PART_BYTES as u64, |m| m.clamp(1, 1 << 40) << 20);
    let (mut part, mut bytes, mut index_seconds) = (Vec::new(), 0u64, 0.0);
    let mut flush = |part: &mut Vec<Document>, index: &mut Index| -> anyhow::Result<()> {
        let started = Instant::now();
        index.append(part)?;
        index_seconds += started.elapsed().as_secs_f64();
        part.clear();
        Ok(())
    };
    each_document(&a.input, 1, |doc| {
        let len = doc.text.len() as u64 + 1;
        if !part.is_empty() && bytes + len > part_bytes {
            flush(&mut part, &mut index)?;
            bytes = 0;
        }
        bytes += len;
        part.push(doc);
        Ok(())
    })?;
    if !part.is_empty() {
        flush(&mut part, &mut index)?;
    }
    let read_seconds = started.elapsed().as_secs_f64() - index_seconds;
    let started = Instant::now();
    if a.segment_mib.is_none() && index.stats().segments > 1 {
        let s = spinner("merging the parts into one segment");
        let merged = index.compact();
        s.finish_and_clear();
        match merged {
            Err(IndexError::TooRepetitive { .. }) => eprintln!(
                "note: the parts repeat too much of each other's text to merge by comparison and are too large to sort again together; the index keeps them as separate segments (answers are the same, queries slower)"
            ),
            other => other?,
        }
    }
    let merge_seconds = started.elapsed().as_secs_f64();
    let st = index.stats();
    Ok(BuildReport {
        documents: st.documents,
        corpus_bytes: st.corpus_bytes,
        index_bytes: st.index_bytes,
        index_bytes_per_corpus_byte: st.index_bytes as f64 / st.corpus_bytes.max(1) as f64,
        anchors: st.anchors,
        segments: st.segments,
        read_seconds,
        index_seconds,
        merge_seconds,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// Peak resident memory of this process (Linux `VmHWM`), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[derive(Serialize)]
struct AppendReport {
    documents: usize,
    bytes: u64,
    first_contribution: u64,
    append_seconds: f64,
    merges: usize,
    merge_seconds: f64,
    segments: usize,
}

fn append(g: &Globals, a: &AppendArgs) -> anyhow::Result<()> {
    let mut index = open(&a.index)?;
    let first = index.next_contribution().0.max(1);
    let docs = read_corpus(&a.input, first)?;
    let started = Instant::now();
    index.append(&docs)?;
    let append_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let merges = if a.fan_in == 0 { 0 } else { index.merge(MergePolicy { fan_in: a.fan_in })? };
    let report = AppendReport {
        documents: docs.len(),
        bytes: docs.iter().map(|d| d.text.len() as u64).sum(),
        first_contribution: first,
        append_seconds,
        merges,
        merge_seconds: started.elapsed().as_secs_f64(),
        segments: index.stats().segments,
    };
    output::emit(g.json, &report, || {
        format!(
            "appended {} documents in {:.3} s; {} merges in {:.3} s; {} segments",
            report.documents,
            report.append_seconds,
            report.merges,
            report.merge_seconds,
            report.segments
        )
    })
}

fn open(dir: &Path) -> anyhow::Result<Index> {
    Index::open(dir).map_err(|e| {
        output::hinted(
            e.to_string(),
            "build one with `alx index build --input CORPUS.jsonl --out DIR`",
        )
    })
}

#[derive(Serialize)]
struct CountLine<'a> {
    query: &'a str,
    count: u64,
    micros: f64,
}

fn count(g: &Globals, a: &CountArgs) -> anyhow::Result<()> {
    let index = open(&a.index)?;
    let searcher = index.searcher();
    if let Some(text) = &a.text {
        let started = Instant::now();
        let count = searcher.count(text)?;
        let line = CountLine { query: text, count, micros: started.elapsed().as_secs_f64() * 1e6 };
        return output::emit(g.json, &line, || count.to_string());
    }
    let path = a.queries.as_deref().context("no query given")?;
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .with_context(|| format!("read {}", path.display()))?;
    let all = alx_attribution::utf8(&raw).with_context(|| format!("{}", path.display()))?;
    let (mut asked, mut failed) = (0usize, 0usize);
    for query in all.lines().filter(|q| !q.is_empty()) {
        asked += 1;
        let started = Instant::now();
        let line = match searcher.count(query) {
            Ok(count) => {
                let micros = started.elapsed().as_secs_f64() * 1e6;
                serde_json::to_value(CountLine { query, count, micros })?
            }
            Err(e) => {
                failed += 1;
                let error = output::error_document(&anyhow::Error::from(e));
                serde_json::json!({ "query": query, "error": error["error"] })
            }
        };
        println!("{line}");
    }
    if failed > 0 {
        return Err(output::hinted(
            format!("{failed} of {asked} queries could not be counted (their lines say why)"),
            "a word-start index counts queries that start at a word: drop leading spaces",
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct AttributeReport {
    micros: f64,
    #[serde(flatten)]
    attribution: alx_attribution::Attribution,
}

fn attribute(g: &Globals, a: &AttributeArgs) -> anyhow::Result<()> {
    let index = open(&a.index)?;
    let searcher = index.searcher();
    let config = AttributionConfig { min_len: a.min_len, max_count: a.max_count };
    if let Some(path) = &a.text_file {
        let raw = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        let text = alx_attribution::utf8(&raw).with_context(|| format!("{}", path.display()))?;
        let started = Instant::now();
        let attribution = searcher.attribute(text, &config)?;
        let report = AttributeReport { micros: started.elapsed().as_secs_f64() * 1e6, attribution };
        return output::emit(g.json, &report, || describe(&report));
    }
    let path = a.outputs.as_deref().context("no output given")?;
    for doc in read_corpus(path, 1)? {
        let started = Instant::now();
        let attribution = searcher.attribute(&doc.text, &config)?;
        let report = AttributeReport { micros: started.elapsed().as_secs_f64() * 1e6, attribution };
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

fn describe(r: &AttributeReport) -> String {
    let a = &r.attribution;
    let mut out = format!("{} spans in {:.0} µs\n", a.spans.len(), r.micros);
    for s in &a.spans {
        let ids: Vec<String> = s.sources.iter().map(|c| c.contribution.0.to_string()).collect();
        out += &format!(
            "  bytes {}..{} ({} B, seen {}×) in contributions [{}]\n",
            s.start,
            s.end,
            s.len,
            s.count,
            ids.join(", ")
        );
    }
    if a.contributions.is_empty() {
        out += "no data share: the output quotes no contribution\n";
    }
    for c in &a.contributions {
        out += &format!("  contribution {}: {} bps\n", c.contribution.0, c.bps);
    }
    for c in &a.contributors {
        out +=
            &format!("  contributor {}: {} bps\n", c.contributor.as_deref().unwrap_or("-"), c.bps);
    }
    out.trim_end().to_owned()
}
