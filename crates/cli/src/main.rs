//! `alx`: the Alexandria command line. Runs a node (`alx up`, `alx node start`), manages keys,
//! sends transactions, and benchmarks the ledger.
//!
//! Data goes to stdout (JSON with `--json`); logs, progress and errors go to stderr, errors with
//! a `hint:` line saying what to do next.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, reason = "the CLI's output is its product")]

mod cmd;
mod env;
mod light;
mod output;
mod wallet;

use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

const AFTER_HELP: &str = "\
Start here:
  alx up                         run a local network (one validator) with funded dev keys
  alx status                     the chain, this home's node and keys, the models served
  alx keys list                  the dev keys: alice, bob, carol
  alx transfer --from alice --to bob --amount 1.5
  alx balance bob

Environment: ALX_HOME, ALX_NODE, ALX_PASSPHRASE (no prompts when set), ALX_LOG, NO_COLOR.";

/// Alexandria: an open network for specialized AI models, on a verifiable ledger.
#[derive(Parser)]
#[command(name = "alx", version, about, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    /// Home directory: config, genesis, keys and chain data.
    #[arg(long, global = true, env = env::ALX_HOME)]
    home: Option<PathBuf>,
    /// Node API URL for wallet commands [default: the API of the --home node's config, else
    /// http://127.0.0.1:7700].
    #[arg(long, global = true, env = env::ALX_NODE)]
    node: Option<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (first run) or resume a local network and run it until Ctrl-C.
    Up(cmd::up::UpArgs),
    /// The node's chain (height, chain id, validators), this home's node and keys, and the
    /// models the node's gateway serves.
    Status,
    /// Run a node, or set one up to join an existing chain as a validator.
    #[command(subcommand)]
    Node(cmd::node::NodeCommand),
    /// Create, import and list keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Show an account's balance, nonce and stake.
    Balance(cmd::wallet::BalanceArgs),
    /// Send ALX to another account.
    Transfer(cmd::wallet::TransferArgs),
    /// Prepay model use: move ALX from your balance to your prepaid deposit.
    Deposit(cmd::usage::DepositArgs),
    /// Take ALX back from your prepaid deposit.
    Withdraw(cmd::usage::DepositArgs),
    /// Rewards: what your data and models earned; claim it.
    #[command(subcommand)]
    Rewards(cmd::usage::RewardsCommand),
    /// Chat with a model through the node's OpenAI-compatible gateway (streamed, with its
    /// receipt and attribution).
    Chat(cmd::chat::ChatArgs),
    /// Audit settlements: check published receipts, prices and attribution; file challenges.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Serving providers: bond to be named on API keys, unbond, show a bond.
    #[command(subcommand)]
    Provider(cmd::provider::ProviderCommand),
    /// Receipts of served requests: show one, or verify its signature and attribution.
    #[command(subcommand)]
    Receipt(cmd::receipt::ReceiptCommand),
    /// Models: fetch, register, list, show.
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Bond, unbond, or register as a validator.
    #[command(subcommand)]
    Stake(cmd::stake::StakeCommand),
    /// Blobs: upload a file under its hash, download one and check it.
    #[command(subcommand)]
    Blob(cmd::blob::BlobCommand),
    /// Datanets: create, contribute, review, publish versions.
    #[command(subcommand)]
    Datanet(cmd::datanet::DatanetCommand),
    /// Subnets: create, register miners and validators, metagraphs, epochs, commit and reveal
    /// weights.
    #[command(subcommand)]
    Subnet(cmd::subnet::SubnetCommand),
    /// Look up transactions.
    #[command(subcommand)]
    Tx(cmd::wallet::TxCommand),
    /// Measure this machine.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Build and query an attribution index over a plain JSONL corpus.
    #[command(subcommand)]
    Index(cmd::index::IndexCommand),
    /// Yuma Consensus conformance: run epochs from a JSON scenario.
    #[command(subcommand)]
    Yuma(cmd::yuma::YumaCommand),
    /// Subnet miners: serve a registered model in a subnet and follow its incentive.
    #[command(subcommand)]
    Miner(MinerCommand),
    /// Subnet validators: score the miners on held-out data, commit and reveal weights.
    #[command(subcommand)]
    Validator(ValidatorCommand),
}

#[derive(Subcommand)]
enum MinerCommand {
    /// Register (once) and serve a model in a subnet; report its incentive every epoch.
    Run(cmd::miner::MinerArgs),
}

#[derive(Subcommand)]
enum ValidatorCommand {
    /// Register (once), then every epoch: reveal the last weights, score, commit new ones.
    Run(cmd::validator::ValidatorArgs),
}

/// What every command gets.
pub(crate) struct Globals {
    pub(crate) home: PathBuf,
    pub(crate) node: String,
    pub(crate) json: bool,
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".alexandria"), |h| PathBuf::from(h).join(".alexandria"))
}

/// The API of the node whose home is `home` (validator 0 of a local network), as a URL a
/// client can dial.
fn home_api(home: &std::path::Path) -> Option<String> {
    let node = alx_node::home::existing(home).ok()??.nodes.into_iter().next()?;
    let addr = alx_node::NodeConfig::load(&node).ok()?.api_addr;
    Some(format!("http://{}", cmd::status::dialable(addr)))
}

/// Parses the command line; under `--json`, a usage error is a JSON error document too.
fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|err| {
        use clap::error::ErrorKind;
        let informational =
            matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
        if !informational && std::env::args_os().any(|a| a == "--json") {
            let doc = serde_json::json!({"error": {
                "code": "usage",
                "message": err.render().to_string().trim(),
                "hint": "see `alx --help`",
            }});
            println!("{doc}");
        }
        let _ = err.print();
        ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging();
    let home = cli.home.unwrap_or_else(default_home);
    let node = cli
        .node
        .or_else(|| home_api(&home))
        .unwrap_or_else(|| alx_client::DEFAULT_NODE_URL.to_owned());
    let globals = Globals { home, node, json: cli.json };
    let result = match cli.command {
        Command::Up(args) => cmd::up::up(&globals, &args),
        Command::Status => cmd::status::run(&globals),
        Command::Node(c) => cmd::node::run(&globals, c),
        Command::Keys(c) => cmd::keys::run(&globals, c),
        Command::Balance(a) => cmd::wallet::balance(&globals, &a),
        Command::Transfer(a) => cmd::wallet::transfer(&globals, &a),
        Command::Deposit(a) => cmd::usage::deposit(&globals, &a, false),
        Command::Withdraw(a) => cmd::usage::deposit(&globals, &a, true),
        Command::Rewards(c) => cmd::usage::rewards(&globals, c),
        Command::Model(c) => cmd::model::run(&globals, c),
        Command::Chat(a) => cmd::chat::run(&globals, &a),
        Command::Receipt(c) => cmd::receipt::run(&globals, c),
        Command::Provider(c) => cmd::provider::run(&globals, c),
        Command::Audit(c) => cmd::audit::run(&globals, c),
        Command::Stake(c) => cmd::stake::stake(&globals, c),
        Command::Tx(c) => cmd::wallet::tx(&globals, c),
        Command::Datanet(c) => cmd::datanet::run(&globals, c),
        Command::Subnet(c) => cmd::subnet::run(&globals, c),
        Command::Blob(c) => cmd::blob::run(&globals, c),
        Command::Bench(c) => cmd::bench::run(&globals, c),
        Command::Miner(MinerCommand::Run(a)) => cmd::miner::run(&globals, &a),
        Command::Validator(ValidatorCommand::Run(a)) => cmd::validator::run(&globals, &a),
        Command::Index(c) => cmd::index::run(&globals, c),
        Command::Yuma(c) => cmd::yuma::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output::print_error(&err, globals.json);
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::ALX_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,commonware=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::stderr_color())
        .try_init();
}

#[cfg(test)]
mod tests {
    /// Clap's own consistency checks over every subcommand (duplicate names, bad defaults…),
    /// which otherwise only fire when that subcommand runs.
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
