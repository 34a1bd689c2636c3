//! `alx up`: create or resume a local network and run it.

use crate::{Globals, output::hinted};
use alx_node::home::{self, DevOptions};
use clap::Args;
use std::{
    net::SocketAddr,
    path::Path,
    process::Child,
    time::{Duration, Instant},
};

/// `alx up`.
#[derive(Args)]
pub(crate) struct UpArgs {
    /// Number of validators (each its own process on loopback). Only when creating the home.
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// API address (of validator 0; the others take the next ports).
    #[arg(long, default_value = "127.0.0.1:7700")]
    api_addr: SocketAddr,
    /// p2p port of validator 0 (the others take the next ports). Only when creating the home.
    #[arg(long, default_value_t = 7800)]
    p2p_port: u16,
    /// Blocks per epoch: the validator set may change only between epochs. Only when creating
    /// the home.
    #[arg(long, default_value_t = home::DEV_EPOCH_LENGTH, value_parser = clap::value_parser!(u64).range(2..))]
    epoch_length: u64,
    /// Do not set up the sample (SmolLM2, a Move datanet, a model and an API key) on a new
    /// home.
    #[arg(long)]
    no_sample: bool,
}

pub(crate) fn up(g: &Globals, args: &UpArgs) -> anyhow::Result<()> {
    let dev = match home::existing(&g.home)? {
        Some(existing) => {
            if args.validators != 1 && args.validators != existing.nodes.len() {
                return Err(hinted(
                    format!(
                        "{} already holds a network of {} validator(s)",
                        g.home.display(),
                        existing.nodes.len()
                    ),
                    "run `alx up` without --validators to resume it, or pass --home NEW_DIR for a new network",
                ));
            }
            existing
        }
        None => home::init_dev(
            &g.home,
            &DevOptions {
                epoch_length: args.epoch_length,
                ..DevOptions::new(args.validators, args.api_addr, args.p2p_port)
            },
        )?,
    };
    let verb = if dev.created { "created" } else { "resuming" };
    eprintln!("{verb} local network in {}", g.home.display());
    if dev.nodes.len() == 1 {
        let json = g.json;
        let root = g.home.clone();
        // The sample needs the weights before the node starts serving.
        let weights = if dev.created && !args.no_sample {
            Some(super::model_fetch::fetch_smollm2(&g.home.join("models"))?)
        } else {
            None
        };
        return alx_node::run(
            &dev.nodes[0],
            Some(args.api_addr),
            move |ready| {
                let api = format!("http://{}", ready.api_addr);
                let Some(weights) = weights else {
                    announce(json, &root, &[ready.api_addr], 1);
                    return;
                };
                let addr = ready.api_addr;
                std::thread::spawn(move || match super::sample::set_up(&root, &api, &weights) {
                    Ok(sample) => {
                        announce(json, &root, &[addr], 1);
                        announce_sample(json, &sample);
                    }
                    Err(e) => {
                        announce(json, &root, &[addr], 1);
                        eprintln!("the sample could not be set up: {e:#}");
                    }
                });
            },
            None,
        );
    }
    run_processes(g, &dev.nodes, args.api_addr)
}

/// Runs one node process per validator and waits for them.
fn run_processes(
    g: &Globals,
    nodes: &[std::path::PathBuf],
    api_base: SocketAddr,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = Vec::new();
    let mut apis = Vec::new();
    for (i, node_home) in nodes.iter().enumerate() {
        let api = SocketAddr::new(api_base.ip(), api_base.port() + i as u16);
        let child = std::process::Command::new(&exe)
            .arg("--home")
            .arg(node_home)
            .args(["node", "start", "--api-addr", &api.to_string()])
            .spawn()?;
        children.push(child);
        apis.push(api);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for api in &apis {
        let client = alx_client::Client::new(&format!("http://{api}"));
        while client.status().is_err() {
            if Instant::now() > deadline {
                kill_all(&mut children);
                anyhow::bail!("validator API {api} did not come up within 60 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    announce(g.json, &g.home, &apis, nodes.len());
    // Ctrl-C reaches the whole process group: every validator shuts down on its own. If one
    // exits early (an error), stop the others.
    loop {
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                kill_all(&mut children);
                if status.success() {
                    return Ok(());
                }
                anyhow::bail!("validator {i} exited with {status}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kill_all(children: &mut [Child]) {
    for c in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn announce_sample(json: bool, sample: &super::sample::Sample) {
    if json {
        println!(
            "{}",
            serde_json::json!({"event": "sample", "model": sample.model, "api_key": sample.api_key, "api": sample.api})
        );
        return;
    }
    println!("Sample: model {} (SmolLM2 + the move-basics datanet), paid by carol", sample.model);
    println!("  chat      alx chat \"How do I withdraw coins in Move?\"");
    println!(
        "  curl      curl {}/v1/chat/completions -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"model\": \"{}\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is a resource in Move?\"}}]}}'",
        sample.api, sample.api_key, sample.model
    );
    println!("  rewards   alx rewards show bob   (bob contributed the datanet)");
}

fn announce(json: bool, root: &Path, apis: &[SocketAddr], validators: usize) {
    let keys: Vec<(String, String)> = alx_keys::Keystore::open(root.join(home::KEYS_DIR))
        .and_then(|k| k.list())
        .map(|list| list.keys.into_iter().map(|k| (k.name, k.address.to_string())).collect())
        .unwrap_or_default();
    let api = format!("http://{}", apis[0]);
    if json {
        let value = serde_json::json!({
            "event": "ready",
            "home": root,
            "validators": validators,
            "api": apis.iter().map(|a| format!("http://{a}")).collect::<Vec<_>>(),
            "keys": keys.iter().map(|(n, a)| serde_json::json!({"name": n, "address": a})).collect::<Vec<_>>(),
        });
        println!("{value}");
        return;
    }
    println!("Alexandria is up: {validators} validator(s)");
    println!("  status    {api}/api/status");
    println!("  blocks    {api}/api/stream/blocks");
    println!("  metrics   {api}/metrics");
    println!("  home      {}", root.display());
    for (name, address) in &keys {
        println!("  key       {name:<8} {address}");
    }
    println!("Try:  alx transfer --from alice --to bob --amount 1.5");
    println!("Stop: Ctrl-C (run `alx up` again to resume)");
}
