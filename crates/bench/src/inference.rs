//! Inference (`alx bench inference`): a GGUF model on alx-model (candle) against llama.cpp on
//! the same file and the same token ids, in the same run; then, optionally, the gateway's
//! overhead per request ([`crate::overhead`]).
//!
//! The llama.cpp peer runs through llama-cpp-python (`crates/bench/peer/llama_peer.py`, built
//! into this crate), a bench-only dependency outside the build: `scripts/bench-peer.sh`
//! installs it into a venv (llama.cpp compiled for x86-64-v3). Engines alternate run by run so
//! that both see the same machine load; medians are reported.

use crate::{BenchError, overhead, stats::median};
use alx_model::bench::{BenchOptions, BenchReport, ContextReport};
use serde::Serialize;
use serde_json::{Value, json};
use std::{
    fmt,
    num::NonZeroUsize,
    path::{Path, PathBuf},
    process::Command,
};

/// The peer: reads a JSON job (model, threads, token ids) and prints one JSON report.
const PEER_SCRIPT: &str = include_str!("../peer/llama_peer.py");
/// The decode speed goal, alx-model over llama.cpp.
const GOAL_DECODE_RATIO: f64 = 1.0;
/// The gateway overhead goal, median, in milliseconds.
const GOAL_GATEWAY_OVERHEAD_MS_P50: f64 = 2.0;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The GGUF file.
    pub model: PathBuf,
    /// alx-model's options (threads, tokens decoded and scored); the peer gets the same.
    pub options: BenchOptions,
    /// Runs of each engine (alternating); medians are reported.
    pub runs: NonZeroUsize,
    /// Context lengths at which decode is measured again (tokens fed before decoding).
    pub contexts: Vec<usize>,
    /// Tokens decoded at each context length.
    pub context_decode_tokens: usize,
    /// A Python with llama-cpp-python to run the peer; `None` skips the peer.
    pub peer_python: Option<String>,
    /// The gateway overhead measurement; `None` skips it.
    pub gateway: Option<overhead::Config>,
}

/// An engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// alx-model.
    AlxModel,
    /// llama.cpp through llama-cpp-python.
    LlamaCpp,
}

/// Where a run is, or what it could not do, for a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The peer's Python cannot import llama-cpp-python: the peer is skipped.
    NoPeer {
        /// The Python tried.
        python: String,
    },
    /// A run of one engine starts.
    Run {
        /// Which run, from 1.
        run: usize,
        /// Of how many.
        runs: usize,
        /// The engine.
        engine: Engine,
    },
    /// candle's kernels ran on another thread count than asked (it reads
    /// `CANDLE_NUM_THREADS` once per process).
    KernelThreads {
        /// Threads the kernels ran on.
        ran: usize,
        /// Threads asked for.
        asked: usize,
    },
    /// The gateway measurement starts.
    Gateway {
        /// Requests.
        requests: usize,
        /// The node.
        base: String,
    },
    /// The gateway measurement failed; the report has no `gateway` figures.
    GatewayNotMeasured {
        /// Why, with its causes.
        reason: String,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPeer { python } => write!(
                f,
                "note: no llama.cpp peer ({python} cannot import llama_cpp); install it with scripts/bench-peer.sh and pass --peer-python"
            ),
            Self::Run { run, runs, engine: Engine::AlxModel } => {
                write!(f, "run {run}/{runs}: alx-model …")
            }
            Self::Run { run, runs, engine: Engine::LlamaCpp } => {
                write!(f, "run {run}/{runs}: llama.cpp …")
            }
            Self::KernelThreads { ran, asked } => write!(
                f,
                "warning: candle's kernels ran on {ran} threads, not {asked}: start with CANDLE_NUM_THREADS={asked}"
            ),
            Self::Gateway { requests, base } => {
                write!(f, "gateway: {requests} requests to {base} …")
            }
            Self::GatewayNotMeasured { reason } => {
                write!(f, "note: gateway overhead not measured: {reason}")
            }
        }
    }
}

/// One engine's medians over its runs. Fields are in the order of the JSON the CLI has always
/// printed (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct EngineSummary {
    /// The last run's greedy output.
    pub decode_text: Value,
    /// Generated tokens per second, median.
    pub decode_tokens_per_s: f64,
    /// The last run's perplexity.
    pub perplexity: Value,
    /// Scored tokens per second, median.
    pub perplexity_tokens_per_s: f64,
    /// Prompt tokens per second, median.
    pub prefill_tokens_per_s: f64,
    /// Every run's report, as the engine gave it.
    pub runs: Vec<Value>,
}

/// alx-model over llama.cpp; `None` where llama.cpp measured nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// Decode.
    pub decode: Option<f64>,
    /// Perplexity scoring.
    pub perplexity: Option<f64>,
    /// Prefill.
    pub prefill: Option<f64>,
}

/// Decode at one context length: both engines' medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct ContextSummary {
    /// Tokens in the cache when decoding starts.
    pub context_tokens: usize,
    /// Tokens decoded per run.
    pub decode_tokens: usize,
    /// alx-model's generated tokens per second, median.
    pub alx_model_tokens_per_s: f64,
    /// llama.cpp's, median, if the peer ran.
    pub llama_cpp_tokens_per_s: Option<f64>,
    /// alx-model over llama.cpp.
    pub ratio: Option<f64>,
}

/// The report of `alx bench inference`. Fields are in the order of the JSON the CLI has always
/// printed (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// alx-model's figures.
    pub alx_model: EngineSummary,
    /// Always `inference`.
    pub bench: &'static str,
    /// The gateway overhead, if measured.
    pub gateway: Option<overhead::Report>,
    /// The decode goal, alx-model over llama.cpp.
    pub goal_decode_ratio: f64,
    /// The gateway overhead goal, median, in milliseconds.
    pub goal_gateway_overhead_ms_p50: f64,
    /// Threads candle's kernels ran on.
    pub kernel_threads: usize,
    /// llama.cpp's figures, if the peer ran.
    pub llama_cpp: Option<EngineSummary>,
    /// Decode by context length (empty when no lengths were asked for).
    pub decode_by_context: Vec<ContextSummary>,
    /// The GGUF file.
    pub model: PathBuf,
    /// alx-model over llama.cpp, if the peer ran.
    pub ratio_alx_to_llama_cpp: Option<Ratios>,
    /// Threads asked for, both engines.
    pub threads: usize,
}

/// Runs both engines in turn `runs` times, then the gateway measurement.
///
/// # Errors
/// alx-model or the peer fails. A failed gateway measurement is reported to `progress` and
/// leaves `gateway` empty instead: the engines' figures stand on their own.
pub fn run(config: &Config, mut progress: impl FnMut(Progress)) -> Result<Report, BenchError> {
    let threads = config.options.load.threads.get();
    let peer = match config.peer_python.as_deref() {
        Some(python) if peer_available(python) => Some(python),
        Some(python) => {
            progress(Progress::NoPeer { python: python.to_owned() });
            None
        }
        None => None,
    };
    let runs = config.runs.get();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_at, mut theirs_at) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        progress(Progress::Run { run, runs, engine: Engine::AlxModel });
        let report = alx_model::bench::run(&config.model, &config.options)?;
        let at = alx_model::bench::decode_at_contexts(
            &config.model,
            &config.options.load,
            &config.contexts,
            config.context_decode_tokens,
        )?;
        if let Some(python) = peer {
            progress(Progress::Run { run, runs, engine: Engine::LlamaCpp });
            let peer_report = peer_run(python, config, &report, &at)?;
            theirs_at.push(peer_contexts(&peer_report));
            theirs.push(peer_report);
        }
        ours.push(report);
        ours_at.push(at);
    }
    let decode_by_context = by_context(config, &ours_at, peer.map(|_| theirs_at.as_slice()));
    let kernel_threads = ours.first().map_or(0, |r| r.kernel_threads);
    if kernel_threads != threads {
        progress(Progress::KernelThreads { ran: kernel_threads, asked: threads });
    }
    let ours = summary(ours.iter().map(to_value).collect());
    let peer = peer.map(|_| summary(theirs));
    let ratios = peer.as_ref().map(|p| Ratios {
        decode: ratio(ours.decode_tokens_per_s, p.decode_tokens_per_s),
        perplexity: ratio(ours.perplexity_tokens_per_s, p.perplexity_tokens_per_s),
        prefill: ratio(ours.prefill_tokens_per_s, p.prefill_tokens_per_s),
    });
    let gateway = config.gateway.as_ref().and_then(|gateway| {
        let (requests, base) = (gateway.requests.get(), gateway.gateway.base.clone());
        progress(Progress::Gateway { requests, base });
        match overhead::run(gateway) {
            Ok(report) => Some(report),
            Err(e) => {
                progress(Progress::GatewayNotMeasured { reason: causes(&e) });
                None
            }
        }
    });
    Ok(Report {
        alx_model: ours,
        bench: "inference",
        decode_by_context,
        gateway,
        goal_decode_ratio: GOAL_DECODE_RATIO,
        goal_gateway_overhead_ms_p50: GOAL_GATEWAY_OVERHEAD_MS_P50,
        kernel_threads,
        llama_cpp: peer,
        model: config.model.clone(),
        ratio_alx_to_llama_cpp: ratios,
        threads,
    })
}

/// The peer's decode rates by context, in the order asked (0 where it reported none).
fn peer_contexts(report: &Value) -> Vec<f64> {
    let rows = report["contexts"].as_array().map_or(&[][..], Vec::as_slice);
    rows.iter().map(|r| r["decode_tokens_per_s"].as_f64().unwrap_or(0.0)).collect()
}

/// Medians by context length over the runs of both engines.
fn by_context(
    config: &Config,
    ours: &[Vec<ContextReport>],
    theirs: Option<&[Vec<f64>]>,
) -> Vec<ContextSummary> {
    config
        .contexts
        .iter()
        .enumerate()
        .map(|(i, &context_tokens)| {
            let alx = median(
                ours.iter().filter_map(|r| r.get(i)).map(|r| r.decode_tokens_per_s).collect(),
            );
            let peer = theirs.map(|t| median(t.iter().filter_map(|r| r.get(i).copied()).collect()));
            ContextSummary {
                context_tokens,
                decode_tokens: config.context_decode_tokens,
                alx_model_tokens_per_s: alx,
                llama_cpp_tokens_per_s: peer,
                ratio: peer.and_then(|p| ratio(alx, p)),
            }
        })
        .collect()
}

/// alx-model's report as the JSON object every run has always been printed as.
fn to_value(report: &BenchReport) -> Value {
    // Numbers, strings and plain structs: encoding cannot fail.
    serde_json::to_value(report).expect("a model bench report encodes as JSON")
}

/// `e` and its causes, `: `-separated.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// The medians of `runs` (reports of one engine, as JSON objects).
fn summary(runs: Vec<Value>) -> EngineSummary {
    let med = |k: &str| median(runs.iter().filter_map(|r| r[k].as_f64()).collect());
    EngineSummary {
        decode_text: runs.last().map_or(Value::Null, |r| r["decode_text"].clone()),
        decode_tokens_per_s: med("decode_tokens_per_s"),
        perplexity: runs.last().map_or(Value::Null, |r| r["perplexity"].clone()),
        perplexity_tokens_per_s: med("perplexity_tokens_per_s"),
        prefill_tokens_per_s: med("prefill_tokens_per_s"),
        runs,
    }
}

fn peer_available(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import llama_cpp, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One run of the llama.cpp peer on the token ids of `ours`.
fn peer_run(
    python: &str,
    config: &Config,
    ours: &BenchReport,
    at: &[ContextReport],
) -> Result<Value, BenchError> {
    let dir = tempfile::tempdir().map_err(BenchError::io("create a temporary directory"))?;
    let job = dir.path().join("job.json");
    let body = json!({
        "model": config.model, "threads": config.options.load.threads.get(),
        "prompt": ours.prompt_ids, "decode_tokens": config.options.decode_tokens,
        "perplexity": ours.perplexity_ids, "window": ours.options.perplexity_window.get(),
        "contexts": at.iter().map(|c| json!({"prompt": c.prompt_ids, "decode_tokens": c.decode_tokens}))
            .collect::<Vec<_>>(),
    });
    std::fs::write(&job, body.to_string()).map_err(BenchError::io("write the peer's job"))?;
    let out = run_script(python, &job)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(BenchError::Peer(stderr.lines().last().unwrap_or("no output").to_owned()));
    }
    serde_json::from_slice(&out.stdout).map_err(BenchError::PeerReport)
}

fn run_script(python: &str, job: &Path) -> Result<std::process::Output, BenchError> {
    Command::new(python)
        .arg("-c")
        .arg(PEER_SCRIPT)
        .arg(job)
        .output()
        .map_err(|e| BenchError::Peer(format!("cannot run {python}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{Config, Engine, Progress, run};
    use alx_model::{bench::BenchOptions, tiny};
    use std::num::NonZeroUsize;

    /// Two runs on the tiny model, with a peer Python that does not exist: the peer is
    /// skipped with a note, alx-model's figures are medians of both runs.
    #[test]
    fn the_tiny_model_runs_and_a_missing_peer_is_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = dir.path().join("tiny.gguf");
        let spec = tiny::TinySpec { context_length: 512, ..tiny::TinySpec::DEFAULT };
        tiny::write(&model, &spec).expect("write the tiny model");
        let config = Config {
            model: model.clone(),
            options: BenchOptions {
                decode_tokens: 8,
                perplexity_tokens: 300,
                perplexity_window: NonZeroUsize::new(128).expect("128"),
                ..BenchOptions::DEFAULT
            },
            runs: NonZeroUsize::new(2).expect("2"),
            contexts: vec![16, 200],
            context_decode_tokens: 4,
            peer_python: Some(dir.path().join("no-python").display().to_string()),
            gateway: None,
        };
        let mut seen = Vec::new();
        let report = run(&config, |p| seen.push(p)).expect("inference bench");
        assert!(matches!(&seen[0], Progress::NoPeer { .. }), "{seen:?}");
        let runs: Vec<_> = seen
            .iter()
            .filter_map(|p| match p {
                Progress::Run { run, runs, engine } => Some((*run, *runs, *engine)),
                _ => None,
            })
            .collect();
        assert_eq!(runs, [(1, 2, Engine::AlxModel), (2, 2, Engine::AlxModel)]);
        assert_eq!(report.bench, "inference");
        assert_eq!(report.model, model);
        assert_eq!(report.threads, 1);
        assert!(report.kernel_threads >= 1);
        let ours = &report.alx_model;
        assert_eq!(ours.runs.len(), 2);
        assert!(ours.prefill_tokens_per_s > 0.0 && ours.decode_tokens_per_s > 0.0);
        assert!(ours.perplexity_tokens_per_s > 0.0);
        assert!(ours.perplexity.as_f64().is_some_and(|p| p.is_finite() && p > 1.0));
        assert!(ours.runs.iter().all(|r| r["decode_tokens"] == 8));
        assert!(report.llama_cpp.is_none() && report.ratio_alx_to_llama_cpp.is_none());
        assert!(report.gateway.is_none());
        let at: Vec<_> = report.decode_by_context.iter().map(|c| c.context_tokens).collect();
        assert_eq!(at, [16, 200]);
        assert!(report.decode_by_context.iter().all(|c| c.alx_model_tokens_per_s > 0.0
            && c.decode_tokens == 4
            && c.llama_cpp_tokens_per_s.is_none()
            && c.ratio.is_none()));
        let json = serde_json::to_value(&report).expect("serialize");
        assert!(json["llama_cpp"].is_null() && json["gateway"].is_null());
        assert_eq!(json["goal_gateway_overhead_ms_p50"], 2.0);
    }
}
