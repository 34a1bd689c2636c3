//! `alx up`: create or resume a local network and run it.
//!
//! One validator runs in this process. With `--validators N`, each validator is its own
//! `alx node start` process, kept running by `alx_node::supervise` (a dead one is restarted;
//! the others keep finalizing meanwhile). Either way the sample (SmolLM2, a datanet, a model,
//! an API key) is set up on a new home, served by validator 0.
//!
//! A resumed home serves on the addresses saved in its config unless `--api-addr` says
//! otherwise (for this run); `sample.json` follows the address actually served. With `--json`,
//! stdout carries only JSON lines (`ready`, `sample`, `exited`, `restarted` events and errors);
//! everything else, including the child processes' and pip's output, goes to stderr.

use crate::{
    Globals,
    output::{coded, hinted},
};
use alx_node::{
    Listener, NodeConfig,
    home::{self, DevHome, DevOptions},
    supervise::{Event, ProcessSpec, SuperviseConfig, Supervisor},
};
use alx_types::Address;
use clap::Args;
use commonware_cryptography::Signer as _;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use tracing::{info, warn};

/// API address of a new home unless `--api-addr` says otherwise.
const API_ADDR_DEFAULT: &str = "127.0.0.1:7700";
/// p2p port of a new home's validator 0 unless `--p2p-port` says otherwise.
const P2P_PORT_DEFAULT: u16 = 7800;
/// How long validator processes have to serve their API after they start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the supervisor looks at its processes.
const SUPERVISE_POLL: Duration = Duration::from_millis(200);

/// `alx up`.
#[derive(Args)]
pub(crate) struct UpArgs {
    /// Number of validators (each its own process on loopback). Only when creating the home.
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// API address of validator 0 (the others take the next ports) [default: the home's, or
    /// 127.0.0.1:7700 for a new home]. On a resumed home it applies to this run only.
    #[arg(long)]
    api_addr: Option<SocketAddr>,
    /// p2p port of validator 0 (the others take the next ports) [default: 7800]. Only when
    /// creating the home: peers dial the address the genesis holds.
    #[arg(long)]
    p2p_port: Option<u16>,
    /// Blocks per epoch: the validator set may change only between epochs. Only when creating
    /// the home.
    #[arg(long, default_value_t = home::DEV_EPOCH_LENGTH, value_parser = clap::value_parser!(u64).range(2..))]
    epoch_length: u64,
    /// What the chain mints and who gets it, fixed at genesis: `alexandria` (DESIGN.md's
    /// split on Morpheus's curve: subnets 40%, data 24%, compute 16%, validators and stakers
    /// 12%, protection 4%, treasury 4%), `morpheus` (its curve and classes: capital, code,
    /// compute and community 24% each, protection 4%), `bittensor` (its curve; everything to
    /// subnets, 18/41/41 to owner, miners and validators inside each), or a TOML file of
    /// emission parameters (crates/emission/README.md). Only when creating the home.
    #[arg(long, value_name = "PRESET|FILE")]
    emission: Option<String>,
    /// Do not set up the sample (SmolLM2, a Move datanet, a model and an API key) on a new
    /// home.
    #[arg(long)]
    no_sample: bool,
    /// Serve this model (by name) with its fine-tuned adapter folded into its own copy of the
    /// base weights: the fastest for one model, at the memory of a second base. Repeat for
    /// more. Other adapter models share one base, their adapters applied per request.
    #[arg(long, value_name = "MODEL")]
    merge: Vec<String>,
}

pub(crate) fn up(g: &Globals, args: &UpArgs) -> anyhow::Result<()> {
    let dev = match home::existing(&g.home)? {
        Some(existing) => resume(g, args, existing)?,
        None => {
            let api_addr =
                args.api_addr.unwrap_or_else(|| API_ADDR_DEFAULT.parse().expect("valid"));
            let p2p_port = args.p2p_port.unwrap_or(P2P_PORT_DEFAULT);
            let emission = home::emission_params(args.emission.as_deref().unwrap_or("alexandria"))
                .map_err(|e| {
                    coded(
                        "bad_emission",
                        format!("{e:#}"),
                        "pass alexandria, morpheus or bittensor, or a TOML file whose splits sum to 10000 (crates/emission/README.md)",
                    )
                })?;
            check_free(&g.home, args.validators, api_addr, p2p_port)?;
            home::init_dev(
                &g.home,
                &DevOptions {
                    epoch_length: args.epoch_length,
                    emission,
                    ..DevOptions::new(args.validators, api_addr, p2p_port)
                },
            )?
        }
    };
    let verb = if dev.created { "created" } else { "resuming" };
    eprintln!("{verb} local network in {}", g.home.display());
    // The sample needs the weights in place before the nodes serve.
    let weights = if dev.created && !args.no_sample {
        Some(super::model_fetch::fetch_smollm2(&g.home.join("models"))?)
    } else {
        None
    };
    if dev.nodes.len() == 1 {
        return run_one(g, args.api_addr, &args.merge, weights);
    }
    run_processes(g, &dev.nodes, args.api_addr, &args.merge, weights)
}

/// Checks a home to resume: no other process runs it, and the flags fit it.
fn resume(g: &Globals, args: &UpArgs, existing: DevHome) -> anyhow::Result<DevHome> {
    // Say it now, before anything slow: the nodes take the same locks when they start.
    drop(alx_node::lock::lock(&g.home)?);
    for node in existing.nodes.iter().filter(|n| **n != g.home) {
        drop(alx_node::lock::lock(node)?);
    }
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
    if args.emission.is_some() {
        return Err(coded(
            "emission_fixed",
            format!("{} holds a chain whose emission was fixed at its genesis", g.home.display()),
            "run `alx up` without --emission to resume it, or pass --home NEW_DIR for a chain with another emission",
        ));
    }
    if let Some(port) = args.p2p_port {
        let saved = NodeConfig::load(&existing.nodes[0])?.p2p_addr;
        if saved.port() != port {
            return Err(coded(
                "p2p_port_fixed",
                format!(
                    "{} was created with p2p port {}, not {port}",
                    g.home.display(),
                    saved.port()
                ),
                format!(
                    "peers dial the address in the genesis: run without --p2p-port, free port {}, \
                     or pass --home NEW_DIR for a new network",
                    saved.port()
                ),
            ));
        }
    }
    Ok(existing)
}

/// Before creating a home: every port it would use is free (a home saved with a taken port
/// would fail again on every resume).
fn check_free(
    root: &Path,
    validators: usize,
    api: SocketAddr,
    p2p_port: u16,
) -> anyhow::Result<()> {
    for i in 0..validators {
        let offset = u16::try_from(i).unwrap_or(u16::MAX);
        let at = |port: u16| port.checked_add(offset).map(|p| SocketAddr::new(api.ip(), p));
        let (Some(api_i), Some(p2p_i)) = (at(api.port()), at(p2p_port)) else {
            return Err(hinted("the ports run past 65535", "pick lower --api-addr and --p2p-port"));
        };
        if api.port() != 0 {
            drop(alx_node::run::bind(Listener::Api, api_i, root)?);
        }
        drop(alx_node::run::bind(Listener::P2p, p2p_i, root)?);
    }
    Ok(())
}

/// One validator, in this process.
fn run_one(
    g: &Globals,
    api_addr: Option<SocketAddr>,
    merge: &[String],
    weights: Option<PathBuf>,
) -> anyhow::Result<()> {
    let json = g.json;
    let root = g.home.clone();
    let overrides = alx_node::Overrides { api_addr, p2p_addr: None, merge: merge.to_vec() };
    alx_node::run_with(
        &g.home,
        overrides,
        move |ready| {
            let addr = ready.api_addr;
            let provider = ready.validator;
            std::thread::spawn(move || {
                after_ready(json, &root, &[addr], None, weights.as_deref(), provider);
            });
        },
        None,
    )
}

/// What happens once the network serves: the sample is pointed at (or set up on) the API
/// served, and the network is announced.
fn after_ready(
    json: bool,
    root: &Path,
    apis: &[SocketAddr],
    pids: Option<&[Option<u32>]>,
    weights: Option<&Path>,
    provider: Address,
) {
    let api = format!("http://{}", super::status::dialable(apis[0]));
    if let Err(e) = super::sample::point_at(root, &api) {
        warn!(err = %format!("{e:#}"), "cannot update sample.json");
    }
    announce(json, root, apis, pids);
    let Some(weights) = weights else { return };
    match super::sample::set_up(root, &api, weights, provider) {
        Ok(sample) => announce_sample(json, &sample),
        Err(e) => {
            eprintln!("the sample could not be set up: {e:#}");
            if json {
                let mut event = crate::output::error_document(&e);
                event["event"] = "sample_failed".into();
                println!("{event}");
            }
        }
    }
}

/// The validator address of a node home.
fn node_address(node_home: &Path) -> anyhow::Result<Address> {
    let cfg = NodeConfig::load(node_home)?;
    let key = alx_node::node_key::read(&node_home.join(&cfg.key_file))?;
    Ok(Address::from_public_key(&key.public_key()))
}

/// Runs one node process per validator, restarting any that dies, until killed.
fn run_processes(
    g: &Globals,
    nodes: &[PathBuf],
    api_base: Option<SocketAddr>,
    merge: &[String],
    weights: Option<PathBuf>,
) -> anyhow::Result<()> {
    // Held while this process supervises: one supervisor per network.
    let _lock = alx_node::lock::lock(&g.home)?;
    let exe = std::env::current_exe()?;
    let mut apis = Vec::new();
    let mut specs = Vec::new();
    for (i, node_home) in nodes.iter().enumerate() {
        let cfg = NodeConfig::load(node_home)?;
        let offset = u16::try_from(i).unwrap_or(u16::MAX);
        let api = match api_base {
            Some(b) => SocketAddr::new(b.ip(), b.port().saturating_add(offset)),
            None => cfg.api_addr,
        };
        // A taken port is an error now, not a process restarted forever.
        drop(alx_node::run::bind(Listener::Api, api, node_home)?);
        drop(alx_node::run::bind(Listener::P2p, cfg.p2p_addr, node_home)?);
        let mut args = vec!["--home".into(), node_home.clone().into_os_string()];
        args.extend(["node", "start", "--stop-with-parent", "--api-addr"].map(Into::into));
        args.push(api.to_string().into());
        for name in merge {
            args.extend(["--merge".into(), name.into()]);
        }
        specs.push(ProcessSpec { program: exe.clone(), args });
        apis.push(api);
        if let Some(w) = &weights {
            place_weights(w, &node_home.join(&cfg.gateway.models_dir))?;
        }
    }
    let mut sup = Supervisor::start(specs, SuperviseConfig::LOCAL)?;
    wait_serving(&mut sup, &apis)?;
    let provider = node_address(&nodes[0])?;
    let (json, root, served) = (g.json, g.home.clone(), apis.clone());
    let pids = sup.pids();
    std::thread::spawn(move || {
        after_ready(json, &root, &served, Some(&pids), weights.as_deref(), provider);
    });
    // Ctrl-C reaches the whole process group: every validator shuts down on its own, and this
    // process ends with them; a validator that dies alone is restarted.
    loop {
        sup.poll(Instant::now(), &mut |e| report(g.json, &e));
        std::thread::sleep(SUPERVISE_POLL);
    }
}

/// Waits until every validator's API answers; a process that exits meanwhile is a start-up
/// failure (its own error is on stderr above), not something to restart.
fn wait_serving(sup: &mut Supervisor, apis: &[SocketAddr]) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    for (i, api) in apis.iter().enumerate() {
        let client = alx_client::Client::new(&format!("http://{}", super::status::dialable(*api)));
        while client.status().is_err() {
            if let Some((j, status)) = sup.exited()? {
                return Err(hinted(
                    format!("validator {j} exited while starting ({status})"),
                    "see its error above",
                ));
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "validator {i}'s API {api} did not come up within {STARTUP_TIMEOUT:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// Puts the sample's weights in a validator's models directory (a hard link where possible:
/// the same 90 MB for every validator).
fn place_weights(weights: &Path, models_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(models_dir)?;
    let dest = models_dir.join(weights.file_name().unwrap_or_default());
    if dest.exists() {
        return Ok(());
    }
    if std::fs::hard_link(weights, &dest).is_err() {
        std::fs::copy(weights, &dest)?;
    }
    Ok(())
}

/// A supervisor event: a log line, and a JSON event under `--json`.
fn report(json: bool, event: &Event) {
    let value = match event {
        Event::Exited { index, status, restart_in } => {
            warn!(validator = index, %status, restart_in_ms = restart_in.as_millis(), "validator process exited; restarting it");
            serde_json::json!({"event": "exited", "validator": index, "status": status.to_string(), "restart_in_ms": restart_in.as_millis()})
        }
        Event::Restarted { index, pid, restarts } => {
            info!(validator = index, pid, restarts, "validator process restarted");
            serde_json::json!({"event": "restarted", "validator": index, "pid": pid, "restarts": restarts})
        }
        Event::SpawnFailed { index, error, retry_in } => {
            warn!(validator = index, %error, retry_in_ms = retry_in.as_millis(), "cannot restart the validator process");
            serde_json::json!({"event": "spawn_failed", "validator": index, "error": error.to_string()})
        }
    };
    if json {
        println!("{value}");
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

fn announce(json: bool, root: &Path, apis: &[SocketAddr], pids: Option<&[Option<u32>]>) {
    let keys: Vec<(String, String)> = alx_keys::Keystore::open(root.join(home::KEYS_DIR))
        .and_then(|k| k.list())
        .map(|list| list.keys.into_iter().map(|k| (k.name, k.address.to_string())).collect())
        .unwrap_or_default();
    let urls: Vec<String> =
        apis.iter().map(|a| format!("http://{}", super::status::dialable(*a))).collect();
    let validators = apis.len();
    if json {
        let value = serde_json::json!({
            "event": "ready",
            "home": root,
            "validators": validators,
            "api": urls,
            "pids": pids,
            "keys": keys.iter().map(|(n, a)| serde_json::json!({"name": n, "address": a})).collect::<Vec<_>>(),
        });
        println!("{value}");
        return;
    }
    let api = &urls[0];
    println!("Alexandria is up: {validators} validator(s)");
    println!("  status    {api}/api/status   (or `alx status`)");
    println!("  blocks    {api}/api/stream/blocks");
    println!("  metrics   {api}/metrics");
    println!("  home      {}", root.display());
    for (name, address) in &keys {
        println!("  key       {name:<8} {address}");
    }
    println!("Try:  alx transfer --from alice --to bob --amount 1.5");
    println!("Stop: Ctrl-C (run `alx up` again to resume)");
}
