//! `alx bench ledger`: the figures of docs/BENCHMARKS.md, measured in one run.
//!
//! - `ed25519_batch_verify_per_s`: the machine's raw batch-verification rate over all cores,
//!   the physical limit of a signed-transaction ledger here (and per core).
//! - `tx_per_s`: signed transfers per second end to end on one validator: submitted over HTTP,
//!   admitted, proposed, finalized and committed to disk.
//! - finality latency p50/p99 with 1 validator (and 4, as processes on loopback, with --validators 4).
//! - cold start of `alx up` to the first finalized block.

use crate::Globals;
use alx_client::Client;
use alx_consensus::signatures::PreparedBatch;
use alx_node::home::{DevOptions, init_dev};
use alx_types::{Address, Amount, SignedTx, Transaction, hash::to_hex, tx::Payload};
use clap::Args;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::Serialize;
use std::{
    net::{SocketAddr, TcpListener},
    time::{Duration, Instant},
};

/// `alx bench ledger` options.
#[derive(Args)]
pub(crate) struct LedgerArgs {
    /// Transfers in the throughput run.
    #[arg(long, default_value_t = 40_000)]
    txs: usize,
    /// Distinct senders in the throughput run.
    #[arg(long, default_value_t = 80)]
    senders: usize,
    /// Latency samples per configuration.
    #[arg(long, default_value_t = 40)]
    samples: usize,
    /// Transactions per request in the throughput run (the node takes up to 10,000).
    #[arg(long, default_value_t = 8192)]
    batch: usize,
    /// Concurrent HTTP clients in the throughput run.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Skip the 4-validator runs (finality latency and cold start).
    #[arg(long)]
    single_only: bool,
}

#[derive(Serialize)]
struct Report {
    machine_cores: usize,
    ed25519_batch_verify_per_s: f64,
    ed25519_batch_verify_per_s_one_core: f64,
    tx_per_s: f64,
    tx_per_s_vs_verify_limit: f64,
    txs: usize,
    finality_ms_p50_1v: f64,
    finality_ms_p99_1v: f64,
    finality_ms_p50_4v: Option<f64>,
    finality_ms_p99_4v: Option<f64>,
    cold_start_ms_1v: f64,
    cold_start_ms_4v: Option<f64>,
}

pub(crate) fn run(g: &Globals, args: &LedgerArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    eprintln!("signing {} transfers from {} senders…", args.txs, args.senders);
    let keys: Vec<PrivateKey> =
        (0..args.senders as u64).map(|i| PrivateKey::from_seed(10_000 + i)).collect();
    let txs = sign_transfers(&keys, args.txs);

    eprintln!("measuring ed25519 batch verification…");
    let (verify_all, verify_one) = verify_rates(&txs, cores);

    let tmp = tempfile::tempdir()?;
    let funded: Vec<Address> =
        keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
    let (node, cold_1v, stop, node_thread) = start_single(tmp.path(), funded)?;
    eprintln!("end-to-end throughput: {} transfers…", txs.len());
    let tx_per_s =
        throughput(&node, node.base(), &txs, &keys, args.clients.max(1), args.batch.max(1))?;
    eprintln!("finality latency, 1 validator…");
    let lat1 = latency(&node, &keys[0], args.txs / args.senders, args.samples)?;
    // Stop the node before its directory goes away.
    let _ = stop.send(());
    let _ = node_thread.join();
    let (lat4, cold_4v) = if args.single_only {
        (None, None)
    } else {
        eprintln!("4 validators on loopback (processes): cold start and finality latency…");
        let (client, cold, mut child, _dir) = start_four(&keys[0])?;
        let lat = latency(&client, &keys[0], 0, args.samples);
        let _ = child.kill();
        let _ = child.wait();
        (Some(lat?), Some(cold))
    };
    let report = Report {
        machine_cores: cores,
        ed25519_batch_verify_per_s: verify_all,
        ed25519_batch_verify_per_s_one_core: verify_one,
        tx_per_s,
        tx_per_s_vs_verify_limit: tx_per_s / verify_all,
        txs: txs.len(),
        finality_ms_p50_1v: lat1.0,
        finality_ms_p99_1v: lat1.1,
        finality_ms_p50_4v: lat4.map(|l| l.0),
        finality_ms_p99_4v: lat4.map(|l| l.1),
        cold_start_ms_1v: cold_1v,
        cold_start_ms_4v: cold_4v,
    };
    crate::output::emit(g.json, &report, || {
        format!(
            "ed25519 batch verify   {:>10.0} /s ({} cores; {:.0} /s on one)\n\
             transfers end to end   {:>10.0} /s ({:.0}% of the verify limit, {} txs)\n\
             finality 1 validator   p50 {:.1} ms  p99 {:.1} ms\n\
             finality 4 validators  {}\n\
             cold start to block 1  {:.0} ms (1 validator){}",
            report.ed25519_batch_verify_per_s,
            cores,
            report.ed25519_batch_verify_per_s_one_core,
            report.tx_per_s,
            100.0 * report.tx_per_s_vs_verify_limit,
            report.txs,
            report.finality_ms_p50_1v,
            report.finality_ms_p99_1v,
            lat4.map_or("skipped".into(), |l| format!("p50 {:.1} ms  p99 {:.1} ms", l.0, l.1)),
            report.cold_start_ms_1v,
            cold_4v.map_or(String::new(), |c| format!(", {c:.0} ms (4 validators)")),
        )
    })
}

fn chain_id() -> alx_types::ChainId {
    alx_node::home::DEV_CHAIN_ID.parse().expect("valid chain id")
}

/// `count` transfers round-robin over `keys`, nonces from 0.
fn sign_transfers(keys: &[PrivateKey], count: usize) -> Vec<SignedTx> {
    // A strict key: the chain refuses transfers to bytes nobody holds a key for.
    let to = Address::from_public_key(&PrivateKey::from_seed(7).public_key());
    (0..count)
        .map(|i| {
            let key = &keys[i % keys.len()];
            Transaction {
                chain_id: chain_id(),
                sender: Address::from_public_key(&key.public_key()),
                nonce: (i / keys.len()) as u64,
                fee: Amount(1_000),
                payload: Payload::Transfer { to, amount: Amount(1) },
            }
            .sign(key)
        })
        .collect()
}

/// Raw batch verification (keys already decompressed, messages encoded): signatures per
/// second over all cores (one batch per core), and on one core.
fn verify_rates(txs: &[SignedTx], cores: usize) -> (f64, f64) {
    let batch = PreparedBatch::new(&txs[..txs.len().min(8192)]);
    let one = || {
        let mut rng = commonware_utils::rng::sys_rng();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(2) {
            assert!(
                batch.verify(&mut rng, &commonware_parallel::Sequential),
                "bench signatures must verify"
            );
            n += batch.len();
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let single = one();
    let all: f64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores).map(|_| s.spawn(one)).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    });
    (all, single)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a one-validator node in this process; returns its client and the cold-start time to
/// the first finalized block.
#[allow(clippy::type_complexity)]
fn start_single(
    dir: &std::path::Path,
    funded: Vec<Address>,
) -> anyhow::Result<(Client, f64, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)> {
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let start = Instant::now();
    let home = init_dev(dir, &DevOptions { funded, ..DevOptions::new(1, api, free_port()?) })?;
    let node_home = home.nodes[0].clone();
    let (stop, stop_rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        if let Err(e) = alx_node::run(&node_home, None, |_| {}, Some(stop_rx)) {
            eprintln!("bench node failed: {e:#}");
        }
    });
    let client = Client::new(&format!("http://{api}"));
    wait_height(&client, 1, Duration::from_secs(60))?;
    Ok((client, start.elapsed().as_secs_f64() * 1000.0, stop, thread))
}

fn wait_height(client: &Client, height: u64, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if client.status().is_ok_and(|s| s.height.0 >= height) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("no block {height} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Submits every transaction in batches and waits until all are committed.
/// Transfers per second from the first submission until every one is committed, sent by
/// `clients` concurrent HTTP clients as many users would; each owns a disjoint set of
/// senders (so each sender's nonces arrive in order) and encodes its request bodies before
/// the clock starts, since encoding is the client's work, not the ledger's.
fn throughput(
    client: &Client,
    api: &str,
    txs: &[SignedTx],
    keys: &[PrivateKey],
    clients: usize,
    batch: usize,
) -> anyhow::Result<f64> {
    let per_sender = (txs.len() / keys.len()) as u64;
    let senders: Vec<Address> =
        keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
    let bodies: Vec<Vec<(Vec<SignedTx>, Vec<u8>)>> = (0..clients)
        .map(|c| {
            // `sign_transfers` gives transaction i to sender i % senders.
            let mine: Vec<SignedTx> = txs
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % senders.len()) % clients == c)
                .map(|(_, tx)| tx.clone())
                .collect();
            mine.chunks(batch)
                .map(|chunk| (chunk.to_vec(), alx_client::encode_raw_batch(chunk)))
                .collect()
        })
        .collect();
    let start = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = bodies
            .into_iter()
            .map(|bodies| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let client = Client::new(api);
                    for (txs, body) in bodies {
                        submit_until_admitted(&client, txs, body)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a load client panicked"))??;
        }
        Ok(())
    })?;
    loop {
        let done = senders
            .iter()
            .take(clients)
            .chain(senders.last())
            .all(|a| client.account(a, false).is_ok_and(|r| r.account.nonce >= per_sender));
        if done && client.status().is_ok_and(|s| s.mempool_size == 0) {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("transactions not committed within 600 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(txs.len() as f64 / start.elapsed().as_secs_f64())
}

/// Submits a batch; what a full mempool refused is sent again after a pause (backpressure,
/// as a well-behaved client does). Any other refusal fails the run.
fn submit_until_admitted(
    client: &Client,
    mut txs: Vec<SignedTx>,
    mut body: Vec<u8>,
) -> anyhow::Result<()> {
    loop {
        let resp = match client.submit_raw_encoded(body) {
            Err(e) if e.to_string().contains("mempool") => {
                std::thread::sleep(Duration::from_millis(20));
                body = alx_client::encode_raw_batch(&txs);
                continue;
            }
            r => r?,
        };
        let mut retry = Vec::new();
        for r in &resp.rejected {
            let index = r["index"].as_u64().and_then(|i| usize::try_from(i).ok());
            match index.and_then(|i| txs.get(i)) {
                Some(tx) if r["error"]["type"] == "mempool_full" => retry.push(tx.clone()),
                _ => anyhow::bail!("node refused {} transactions: {r}", resp.rejected.len()),
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
        txs = retry;
        body = alx_client::encode_raw_batch(&txs);
    }
}

/// Submit-to-committed latency of single transfers, in ms: (p50, p99).
fn latency(
    client: &Client,
    key: &PrivateKey,
    first_nonce: usize,
    samples: usize,
) -> anyhow::Result<(f64, f64)> {
    let sender = Address::from_public_key(&key.public_key());
    let first = client.account(&sender, false)?.account.nonce.max(first_nonce as u64);
    let mut ms = Vec::with_capacity(samples);
    for nonce in first..first + samples as u64 {
        let tx = Transaction {
            chain_id: client.status()?.chain_id,
            sender,
            nonce,
            fee: Amount(1_000),
            payload: Payload::Transfer {
                to: Address::from_public_key(&PrivateKey::from_seed(9).public_key()),
                amount: Amount(1),
            },
        }
        .sign(key);
        let start = Instant::now();
        let hash = to_hex(&client.submit(&tx)?);
        loop {
            if client.tx(&hash).is_ok() {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("transaction {hash} not committed within 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Ok((pick(0.5), pick(0.99)))
}

/// Starts `alx up --validators 4` as a child process on fresh ports, funding `key`.
fn start_four(
    key: &PrivateKey,
) -> anyhow::Result<(Client, f64, std::process::Child, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let api_port = free_port()?;
    let p2p_port = free_port()?;
    // Lay out the home here so the key is funded, then let `alx up` resume it.
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse()?;
    let funded = vec![Address::from_public_key(&key.public_key())];
    let start = Instant::now();
    init_dev(dir.path(), &DevOptions { funded, ..DevOptions::new(4, api, p2p_port) })?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("--home")
        .arg(dir.path())
        .args(["up", "--api-addr", &api.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let client = Client::new(&format!("http://{api}"));
    wait_height(&client, 1, Duration::from_secs(120))?;
    Ok((client, start.elapsed().as_secs_f64() * 1000.0, child, dir))
}
