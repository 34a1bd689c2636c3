//! The gateway half of `alx bench inference`: overhead per request, excluding the model
//! (generation, and tokenizing the prompt), from the gateway's `Server-Timing` stages.

use super::bench_inference::percentile;
use crate::Globals;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::time::Instant;

/// `dur` of the metric `name` in a `Server-Timing` header (`model;dur=12.5, gateway;dur=0.4`).
fn timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|metric| {
        let mut parts = metric.trim().split(';');
        (parts.next()? == name)
            .then(|| parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok()))
            .flatten()
    })
}

/// Sends `n` chat requests (after two warm-ups) to the node's gateway with the sample's model
/// and key, and returns the overhead percentiles.
pub(crate) fn measure(g: &Globals, n: usize) -> anyhow::Result<Value> {
    let sample = super::sample::load(&g.home).context(
        "no sample in this home (run `alx up` first: the measurement uses its model and API key)",
    )?;
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()?;
    let body = json!({
        "model": sample.model,
        "messages": [{"role": "user", "content": "How do I publish a Move module?"}],
        "max_tokens": 1,
        "temperature": 0,
    });
    let (mut server, mut client, mut model) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tokenize, mut receipt, mut with_tokenize) = (Vec::new(), Vec::new(), Vec::new());
    eprintln!("gateway: {n} requests to {} …", g.node);
    for i in 0..n + 2 {
        let started = Instant::now();
        let resp = http
            .post(format!("{}/v1/chat/completions", g.node))
            .bearer_auth(&sample.api_key)
            .json(&body)
            .send()
            .with_context(|| format!("cannot reach the node at {}", g.node))?;
        let status = resp.status();
        let header = resp
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default();
        let _: Value = resp.json().context("the gateway's answer is not JSON")?;
        let wall = started.elapsed().as_secs_f64() * 1e3;
        anyhow::ensure!(status.is_success(), "the gateway answered {status}");
        let stage = |name| timing(&header, name);
        let (Some(m), Some(gw), Some(tok), Some(rc)) =
            (stage("model"), stage("gateway"), stage("tokenize"), stage("receipt"))
        else {
            anyhow::bail!("the gateway sent no Server-Timing stages (an older node?)");
        };
        // Tokenizing the prompt is the model's input processing, not the gateway's overhead;
        // it is reported on its own.
        if i >= 2 {
            server.push(gw - tok);
            with_tokenize.push(gw);
            client.push(wall - m - tok);
            model.push(m);
            tokenize.push(tok);
            receipt.push(rc);
        }
    }
    Ok(json!({
        "requests": n,
        "model": sample.model,
        "server_overhead_ms_p50": percentile(server.clone(), 50),
        "server_overhead_ms_p90": percentile(server.clone(), 90),
        "server_overhead_ms_max": percentile(server, 100),
        "client_overhead_ms_p50": percentile(client.clone(), 50),
        "client_overhead_ms_p90": percentile(client, 90),
        "receipt_ms_p50": percentile(receipt, 50),
        "tokenize_ms_p50": percentile(tokenize, 50),
        "server_overhead_with_tokenize_ms_p50": percentile(with_tokenize, 50),
        "model_ms_p50": percentile(model, 50),
    }))
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
    }
}
