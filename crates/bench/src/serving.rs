//! Serving under concurrency (`alx bench gateway`): for each client count, that many clients
//! each send streamed greedy chats one after another; the run reports the total output tokens
//! per second and the time to first token (p50, p99), against the node's gateway and, when
//! given, an OpenAI-compatible peer (llama.cpp's `llama-server --parallel N`) serving the same
//! model with the same prompt in the same run.

use crate::{BenchError, Endpoint, stats::percentile};
use serde::Serialize;
use serde_json::{Value, json};
use std::{
    fmt,
    io::BufRead,
    num::NonZeroUsize,
    time::{Duration, Instant},
};

/// Most concurrent clients of one run (threads of this process).
pub const CLIENTS_MAX: usize = 256;
/// How long one streamed request may take.
const REQUEST_MAX: Duration = Duration::from_secs(600);
/// The name of the node's gateway in the report.
const GATEWAY: &str = "alexandria";
/// The name of the peer in the report.
const PEER: &str = "peer";

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's gateway, with the model and key to use.
    pub gateway: Endpoint,
    /// An OpenAI-compatible peer measured the same way, if any.
    pub peer: Option<Endpoint>,
    /// Concurrent clients of each run, each in `1..=CLIENTS_MAX`.
    pub clients: Vec<usize>,
    /// Requests each client sends, one after another.
    pub requests: NonZeroUsize,
    /// Most tokens per answer.
    pub max_tokens: u32,
    /// The question every request asks.
    pub prompt: String,
}

/// A run about to start, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// `alexandria` or `peer`.
    pub server: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} clients × {} requests …", self.server, self.clients, self.requests)
    }
}

/// One server at one client count. Fields are in the order of the JSON the CLI has always
/// printed (alphabetical).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Concurrent clients.
    pub clients: usize,
    /// Tokens generated over all requests.
    pub output_tokens: u64,
    /// `output_tokens / seconds`.
    pub output_tokens_per_s: f64,
    /// Requests answered.
    pub requests: usize,
    /// Wall time of the run, warm-up excluded.
    pub seconds: f64,
    /// `alexandria` or `peer`.
    pub server: &'static str,
    /// Time to the first content token, median, in milliseconds.
    pub ttft_ms_p50: f64,
    /// The same, 99th percentile.
    pub ttft_ms_p99: f64,
}

/// Throughput at the most clients over throughput at the fewest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scaling {
    /// The gateway's ratio.
    pub alexandria: Option<f64>,
    /// The fewest and the most clients.
    pub clients: [usize; 2],
    /// The peer's ratio, if a peer was measured.
    pub peer: Option<f64>,
}

/// The gateway's throughput over the peer's at one client count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersusPeer {
    /// Concurrent clients.
    pub clients: usize,
    /// Gateway tokens/s over peer tokens/s.
    pub ratio: f64,
}

/// The report of `alx bench gateway`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Most tokens per answer.
    pub max_tokens: u32,
    /// The question asked.
    pub prompt: String,
    /// Every run, by client count, the gateway before the peer.
    pub runs: Vec<Run>,
    /// Throughput scaling from the fewest to the most clients.
    pub scaling: Scaling,
    /// The gateway against the peer, per client count (empty without a peer).
    pub throughput_vs_peer: Vec<VersusPeer>,
}

/// One streamed request: time to first token and tokens generated.
#[derive(Debug, PartialEq)]
struct Sample {
    first_token: Duration,
    tokens: u64,
}

/// A server to measure.
struct Target<'a> {
    name: &'static str,
    endpoint: &'a Endpoint,
}

/// Runs every client count against the gateway and then the peer, reporting each run to
/// `progress` before it starts.
///
/// # Errors
/// [`BenchError::Config`] for a client count outside `1..=CLIENTS_MAX` (checked first); any
/// failed request.
pub fn run(config: &Config, mut progress: impl FnMut(Progress)) -> Result<Report, BenchError> {
    if config.clients.is_empty() || !config.clients.iter().all(|c| (1..=CLIENTS_MAX).contains(c)) {
        return Err(BenchError::Config {
            what: "client counts",
            rule: "between 1 and 256 (at least one)",
        });
    }
    let mut targets = vec![Target { name: GATEWAY, endpoint: &config.gateway }];
    targets.extend(config.peer.iter().map(|endpoint| Target { name: PEER, endpoint }));
    let mut runs = Vec::new();
    for &clients in &config.clients {
        for t in &targets {
            let requests = config.requests.get();
            progress(Progress { server: t.name, clients, requests });
            runs.push(run_clients(t, clients, config)?);
        }
    }
    Ok(report(config, runs))
}

/// The report of `runs`: scaling and the comparison with the peer.
fn report(config: &Config, runs: Vec<Run>) -> Report {
    let rate = |server: &str, clients: usize| {
        runs.iter()
            .find(|r| r.server == server && r.clients == clients)
            .map(|r| r.output_tokens_per_s)
    };
    let lo = config.clients.iter().min().copied().unwrap_or(1);
    let hi = config.clients.iter().max().copied().unwrap_or(1);
    let scaling = |server: &str| Some(rate(server, hi)? / rate(server, lo)?);
    let throughput_vs_peer = config
        .clients
        .iter()
        .filter_map(|&c| Some(VersusPeer { clients: c, ratio: rate(GATEWAY, c)? / rate(PEER, c)? }))
        .collect();
    Report {
        max_tokens: config.max_tokens,
        prompt: config.prompt.clone(),
        scaling: Scaling { alexandria: scaling(GATEWAY), clients: [lo, hi], peer: scaling(PEER) },
        throughput_vs_peer,
        runs,
    }
}

/// One warm-up request, then `clients` threads each sending `requests` one after another.
fn run_clients(t: &Target<'_>, clients: usize, config: &Config) -> Result<Run, BenchError> {
    // A fresh connection per request: servers close idle keep-alive connections at their own
    // pace, and a request racing that close would count as a failure of the server.
    let http = reqwest::blocking::Client::builder()
        .timeout(REQUEST_MAX)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|source| unreachable(t, source))?;
    // A warm-up, so that loading weights is not measured.
    one(&http, t, config)?;
    let started = Instant::now();
    let samples: Vec<Result<Vec<Sample>, BenchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| (0..config.requests.get()).map(|_| one(&http, t, config)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(BenchError::Panicked("serving client"))))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let samples: Vec<Sample> =
        samples.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    let output_tokens: u64 = samples.iter().map(|s| s.tokens).sum();
    let ttft: Vec<f64> = samples.iter().map(|s| s.first_token.as_secs_f64() * 1e3).collect();
    Ok(Run {
        clients,
        output_tokens,
        output_tokens_per_s: output_tokens as f64 / seconds.max(1e-9),
        requests: samples.len(),
        seconds,
        server: t.name,
        ttft_ms_p50: percentile(ttft.clone(), 50),
        ttft_ms_p99: percentile(ttft, 99),
    })
}

fn unreachable(t: &Target<'_>, source: reqwest::Error) -> BenchError {
    BenchError::Unreachable { server: t.name.to_owned(), url: t.endpoint.base.clone(), source }
}

/// One streamed chat.
fn one(
    http: &reqwest::blocking::Client,
    t: &Target<'_>,
    config: &Config,
) -> Result<Sample, BenchError> {
    let mut body = json!({
        "model": t.endpoint.model,
        "messages": [{"role": "user", "content": config.prompt}],
        "max_tokens": config.max_tokens,
        "temperature": 0,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if t.name == PEER {
        // llama-server reuses a cached prompt across requests unless told not to; every request
        // here must pay for its prompt, as the gateway's do.
        body["cache_prompt"] = json!(false);
    }
    let started = Instant::now();
    let resp = t
        .endpoint
        .post(http, "/v1/chat/completions", &body)
        .send()
        .map_err(|source| unreachable(t, source))?;
    if !resp.status().is_success() {
        return Err(BenchError::Status { server: t.name.to_owned(), status: resp.status() });
    }
    read_stream(std::io::BufReader::new(resp), started, t.name)
}

/// Reads a server-sent chat stream: the time from `started` to the first chunk with content,
/// and the tokens generated (the final usage chunk's count, or the content chunks without
/// one).
fn read_stream(stream: impl BufRead, started: Instant, server: &str) -> Result<Sample, BenchError> {
    let (mut first, mut tokens, mut chunks) = (None, None, 0u64);
    for line in stream.lines() {
        let line =
            line.map_err(|source| BenchError::Stream { server: server.to_owned(), source })?;
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| BenchError::Answer { server: server.to_owned(), source: Box::new(e) })?;
        let content = v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
        if !content.is_empty() {
            chunks += 1;
            first.get_or_insert_with(|| started.elapsed());
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            tokens = Some(n);
        }
    }
    Ok(Sample {
        first_token: first.unwrap_or_else(|| started.elapsed()),
        tokens: tokens.unwrap_or(chunks),
    })
}

#[cfg(test)]
mod tests {
    use super::{Config, Endpoint, Run, read_stream, report, run};
    use crate::BenchError;
    use std::{num::NonZeroUsize, time::Instant};

    fn config(clients: Vec<usize>, peer: bool) -> Config {
        let endpoint =
            |base: &str| Endpoint { base: base.to_owned(), model: "m".to_owned(), api_key: None };
        Config {
            gateway: endpoint("http://127.0.0.1:9"),
            peer: peer.then(|| endpoint("http://127.0.0.1:9")),
            clients,
            requests: NonZeroUsize::MIN,
            max_tokens: 8,
            prompt: "hi".to_owned(),
        }
    }

    fn chunk(content: &str) -> String {
        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
    }

    #[test]
    fn a_stream_counts_usage_tokens_or_content_chunks() {
        let with_usage = format!(
            ": keep-alive\n{}{}{}data: {{\"choices\":[],\"usage\":{{\"completion_tokens\":7}}}}\n\ndata: [DONE]\n\n{}",
            chunk(""),
            chunk("Hel"),
            chunk("lo"),
            chunk("after the end"),
        );
        let s = read_stream(with_usage.as_bytes(), Instant::now(), "x").expect("stream");
        assert_eq!(s.tokens, 7);
        let without = format!("{}{}{}data: [DONE]\n", chunk("a"), chunk(""), chunk("b"));
        let s = read_stream(without.as_bytes(), Instant::now(), "x").expect("stream");
        assert_eq!(s.tokens, 2);
        let err = read_stream("data: {not json\n".as_bytes(), Instant::now(), "peer");
        assert!(matches!(err, Err(BenchError::Answer { server, .. }) if server == "peer"));
    }

    #[test]
    fn client_counts_are_checked_before_any_request() {
        for clients in [vec![], vec![0], vec![1, 257]] {
            let err = run(&config(clients, false), |_| panic!("no run may start"));
            assert!(matches!(err, Err(BenchError::Config { .. })), "{err:?}");
        }
    }

    #[test]
    fn scaling_and_the_peer_ratio_come_from_the_runs() {
        let run = |server, clients, rate| Run {
            clients,
            output_tokens: 0,
            output_tokens_per_s: rate,
            requests: clients,
            seconds: 1.0,
            server,
            ttft_ms_p50: 1.0,
            ttft_ms_p99: 1.0,
        };
        let runs = vec![
            run("alexandria", 1, 100.0),
            run("peer", 1, 50.0),
            run("alexandria", 4, 300.0),
            run("peer", 4, 200.0),
        ];
        let r = report(&config(vec![4, 1], true), runs);
        assert_eq!(r.scaling.clients, [1, 4]);
        assert_eq!((r.scaling.alexandria, r.scaling.peer), (Some(3.0), Some(4.0)));
        let ratios: Vec<(usize, f64)> =
            r.throughput_vs_peer.iter().map(|v| (v.clients, v.ratio)).collect();
        assert_eq!(ratios, [(4, 1.5), (1, 2.0)]);
        let alone = report(&config(vec![1], false), vec![run("alexandria", 1, 10.0)]);
        assert_eq!((alone.scaling.alexandria, alone.scaling.peer), (Some(1.0), None));
        assert!(alone.throughput_vs_peer.is_empty());
        let json = serde_json::to_value(&alone).expect("serialize");
        assert!(json["scaling"]["peer"].is_null());
        assert_eq!(json["runs"][0]["server"], "alexandria");
    }
}
