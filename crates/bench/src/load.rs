//! Gateway load against consensus (`alx bench gateway-load`): does gateway work slow the chain
//! down? Against a running node (its gateway, with the sample's model and API key), it
//! measures `/api/status` latency and the interval between blocks three times in one run: idle
//! (the peer every other figure is compared with), under a flood of huge prompts (each too
//! large for the context: refused, but the server must look at them), and under concurrent
//! chats (real generation). Ratios are loaded / idle.

use crate::{BenchError, Endpoint, stats::percentile};
use serde::Serialize;
use serde_json::{Value, json};
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// How often `/api/status` is sampled.
const STATUS_EVERY: Duration = Duration::from_millis(50);
/// How long one load request may take.
const REQUEST_MAX: Duration = Duration::from_secs(120);
/// Answers are counted per HTTP status below this; a request that got no answer counts as
/// the last one (599).
const STATUS_SLOTS: usize = 600;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node: its API (`/api/status`, blocks) and gateway, with the model and key to use.
    pub gateway: Endpoint,
    /// How long each phase lasts.
    pub phase: Duration,
    /// Clients sending requests at once in the loaded phases.
    pub clients: usize,
    /// Size of each huge prompt, in KiB.
    pub prompt_kib: usize,
}

/// A phase about to start, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing but the status samples.
    Idle {
        /// The phase's length.
        seconds: u64,
    },
    /// Clients sending prompts too large for the context.
    HugePrompts {
        /// Concurrent clients.
        clients: usize,
        /// Prompt size, in KiB.
        prompt_kib: usize,
        /// The phase's length.
        seconds: u64,
    },
    /// Clients chatting.
    Chats {
        /// Concurrent clients.
        clients: usize,
        /// The phase's length.
        seconds: u64,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Idle { seconds } => write!(f, "gateway load: idle for {seconds} s …"),
            Self::HugePrompts { clients, prompt_kib, seconds } => {
                write!(f, "… {clients} clients sending {prompt_kib} KiB prompts for {seconds} s …")
            }
            Self::Chats { clients, seconds } => {
                write!(f, "… {clients} clients chatting for {seconds} s")
            }
        }
    }
}

/// How many load requests got one HTTP status (599: no answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answers {
    /// Requests.
    pub count: u64,
    /// The status.
    pub status: u16,
}

/// What one phase measured, in milliseconds. Fields are in the order of the JSON the CLI has
/// always printed (alphabetical).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    /// The load requests' answers, by status.
    pub answers: Vec<Answers>,
    /// Longest interval between consecutive blocks of the window.
    pub block_interval_ms_max: f64,
    /// Median interval between consecutive blocks of the window.
    pub block_interval_ms_p50: f64,
    /// Intervals measured (blocks of the window minus one).
    pub blocks: usize,
    /// `/api/status` latency, maximum.
    pub status_ms_max: f64,
    /// `/api/status` latency, median.
    pub status_ms_p50: f64,
    /// `/api/status` latency, 99th percentile.
    pub status_ms_p99: f64,
    /// `/api/status` samples.
    pub status_samples: usize,
}

/// A loaded phase over the idle one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersusIdle {
    /// Longest block interval, loaded / idle (0 if idle measured none).
    pub block_interval_max: f64,
    /// `/api/status` p99, loaded / idle (0 if idle measured none).
    pub status_p99: f64,
}

/// The report of `alx bench gateway-load`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Concurrent chats.
    pub chats: PhaseReport,
    /// Concurrent chats over idle.
    pub chats_vs_idle: VersusIdle,
    /// The flood of huge prompts.
    pub huge_prompts: PhaseReport,
    /// The flood over idle.
    pub huge_prompts_vs_idle: VersusIdle,
    /// No load: the peer.
    pub idle: PhaseReport,
}

/// What a phase measured.
struct Phase {
    status_ms: Vec<f64>,
    block_interval_ms: Vec<f64>,
    answers: Vec<Answers>,
}

/// Runs the three phases, reporting each to `progress` before it starts.
///
/// # Errors
/// The node stops answering its API.
pub fn run(config: &Config, mut progress: impl FnMut(Progress)) -> Result<Report, BenchError> {
    let model = &config.gateway.model;
    let huge = "word ".repeat(config.prompt_kib * 1024 / 5);
    let huge = Arc::new(json!({
        "model": model, "messages": [{"role": "user", "content": huge}], "max_tokens": 16,
    }));
    let chat = Arc::new(json!({
        "model": model,
        "messages": [{"role": "user", "content": "How do I publish a Move module?"}],
        "max_tokens": 32,
        "temperature": 0,
    }));
    let (seconds, clients) = (config.phase.as_secs(), config.clients);
    progress(Progress::Idle { seconds });
    let idle = phase(config, None)?;
    progress(Progress::HugePrompts { clients, prompt_kib: config.prompt_kib, seconds });
    let flood = phase(config, Some(huge))?;
    progress(Progress::Chats { clients, seconds });
    let chats = phase(config, Some(chat))?;
    Ok(Report {
        chats_vs_idle: versus(&chats, &idle),
        chats: summary(&chats),
        huge_prompts_vs_idle: versus(&flood, &idle),
        huge_prompts: summary(&flood),
        idle: summary(&idle),
    })
}

fn summary(p: &Phase) -> PhaseReport {
    PhaseReport {
        answers: p.answers.clone(),
        block_interval_ms_max: percentile(p.block_interval_ms.clone(), 100),
        block_interval_ms_p50: percentile(p.block_interval_ms.clone(), 50),
        blocks: p.block_interval_ms.len(),
        status_ms_max: percentile(p.status_ms.clone(), 100),
        status_ms_p50: percentile(p.status_ms.clone(), 50),
        status_ms_p99: percentile(p.status_ms.clone(), 99),
        status_samples: p.status_ms.len(),
    }
}

fn versus(loaded: &Phase, idle: &Phase) -> VersusIdle {
    let ratio = |pick: &dyn Fn(&Phase) -> f64| {
        let base = pick(idle);
        if base > 0.0 { pick(loaded) / base } else { 0.0 }
    };
    VersusIdle {
        block_interval_max: ratio(&|p| percentile(p.block_interval_ms.clone(), 100)),
        status_p99: ratio(&|p| percentile(p.status_ms.clone(), 99)),
    }
}

/// Runs one phase: samples `/api/status` every [`STATUS_EVERY`] for the phase's length while
/// `clients` threads send `body` (none: idle) in a loop; then reads the blocks of the window
/// for their intervals.
fn phase(config: &Config, body: Option<Arc<Value>>) -> Result<Phase, BenchError> {
    let node = &config.gateway;
    let http =
        reqwest::blocking::Client::builder().timeout(REQUEST_MAX).build().map_err(|source| {
            BenchError::Unreachable {
                server: "the node".to_owned(),
                url: node.base.clone(),
                source,
            }
        })?;
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; STATUS_SLOTS]> =
        Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    let load: Vec<_> = body
        .into_iter()
        .flat_map(|b| std::iter::repeat_n(b, config.clients))
        .map(|body| {
            let (stop, counts, http, node) =
                (stop.clone(), counts.clone(), http.clone(), node.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let code = node
                        .post(&http, "/v1/chat/completions", &body)
                        .send()
                        .map_or(STATUS_SLOTS - 1, |r| usize::from(r.status().as_u16()));
                    counts[code.min(STATUS_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Sampling errors are returned only after the load threads are stopped.
    let client = alx_client::Client::new(&node.base);
    let sampled = sample_status(&client, config.phase);
    stop.store(true, Ordering::Relaxed);
    for t in load {
        // A panicked load thread only loses its own counts.
        let _ = t.join();
    }
    let (first, status_ms) = sampled?;
    let last = client.status()?.height.0;
    let mut stamps = Vec::new();
    for h in first..=last {
        stamps.push(client.block(&h.to_string())?.header.timestamp_ms);
    }
    let block_interval_ms = stamps.windows(2).map(|w| w[1].saturating_sub(w[0]) as f64).collect();
    let answers = (0..STATUS_SLOTS)
        .filter_map(|c| {
            let count = counts[c].load(Ordering::Relaxed);
            (count > 0).then_some(Answers { count, status: c as u16 })
        })
        .collect();
    Ok(Phase { status_ms, block_interval_ms, answers })
}

/// The height at the start and `/api/status` latencies, in milliseconds, over `length`.
fn sample_status(
    client: &alx_client::Client,
    length: Duration,
) -> Result<(u64, Vec<f64>), BenchError> {
    let first = client.status()?.height.0;
    let mut status_ms = Vec::new();
    let until = Instant::now() + length;
    while Instant::now() < until {
        let t = Instant::now();
        client.status()?;
        status_ms.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(STATUS_EVERY);
    }
    Ok((first, status_ms))
}

#[cfg(test)]
mod tests {
    use super::{Answers, Phase, Progress, summary, versus};

    fn phase(status_ms: &[f64], block_interval_ms: &[f64]) -> Phase {
        Phase {
            status_ms: status_ms.to_vec(),
            block_interval_ms: block_interval_ms.to_vec(),
            answers: vec![Answers { count: 3, status: 400 }],
        }
    }

    #[test]
    fn phases_summarize_and_compare_with_idle() {
        let idle = phase(&[1.0, 2.0, 4.0], &[1000.0, 1010.0]);
        let loaded = phase(&[2.0, 3.0, 8.0], &[1000.0, 2020.0, 1005.0]);
        let s = summary(&loaded);
        assert_eq!((s.status_samples, s.blocks), (3, 3));
        assert_eq!((s.status_ms_p50, s.status_ms_max), (3.0, 8.0));
        assert_eq!((s.block_interval_ms_p50, s.block_interval_ms_max), (1005.0, 2020.0));
        // p99 of three samples is the middle one (nearest rank below): 3 / 2.
        let v = versus(&loaded, &idle);
        assert_eq!((v.status_p99, v.block_interval_max), (1.5, 2.0));
        // Nothing measured while idle: no ratio rather than a division by zero.
        let v = versus(&loaded, &phase(&[], &[]));
        assert_eq!((v.status_p99, v.block_interval_max), (0.0, 0.0));
        let json = serde_json::to_value(summary(&idle)).expect("serialize");
        assert_eq!(json["answers"][0]["status"], 400);
        assert_eq!(json["answers"][0]["count"], 3);
    }

    #[test]
    fn progress_lines() {
        assert_eq!(Progress::Idle { seconds: 15 }.to_string(), "gateway load: idle for 15 s …");
        assert_eq!(
            Progress::HugePrompts { clients: 8, prompt_kib: 1900, seconds: 15 }.to_string(),
            "… 8 clients sending 1900 KiB prompts for 15 s …"
        );
    }
}
