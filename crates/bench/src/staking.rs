//! Staking rewards: what a block's distribution costs with one delegator and with many (it
//! must not grow with them: the lazy pools do one update per active validator), and what one
//! delegator's claim costs among many. One chain in memory, measured before and after the
//! delegators join, so both figures come from the same run. Deterministic inputs; timings from
//! the wall clock.

use crate::{BenchError, stats::median};
use alx_state::{BlockContext, Genesis, GenesisAccount, GenesisValidator, Params, State};
use alx_types::{Address, Amount, SignedTx, Transaction, tx::Payload, usage::UsageOp};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::Serialize;
use std::{num::NonZeroUsize, time::Instant};

/// Validators in the active set.
pub const VALIDATORS: u64 = 4;
const FEE: u128 = 10;
const BONDS_PER_BLOCK: usize = 10_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Delegators bonded for the second figure.
    pub delegators: NonZeroUsize,
    /// Empty blocks timed per figure (the median is reported).
    pub blocks: NonZeroUsize,
}

/// One figure: a block's staking distribution at a number of delegators.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Delegators bonded.
    pub delegators: usize,
    /// Median time to execute an empty block (emission, distribution, state root), in µs.
    pub block_us_median: f64,
    /// State entries a block writes (the same at any number of delegators).
    pub entries_written: usize,
    /// Median time of a block holding one delegator's claim, in µs.
    pub claim_block_us_median: f64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Validators in the active set.
    pub validators: u64,
    /// With one delegator, then with `delegators`.
    pub figures: Vec<Figure>,
    /// `block_us_median` with many over with one: ~1 when the cost does not grow.
    pub block_ratio: f64,
    /// `claim_block_us_median` with many over with one.
    pub claim_ratio: f64,
}

fn key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(i)
}

fn chain(delegators: usize) -> Result<(State, Vec<Address>), BenchError> {
    let validators: Vec<GenesisValidator> = (0..VALIDATORS)
        .map(|i| GenesisValidator {
            address: Address::from_public_key(&key(i).public_key()),
            stake: Amount(1_000_000_000_000),
            p2p_addr: std::net::SocketAddr::from((
                [127, 0, 0, 1],
                7_800 + u16::try_from(i).unwrap_or(0),
            )),
        })
        .collect();
    let accounts: Vec<GenesisAccount> = (0..delegators as u64)
        .map(|i| GenesisAccount {
            address: Address::from_public_key(&key(1_000 + i).public_key()),
            balance: Amount(1_000_000_000_000),
        })
        .collect();
    let emission = alx_emission::presets::Preset::Alexandria
        .params(86_400)
        .map_err(|e| BenchError::Chain(e.to_string()))?;
    let genesis = Genesis {
        chain_id: "alx-bench".parse().map_err(|_| BenchError::Chain("chain id".into()))?,
        // No epoch ends during the measurement: every block does the same work.
        params: Params { min_fee: Amount(FEE), epoch_length: 1 << 40, validators_max: 100 },
        accounts,
        validators: validators.clone(),
        emission: Some(emission),
        providers: vec![],
    };
    let state = State::from_genesis(&genesis).map_err(|e| BenchError::Chain(e.to_string()))?;
    Ok((state, validators.iter().map(|v| v.address).collect()))
}

fn signed(seed: u64, nonce: u64, payload: Payload) -> Result<SignedTx, BenchError> {
    let tx = Transaction {
        chain_id: "alx-bench".parse().map_err(|_| BenchError::Chain("chain id".into()))?,
        sender: Address::from_public_key(&key(seed).public_key()),
        nonce,
        fee: Amount(FEE),
        payload,
    };
    Ok(tx.sign(&key(seed)))
}

/// Executes one block of `txs` (their signatures taken as checked) and returns its time in µs.
fn block(state: &mut State, proposer: Address, txs: &[SignedTx]) -> Result<f64, BenchError> {
    let height = state.height().map_err(|e| BenchError::Chain(e.to_string()))?.next();
    let ctx = BlockContext { height, proposer };
    let started = Instant::now();
    state
        .execute_block(&ctx, txs, &vec![true; txs.len()])
        .map_err(|e| BenchError::Chain(e.to_string()))?;
    Ok(started.elapsed().as_secs_f64() * 1e6)
}

fn measure(
    state: &mut State,
    proposer: Address,
    delegators: usize,
    blocks: usize,
    nonce: &mut u64,
) -> Result<Figure, BenchError> {
    let mut times = Vec::with_capacity(blocks);
    state.take_changes();
    let mut entries_written = 0;
    for _ in 0..blocks {
        times.push(block(state, proposer, &[])?);
        entries_written = state.take_changes().len();
    }
    // Account 1000 (the first delegator) claims: settling its delegation among all the others.
    let mut claims = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        let claim = signed(1_000, *nonce, Payload::Usage(UsageOp::Claim))?;
        *nonce += 1;
        claims.push(block(state, proposer, &[claim])?);
    }
    Ok(Figure {
        delegators,
        block_us_median: median(times),
        entries_written,
        claim_block_us_median: median(claims),
    })
}

/// Runs the benchmark; `progress` hears each step.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, BenchError> {
    let many = config.delegators.get();
    let blocks = config.blocks.get();
    progress("genesis");
    let (mut state, validators) = chain(many)?;
    let proposer = validators[0];
    let bond = |seed: u64, nonce: u64, i: u64| {
        let validator = validators[usize::try_from(i % VALIDATORS).unwrap_or(0)];
        signed(seed, nonce, Payload::Bond { validator, amount: Amount(1_000_000_000) })
    };
    // One delegator first.
    let first = bond(1_000, 0, 0)?;
    block(&mut state, proposer, &[first])?;
    let mut nonce = 1;
    progress("one delegator");
    let one = measure(&mut state, proposer, 1, blocks, &mut nonce)?;
    // Then the others, in blocks of 10,000 bonds.
    let seeds: Vec<u64> = (1..many as u64).collect();
    let mut bonded = 1;
    for chunk in seeds.chunks(BONDS_PER_BLOCK) {
        bonded += chunk.len();
        progress(&format!("bonding: {bonded} of {many}"));
        let txs = chunk.iter().map(|i| bond(1_000 + i, 0, *i)).collect::<Result<Vec<_>, _>>()?;
        block(&mut state, proposer, &txs)?;
    }
    progress(&format!("{many} delegators"));
    let all = measure(&mut state, proposer, many, blocks, &mut nonce)?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(Report {
        validators: VALIDATORS,
        block_ratio: ratio(all.block_us_median, one.block_us_median),
        claim_ratio: ratio(all.claim_block_us_median, one.claim_block_us_median),
        figures: vec![one, all],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_writes_the_same_entries_at_any_number_of_delegators() {
        let config = Config {
            delegators: NonZeroUsize::new(300).unwrap(),
            blocks: NonZeroUsize::new(3).unwrap(),
        };
        let report = run(&config, |_| {}).unwrap();
        let [one, many] = &report.figures[..] else { panic!("two figures") };
        assert_eq!(one.entries_written, many.entries_written);
        assert!(one.entries_written > 0);
    }
}
