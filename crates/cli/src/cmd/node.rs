//! `alx node start|init|register`: run a node, or set one up to join a running chain.

use crate::{
    Globals,
    cmd::wallet::amount,
    output::{emit, hinted},
    wallet,
};
use alx_node::{config::CONFIG_FILE, config::NodeConfig, node_key};
use alx_types::{Address, Amount, tx::Payload};
use clap::Subcommand;
use commonware_cryptography::Signer as _;
use std::{net::SocketAddr, path::PathBuf};

/// `alx node …`.
#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// Run the node whose home is --home until Ctrl-C.
    Start(StartArgs),
    /// Create the home of a new node for an existing chain: config, node key, genesis copy.
    ///
    /// Then fund the printed address, `alx node register` it with stake, and `alx node start`
    /// it: it follows the chain at once and votes from the epoch after its stake ranks it
    /// among the top validators.
    Init {
        /// The chain's genesis file (for a local network: HOME/genesis.json of `alx up`).
        #[arg(long)]
        genesis: PathBuf,
        /// Where this node's API listens.
        #[arg(long, default_value = "127.0.0.1:7750")]
        api_addr: SocketAddr,
        /// Where this node's p2p endpoint listens; other validators dial it there.
        #[arg(long, default_value = "127.0.0.1:7850")]
        p2p_addr: SocketAddr,
        /// API of another node to fetch contribution data from (repeatable; default: --node,
        /// the node this command talks to). Written to `[data] peers`.
        #[arg(long = "peer")]
        peers: Vec<String>,
    },
    /// Register this node (its key in --home) as a validator candidate and bond stake to it.
    ///
    /// Sends two transactions signed by the node key, through --node: a registration with the
    /// p2p address of the node's config, and a self-bond of --stake. The node key's account
    /// pays the stake and the fees, so fund it first (`alx transfer --to ADDRESS`).
    Register {
        /// Stake to bond, in ALX.
        #[arg(long, value_parser = amount)]
        stake: Amount,
        /// Fee per transaction, in ALX.
        #[arg(long, default_value = "0.000001", value_parser = amount)]
        fee: Amount,
        /// Register this address instead of the config's `p2p_addr` (e.g. a public IP when
        /// the node listens on 0.0.0.0).
        #[arg(long, value_name = "IP:PORT")]
        p2p_addr: Option<SocketAddr>,
    },
}

/// `alx node start`.
#[derive(clap::Args)]
pub(crate) struct StartArgs {
    /// Listen for the API here instead of the config's `api_addr` (this run only).
    #[arg(long)]
    api_addr: Option<SocketAddr>,
    /// Listen for p2p here instead of the config's `p2p_addr` (this run only; peers still dial
    /// the address the chain holds for this validator).
    #[arg(long)]
    p2p_addr: Option<SocketAddr>,
    /// Serve this model (by name) with its adapter folded into its own copy of the base
    /// (this run only, besides `[gateway] merge`). Repeat for more.
    #[arg(long, value_name = "MODEL")]
    merge: Vec<String>,
    /// Stop when stdin reaches its end: set by `alx up --validators N` on its validator
    /// processes (stdin is a pipe from it), so they never outlive it, however it dies.
    #[arg(long, hide = true)]
    stop_with_parent: bool,
}

pub(crate) fn run(g: &Globals, cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Start(a) => start(g, &a),
        NodeCommand::Init { genesis, api_addr, p2p_addr, peers } => {
            let peers = if peers.is_empty() { vec![g.node.clone()] } else { peers };
            let address =
                alx_node::home::init_node(&g.home, &genesis, api_addr, p2p_addr, peers)
                    .map_err(|e| hinted(format!("{e:#}"), "pass --home NEW_DIR for a new node"))?;
            let value = serde_json::json!({
                "home": g.home, "address": address, "api": format!("http://{api_addr}"),
                "p2p_addr": p2p_addr,
            });
            emit(g.json, &value, || {
                format!(
                    "created node {address} in {home}\n\
                     next:\n  alx transfer --from alice --to {address} --amount 2000001\n  \
                     alx --home {home} node register --stake 2000000\n  \
                     alx --home {home} node start",
                    home = g.home.display()
                )
            })
        }
        NodeCommand::Register { stake, fee, p2p_addr } => register(g, stake, fee, p2p_addr),
    }
}

/// A stop signal fired when stdin ends (the parent's end of the pipe closed).
fn stop_at_end_of_stdin() -> alx_node::StopSignal {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        // Whatever arrives is ignored; only the end (or a broken stdin) matters.
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    rx
}

fn start(g: &Globals, a: &StartArgs) -> anyhow::Result<()> {
    if !g.home.join(CONFIG_FILE).exists() {
        return Err(hinted(
            format!("{} has no {CONFIG_FILE}", g.home.display()),
            "create a network with `alx up`, join one with `alx node init`, or pass --home NODE_DIR",
        ));
    }
    let json = g.json;
    let stop = a.stop_with_parent.then(stop_at_end_of_stdin);
    let overrides =
        alx_node::Overrides { api_addr: a.api_addr, p2p_addr: a.p2p_addr, merge: a.merge.clone() };
    alx_node::run_with(
        &g.home,
        overrides,
        move |ready| {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "ready", "api": format!("http://{}", ready.api_addr), "validator": ready.validator})
                );
            } else {
                println!("node {} serving http://{}", ready.validator, ready.api_addr);
            }
        },
        stop,
    )
}

fn register(
    g: &Globals,
    stake: Amount,
    fee: Amount,
    p2p_addr: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(&g.home).map_err(|e| {
        hinted(format!("{e:#}"), "pass the --home of a node created by `alx node init`")
    })?;
    let dial = p2p_addr.unwrap_or(cfg.p2p_addr);
    if !alx_types::tx::is_dialable(&dial) {
        return Err(hinted(
            format!("{dial} cannot be dialed by other validators"),
            "pass --p2p-addr with the IP and port peers reach this node at",
        ));
    }
    let key = node_key::read(&g.home.join(&cfg.key_file))?;
    let me = Address::from_public_key(&key.public_key());
    let payloads = vec![
        Payload::RegisterValidator { p2p_addr: dial },
        Payload::Bond { validator: me, amount: stake },
    ];
    let sent = wallet::send_all(g, &key, fee, payloads, true)?;
    let value = serde_json::json!({ "validator": me, "p2p_addr": dial, "register": sent[0], "bond": sent[1] });
    for (what, s) in ["registration", "bond"].iter().zip(&sent) {
        if let Some(failed) = s.failure(what, |_| {
            "fund the node's address first: it pays the stake and the fees".into()
        }) {
            return Err(failed.into());
        }
    }
    emit(g.json, &value, || {
        format!(
            "{me} registered at {dial} with {stake} bonded; it votes from the epoch after its \
             stake ranks it in the active set (`validators` of {}/api/status)",
            g.node
        )
    })
}
