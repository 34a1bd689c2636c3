//! `alx yuma run`: the Yuma Consensus conformance driver (format in crates/yuma/README.md).

use crate::output::hinted;
use clap::{Args, Subcommand};
use std::io::Read as _;

/// Largest input accepted, in bytes: far above any real scenario, and a bound on memory.
const INPUT_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// `alx yuma …`.
#[derive(Subcommand)]
pub(crate) enum YumaCommand {
    /// Run a subnet state through chain operations and epochs; print every epoch's results.
    Run(RunArgs),
}

/// `alx yuma run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// JSON input file (`{"params", "state", "ops"}`), or `-` for stdin.
    #[arg(long, short)]
    input: String,
}

pub(crate) fn run(command: YumaCommand) -> anyhow::Result<()> {
    let YumaCommand::Run(args) = command;
    let mut text = String::new();
    let read = if args.input == "-" {
        std::io::stdin().take(INPUT_BYTES_MAX).read_to_string(&mut text)
    } else {
        std::fs::File::open(&args.input)
            .and_then(|f| f.take(INPUT_BYTES_MAX).read_to_string(&mut text))
    };
    read.map_err(|e| {
        hinted(format!("cannot read {}: {e}", args.input), "pass a readable JSON file or `-`")
    })?;
    let output = alx_yuma::conformance::run(&text).map_err(|e| {
        hinted(e.to_string(), "the input format is documented in crates/yuma/README.md")
    })?;
    println!("{}", serde_json::to_string(&output)?);
    Ok(())
}
