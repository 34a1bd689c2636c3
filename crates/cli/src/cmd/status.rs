//! `alx status`: what a new user asks first. The node's chain (height, chain id, epoch,
//! validators), this home's node(s) with their addresses and keys, the wallet's keys, and the
//! models the node's gateway serves. Reads only; never needs a passphrase.
//!
//! The home part is read from disk and shown even when the node is down; then the command
//! fails (`node_unreachable`), so scripts can use it as a liveness check.

use crate::{Globals, output::emit};
use alx_client::Client;
use alx_node::{NodeConfig, home, node_key};
use alx_types::{Address, api::StatusResponse};
use commonware_cryptography::Signer as _;
use serde::Serialize;
use std::{
    io::Read as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

/// Largest `/v1/models` answer read from a node (a node is not trusted to stop sending).
const MODELS_BODY_MAX: u64 = 1 << 20;
/// How long the models request may take.
const MODELS_TIMEOUT: Duration = Duration::from_secs(5);

/// An address other processes on this machine can dial: a node listening on every interface
/// (`0.0.0.0`, `::`) is reached on loopback.
pub(crate) fn dialable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

/// One node home of this home.
#[derive(Serialize)]
struct HomeNode {
    home: PathBuf,
    moniker: String,
    api: String,
    p2p_addr: SocketAddr,
    /// The node key's address (`null` if the key file cannot be read).
    validator: Option<Address>,
    /// Whether the node reports it in the active set (`null` when the node is unreachable).
    active: Option<bool>,
}

/// A model the node's gateway serves.
#[derive(Serialize, serde::Deserialize)]
struct Served {
    id: String,
    #[serde(default)]
    owned_by: String,
}

#[derive(Serialize)]
struct Report {
    node: String,
    reachable: bool,
    /// Why the node could not be asked (when `reachable` is false).
    node_error: Option<String>,
    chain: Option<StatusResponse>,
    home: PathBuf,
    nodes: Vec<HomeNode>,
    keys: Vec<alx_keys::KeyInfo>,
    models: Vec<Served>,
    /// The model `alx up`'s sample set up, if any (its API key stays in `sample.json`).
    sample_model: Option<String>,
}

pub(crate) fn run(g: &Globals) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    let (chain, node_error) = match client.status() {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    let models = if chain.is_some() { served_models(&g.node).unwrap_or_default() } else { vec![] };
    let active = |a: &Address| chain.as_ref().map(|c| c.validators.contains(a));
    let nodes = home_nodes(&g.home)
        .into_iter()
        .map(|(node_home, cfg, validator)| HomeNode {
            active: validator.as_ref().and_then(active),
            api: format!("http://{}", dialable(cfg.api_addr)),
            p2p_addr: cfg.p2p_addr,
            moniker: cfg.moniker,
            home: node_home,
            validator,
        })
        .collect();
    let keys = crate::wallet::keystore(g).and_then(|k| Ok(k.list()?.keys)).unwrap_or_default();
    let report = Report {
        node: g.node.clone(),
        reachable: chain.is_some(),
        node_error: node_error.as_ref().map(ToString::to_string),
        chain,
        home: g.home.clone(),
        nodes,
        keys,
        models,
        sample_model: super::sample::load(&g.home).map(|s| s.model),
    };
    emit(g.json, &report, || text(&report))?;
    match node_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The node homes of `root` with their configs and node keys' addresses; empty if `root`
/// holds no node.
fn home_nodes(root: &Path) -> Vec<(PathBuf, NodeConfig, Option<Address>)> {
    let Ok(Some(dev)) = home::existing(root) else { return vec![] };
    dev.nodes
        .into_iter()
        .filter_map(|node_home| {
            let cfg = NodeConfig::load(&node_home).ok()?;
            let validator = node_key::read(&node_home.join(&cfg.key_file))
                .ok()
                .map(|k| Address::from_public_key(&k.public_key()));
            Some((node_home, cfg, validator))
        })
        .collect()
}

/// `GET /v1/models` of the node: the models its gateway serves.
fn served_models(node: &str) -> anyhow::Result<Vec<Served>> {
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Served>,
    }
    let http = reqwest::blocking::Client::builder().timeout(MODELS_TIMEOUT).build()?;
    let resp = http.get(format!("{}/v1/models", node.trim_end_matches('/'))).send()?;
    anyhow::ensure!(resp.status().is_success(), "GET /v1/models: {}", resp.status());
    let mut body = Vec::new();
    resp.take(MODELS_BODY_MAX).read_to_end(&mut body)?;
    Ok(serde_json::from_slice::<List>(&body)?.data)
}

fn text(r: &Report) -> String {
    let mut out = Vec::new();
    match &r.chain {
        Some(c) => {
            out.push(format!("node        {} (version {})", r.node, c.version));
            out.push(format!("chain       {} at height {}", c.chain_id, c.height));
            out.push(format!("epoch       {} ({} blocks each)", c.epoch, c.epoch_length));
            out.push(format!("validators  {}", c.validators.len()));
            out.extend(c.validators.iter().map(|v| format!("            {v}")));
            out.push(format!("mempool     {} transaction(s)", c.mempool_size));
        }
        None => out.push(format!(
            "node        {} unreachable: {}",
            r.node,
            r.node_error.as_deref().unwrap_or("")
        )),
    }
    out.push(format!("home        {}", r.home.display()));
    for n in &r.nodes {
        let role = match n.active {
            Some(true) => " (active validator)",
            Some(false) => " (not in the active set)",
            None => "",
        };
        let key = n.validator.map_or_else(|| "unreadable key".to_owned(), |v| v.to_string());
        out.push(format!("  {:<10}  api {}  p2p {}", n.moniker, n.api, n.p2p_addr));
        out.push(format!("              node key {key}{role}"));
    }
    if r.nodes.is_empty() {
        out.push("  no node here (create one with `alx up`)".into());
    }
    for k in &r.keys {
        out.push(format!("key         {:<10} {}", k.name, k.address));
    }
    if r.chain.is_some() {
        if r.models.is_empty() {
            out.push("models      none served (register one with `alx model register`)".into());
        }
        for m in &r.models {
            out.push(format!("model       {} (owner {})", m.id, m.owned_by));
        }
    }
    if let Some(m) = &r.sample_model {
        out.push(format!("sample      {m}: try `alx chat \"How do I withdraw coins in Move?\"`"));
    }
    out.join("\n")
}
