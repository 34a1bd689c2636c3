//! `alx chat`: talk to a model through the node's OpenAI-compatible gateway, streamed, with
//! the receipt (fee, citations, attribution) after the answer.

use crate::{
    Globals,
    output::{emit, hinted},
};
use anyhow::Context as _;
use clap::Args;
use std::io::{BufRead as _, Write as _};

/// `alx chat`.
#[derive(Args)]
pub(crate) struct ChatArgs {
    /// The message (without one: an interactive session, one line per message).
    message: Option<String>,
    /// The model (default: the sample's).
    #[arg(long)]
    model: Option<String>,
    /// The API key (default: the sample's; or ALX_API_KEY).
    #[arg(long, env = "ALX_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Most tokens in the answer.
    #[arg(long, default_value_t = 200)]
    max_tokens: u32,
    /// 0 for greedy (deterministic) answers.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
}

pub(crate) fn run(g: &Globals, a: &ChatArgs) -> anyhow::Result<()> {
    let sample = super::sample::load(&g.home);
    let model =
        a.model.clone().or_else(|| sample.as_ref().map(|s| s.model.clone())).ok_or_else(|| {
            hinted(
                "no model given",
                "pass --model NAME (see `alx model list`), or run `alx up` to get the sample",
            )
        })?;
    let key =
        a.key.clone().or_else(|| sample.as_ref().map(|s| s.api_key.clone())).ok_or_else(|| {
            hinted(
                "no API key given",
                "pass --key alx-sk-… (create one with `alx keys api-key create`)",
            )
        })?;
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()?;
    let mut history: Vec<serde_json::Value> = Vec::new();
    let mut ask = |text: &str| -> anyhow::Result<()> {
        history.push(serde_json::json!({"role": "user", "content": text}));
        let body = serde_json::json!({
            "model": model, "messages": history, "max_tokens": a.max_tokens,
            "temperature": a.temperature, "stream": !g.json,
        });
        let resp = http
            .post(format!("{}/v1/chat/completions", g.node))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .with_context(|| format!("cannot reach the node at {}", g.node))?;
        if !resp.status().is_success() {
            let err: serde_json::Value = resp.json().unwrap_or_default();
            return Err(hinted(
                err["error"]["message"]
                    .as_str()
                    .unwrap_or("the gateway refused the request")
                    .to_owned(),
                "see `alx model list` and `alx keys api-key show KEY`",
            ));
        }
        if g.json {
            let answer: serde_json::Value = resp.json()?;
            history.push(answer["choices"][0]["message"].clone());
            return emit(true, &answer, String::new);
        }
        let mut answer = String::new();
        let mut last = serde_json::Value::Null;
        let mut out = std::io::stdout().lock();
        for line in std::io::BufReader::new(resp).lines() {
            let line = line?;
            let Some(data) = line.strip_prefix("data: ") else { continue };
            if data == "[DONE]" {
                break;
            }
            let chunk: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
                answer.push_str(piece);
                write!(out, "{piece}")?;
                out.flush()?;
            }
            if chunk.get("alexandria").is_some() || chunk.get("error").is_some() {
                last = chunk;
            }
        }
        writeln!(out)?;
        if let Some(msg) = last["error"]["message"].as_str() {
            anyhow::bail!("the generation failed: {msg}");
        }
        let x = &last["alexandria"];
        let fee: u128 = x["fee"].as_str().and_then(|f| f.parse().ok()).unwrap_or(0);
        writeln!(
            out,
            "— {} tokens in, {} out; fee {}; receipt {}",
            x["tokens_in"],
            x["tokens_out"],
            alx_types::Amount(fee),
            x["receipt_id"].as_str().unwrap_or("?")
        )?;
        for c in x["attribution"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  {:>6.2}%  datanet {} contribution #{} by {}",
                c["bps"].as_f64().unwrap_or(0.0) / 100.0,
                c["datanet"],
                c["contribution"],
                c["contributor"].as_str().unwrap_or("?")
            )?;
        }
        history.push(serde_json::json!({"role": "assistant", "content": answer}));
        Ok(())
    };
    if let Some(message) = &a.message {
        return ask(message);
    }
    eprintln!("chatting with {model} (Ctrl-D to end)");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if !line.trim().is_empty() {
            ask(&line)?;
        }
    }
    Ok(())
}
