//! `alx bench gateway-load`: does gateway work slow the chain down? Against a running node (the
//! sample of `alx up`: its model and API key), it measures `/api/status` latency and the
//! interval between blocks three times in one run: idle (the peer every other figure is
//! compared with), under a flood of huge prompts (eight at a time, each too large for the
//! context: refused, but the server must look at them), and under eight chats at a time (real
//! generation). Ratios are loaded / idle.

use super::bench_inference::percentile;
use crate::Globals;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// `alx bench gateway-load`.
#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// Seconds each phase lasts.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Clients sending requests at once in the loaded phases.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Size of each huge prompt, in KiB.
    #[arg(long, default_value_t = 1_900)]
    prompt_kib: usize,
}

/// What a phase measured.
struct Phase {
    status_ms: Vec<f64>,
    block_interval_ms: Vec<f64>,
    answers: Vec<(u16, u64)>,
}

fn summary(p: &Phase) -> Value {
    json!({
        "status_ms_p50": percentile(p.status_ms.clone(), 50),
        "status_ms_p99": percentile(p.status_ms.clone(), 99),
        "status_ms_max": percentile(p.status_ms.clone(), 100),
        "status_samples": p.status_ms.len(),
        "block_interval_ms_p50": percentile(p.block_interval_ms.clone(), 50),
        "block_interval_ms_max": percentile(p.block_interval_ms.clone(), 100),
        "blocks": p.block_interval_ms.len(),
        "answers": p.answers.iter().map(|(code, n)| json!({"status": code, "count": n})).collect::<Vec<_>>(),
    })
}

/// Runs one phase: samples `/api/status` every 50 ms for `seconds` while `clients` threads
/// send `body` (none: idle) in a loop; then reads the blocks of the window for their intervals.
fn phase(
    node: &str,
    key: &str,
    seconds: u64,
    clients: usize,
    body: Option<Arc<Value>>,
) -> anyhow::Result<Phase> {
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 600]> = Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    let load: Vec<_> = body
        .into_iter()
        .flat_map(|b| std::iter::repeat_n(b, clients))
        .map(|body| {
            let (stop, counts, http) = (stop.clone(), counts.clone(), http.clone());
            let (url, key) = (format!("{node}/v1/chat/completions"), key.to_owned());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let code = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&*body)
                        .send()
                        .map_or(599, |r| r.status().as_u16());
                    counts[usize::from(code).min(599)].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let client = alx_client::Client::new(node);
    let first = client.status()?.height.0;
    let mut status_ms = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let t = Instant::now();
        client.status().context("the node stopped answering /api/status")?;
        status_ms.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    let last = client.status()?.height.0;
    let mut stamps = Vec::new();
    for h in first..=last {
        stamps.push(client.block(&h.to_string())?.header.timestamp_ms);
    }
    let block_interval_ms = stamps.windows(2).map(|w| w[1].saturating_sub(w[0]) as f64).collect();
    let answers = (0..600)
        .filter_map(|c| {
            let n = counts[c].load(Ordering::Relaxed);
            (n > 0).then_some((c as u16, n))
        })
        .collect();
    Ok(Phase { status_ms, block_interval_ms, answers })
}

pub(crate) fn run(g: &Globals, a: &LoadArgs) -> anyhow::Result<()> {
    let sample = super::sample::load(&g.home).context(
        "no sample in this home (run `alx up` first: the load uses its model and API key)",
    )?;
    let huge = "word ".repeat(a.prompt_kib * 1024 / 5);
    let huge = Arc::new(
        json!({"model": sample.model, "messages": [{"role": "user", "content": huge}], "max_tokens": 16}),
    );
    let chat = Arc::new(
        json!({"model": sample.model, "messages": [{"role": "user", "content": "How do I publish a Move module?"}], "max_tokens": 32, "temperature": 0}),
    );
    eprintln!("gateway load: idle for {} s …", a.seconds);
    let idle = phase(&g.node, &sample.api_key, a.seconds, 0, None)?;
    eprintln!("… {} clients sending {} KiB prompts for {} s …", a.clients, a.prompt_kib, a.seconds);
    let flood = phase(&g.node, &sample.api_key, a.seconds, a.clients, Some(huge))?;
    eprintln!("… {} clients chatting for {} s", a.clients, a.seconds);
    let chats = phase(&g.node, &sample.api_key, a.seconds, a.clients, Some(chat))?;
    let ratio = |x: &Phase, key: &str, p: usize| {
        let pick = |ph: &Phase| match key {
            "status" => percentile(ph.status_ms.clone(), p),
            _ => percentile(ph.block_interval_ms.clone(), p),
        };
        let base = pick(&idle);
        if base > 0.0 { pick(x) / base } else { 0.0 }
    };
    let v = json!({
        "idle": summary(&idle),
        "huge_prompts": summary(&flood),
        "chats": summary(&chats),
        "huge_prompts_vs_idle": {
            "status_p99": ratio(&flood, "status", 99),
            "block_interval_max": ratio(&flood, "blocks", 100),
        },
        "chats_vs_idle": {
            "status_p99": ratio(&chats, "status", 99),
            "block_interval_max": ratio(&chats, "blocks", 100),
        },
    });
    crate::output::emit(g.json, &v, || serde_json::to_string_pretty(&v).unwrap_or_default())
}
