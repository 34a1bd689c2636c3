//! The gateway's overhead per request, the second half of `alx bench inference`: chat requests
//! to a running node's `/v1/chat/completions` with `max_tokens` 1. The gateway reports its
//! stages in a `Server-Timing` header; overhead = the handler's time without the model's
//! (generation and tokenizing the prompt): auth, model lookup, metering, retrieval,
//! attribution, receipt; and, seen from the client, the whole round trip without the model
//! (adds HTTP and JSON on loopback).

use crate::{BenchError, Endpoint, stats::percentile};
use serde::Serialize;
use serde_json::{Value, json};
use std::{
    num::NonZeroUsize,
    time::{Duration, Instant},
};

/// Requests sent, and not counted, before the measured ones (loading, first allocations).
const WARM_UPS: usize = 2;
/// How long one request may take.
const REQUEST_MAX: Duration = Duration::from_secs(300);
/// The question every request asks.
const QUESTION: &str = "How do I publish a Move module?";

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's gateway, with the model and key to use.
    pub gateway: Endpoint,
    /// Requests measured (after the warm-ups).
    pub requests: NonZeroUsize,
}

/// Overhead per request, in milliseconds. Fields are in the order of the JSON the CLI has
/// always printed (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Round trip seen by the client without the model's stages, median.
    pub client_overhead_ms_p50: f64,
    /// The same, 90th percentile.
    pub client_overhead_ms_p90: f64,
    /// The model the requests asked for.
    pub model: String,
    /// The model's generation stage, median.
    pub model_ms_p50: f64,
    /// The receipt stage (attribution, signature, a synced file), median.
    pub receipt_ms_p50: f64,
    /// Requests measured.
    pub requests: usize,
    /// The handler's time without the model's stages, maximum.
    pub server_overhead_ms_max: f64,
    /// The same, median.
    pub server_overhead_ms_p50: f64,
    /// The same, 90th percentile.
    pub server_overhead_ms_p90: f64,
    /// The handler's time without generation (tokenizing included), median.
    pub server_overhead_with_tokenize_ms_p50: f64,
    /// Tokenizing the prompt, median.
    pub tokenize_ms_p50: f64,
}

/// One request's stages, in milliseconds.
struct Stages {
    wall: f64,
    model: f64,
    gateway: f64,
    tokenize: f64,
    receipt: f64,
}

/// Sends the warm-ups and then `requests` chats, and reports the overhead percentiles.
///
/// # Errors
/// The gateway is unreachable, answers an error or no JSON, or sends no `Server-Timing`.
pub fn run(config: &Config) -> Result<Report, BenchError> {
    let http =
        reqwest::blocking::Client::builder().timeout(REQUEST_MAX).build().map_err(|source| {
            BenchError::Unreachable {
                server: "the node".to_owned(),
                url: config.gateway.base.clone(),
                source,
            }
        })?;
    let body = json!({
        "model": config.gateway.model,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 1,
        "temperature": 0,
    });
    let n = config.requests.get();
    let (mut server, mut client, mut model) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tokenize, mut receipt, mut with_tokenize) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n + WARM_UPS {
        let s = one(&http, &config.gateway, &body)?;
        // Tokenizing the prompt is the model's input processing, not the gateway's overhead;
        // it is reported on its own.
        if i >= WARM_UPS {
            server.push(s.gateway - s.tokenize);
            with_tokenize.push(s.gateway);
            client.push(s.wall - s.model - s.tokenize);
            model.push(s.model);
            tokenize.push(s.tokenize);
            receipt.push(s.receipt);
        }
    }
    Ok(Report {
        client_overhead_ms_p50: percentile(client.clone(), 50),
        client_overhead_ms_p90: percentile(client, 90),
        model: config.gateway.model.clone(),
        model_ms_p50: percentile(model, 50),
        receipt_ms_p50: percentile(receipt, 50),
        requests: n,
        server_overhead_ms_max: percentile(server.clone(), 100),
        server_overhead_ms_p50: percentile(server.clone(), 50),
        server_overhead_ms_p90: percentile(server, 90),
        server_overhead_with_tokenize_ms_p50: percentile(with_tokenize, 50),
        tokenize_ms_p50: percentile(tokenize, 50),
    })
}

/// One request and the stages its answer reports.
fn one(
    http: &reqwest::blocking::Client,
    gateway: &Endpoint,
    body: &Value,
) -> Result<Stages, BenchError> {
    let started = Instant::now();
    let resp = gateway.post(http, "/v1/chat/completions", body).send().map_err(|source| {
        BenchError::Unreachable { server: "the node".to_owned(), url: gateway.base.clone(), source }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(BenchError::Status { server: "the gateway".to_owned(), status });
    }
    let header = resp
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    let _: Value = resp.json().map_err(|e| BenchError::Answer {
        server: "the gateway".to_owned(),
        source: Box::new(e),
    })?;
    let wall = started.elapsed().as_secs_f64() * 1e3;
    let stage = |name| timing(&header, name);
    let (Some(model), Some(gateway), Some(tokenize), Some(receipt)) =
        (stage("model"), stage("gateway"), stage("tokenize"), stage("receipt"))
    else {
        return Err(BenchError::NoServerTiming);
    };
    Ok(Stages { wall, model, gateway, tokenize, receipt })
}

/// `dur` of the metric `name` in a `Server-Timing` header (`model;dur=12.5, gateway;dur=0.4`).
fn timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|metric| {
        let mut parts = metric.trim().split(';');
        (parts.next()? == name)
            .then(|| parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::timing;

    #[test]
    fn server_timing_is_parsed() {
        let h = "model;dur=12.5, gateway;desc=\"auth\";dur=0.42";
        assert_eq!(timing(h, "model"), Some(12.5));
        assert_eq!(timing(h, "gateway"), Some(0.42));
        assert_eq!(timing(h, "total"), None);
        assert_eq!(timing("", "model"), None);
        assert_eq!(timing("model;desc=\"no duration\"", "model"), None);
    }
}
