//! The ledger benchmark's load: transfers signed in advance, the raw batch-verification rate
//! they allow, and sending them to a node (throughput, then finality latency one at a time).

use crate::BenchError;
use alx_client::Client;
use alx_consensus::signatures::PreparedBatch;
use alx_types::{Address, Amount, ChainId, SignedTx, Transaction, hash::to_hex, tx::Payload};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::time::{Duration, Instant};

/// Signatures per verified batch: the node's own batch size under load.
const VERIFY_BATCH_MAX: usize = 8192;
/// Fee of every benchmark transfer.
const FEE: Amount = Amount(1_000);
/// How long every transfer of the throughput run may take to commit.
const COMMIT_ALL_MAX: Duration = Duration::from_secs(600);
/// How long one transfer of the latency run may take to commit.
const COMMIT_ONE_MAX: Duration = Duration::from_secs(30);
/// The pause before resending what a full mempool refused.
const BACKOFF: Duration = Duration::from_millis(20);

/// The chain every benchmark network runs.
fn chain_id() -> ChainId {
    alx_node::home::DEV_CHAIN_ID.parse().expect("the dev chain id is valid")
}

/// A strict recipient: the chain refuses transfers to bytes nobody holds a key for.
fn recipient(seed: u64) -> Address {
    Address::from_public_key(&PrivateKey::from_seed(seed).public_key())
}

/// `count` transfers round-robin over `keys`, nonces from 0: transaction `i` is sent by key
/// `i % keys.len()`.
pub(super) fn sign(keys: &[PrivateKey], count: usize) -> Vec<SignedTx> {
    let to = recipient(7);
    (0..count)
        .map(|i| {
            let key = &keys[i % keys.len()];
            Transaction {
                chain_id: chain_id(),
                sender: Address::from_public_key(&key.public_key()),
                nonce: (i / keys.len()) as u64,
                fee: FEE,
                payload: Payload::Transfer { to, amount: Amount(1) },
            }
            .sign(key)
        })
        .collect()
}

/// Raw batch verification (keys already decompressed, messages encoded), each rate measured
/// for `duration`: signatures per second over `cores` threads (one batch per core), and on one.
pub(super) fn verify_rates(txs: &[SignedTx], cores: usize, duration: Duration) -> (f64, f64) {
    let batch = PreparedBatch::new(&txs[..txs.len().min(VERIFY_BATCH_MAX)]);
    let one = || {
        let mut rng = commonware_utils::rng::sys_rng();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < duration {
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

/// Transactions per second from the first submission until every one is committed, sent by
/// [`Config::clients`](super::Config::clients) concurrent HTTP clients as many users would, in
/// requests of [`Config::batch`](super::Config::batch) transactions; each client owns a disjoint
/// set of senders (so each sender's nonces arrive in order, as `txs` lists them) and encodes
/// its request bodies before the clock starts, since encoding is the client's work, not the
/// ledger's.
pub(super) fn throughput(
    client: &Client,
    txs: &[SignedTx],
    config: &super::Config,
) -> Result<f64, BenchError> {
    let (clients, batch) = (config.clients.get(), config.batch.get());
    // Senders in order of first appearance, each with its last nonce.
    let mut senders: Vec<(Address, u64)> = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    for tx in txs {
        let i = *index.entry(tx.tx.sender).or_insert_with(|| {
            senders.push((tx.tx.sender, 0));
            senders.len() - 1
        });
        senders[i].1 = tx.tx.nonce;
    }
    let bodies: Vec<Vec<(Vec<SignedTx>, Vec<u8>)>> = (0..clients)
        .map(|c| {
            let mine: Vec<SignedTx> =
                txs.iter().filter(|tx| index[&tx.tx.sender] % clients == c).cloned().collect();
            mine.chunks(batch)
                .map(|chunk| (chunk.to_vec(), alx_client::encode_raw_batch(chunk)))
                .collect()
        })
        .collect();
    let api = client.base();
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<(), BenchError> {
        let workers: Vec<_> = bodies
            .into_iter()
            .map(|bodies| {
                scope.spawn(move || -> Result<(), BenchError> {
                    let client = Client::new(api);
                    for (txs, body) in bodies {
                        submit_until_admitted(&client, txs, body)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| BenchError::Panicked("load client"))??;
        }
        Ok(())
    })?;
    loop {
        // Every client's first sender and the last sender: their last transactions are among
        // the last of each client's stream.
        let done = senders
            .iter()
            .take(clients)
            .chain(senders.last())
            .all(|(a, last)| client.account(a, false).is_ok_and(|r| r.account.nonce > *last));
        if done && client.status().is_ok_and(|s| s.mempool_size == 0) {
            break;
        }
        if start.elapsed() > COMMIT_ALL_MAX {
            return Err(BenchError::Timeout {
                what: "transactions not committed".to_owned(),
                waited: COMMIT_ALL_MAX,
            });
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
) -> Result<(), BenchError> {
    loop {
        let resp = match client.submit_raw_encoded(body) {
            Err(e) if e.to_string().contains("mempool") => {
                std::thread::sleep(BACKOFF);
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
                _ => {
                    return Err(BenchError::Refused {
                        count: resp.rejected.len(),
                        first: r.to_string(),
                    });
                }
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        std::thread::sleep(BACKOFF);
        txs = retry;
        body = alx_client::encode_raw_batch(&txs);
    }
}

/// Submit-to-committed latency of `samples` single transfers from `key`, the first with
/// nonce `first_nonce` or the account's next, whichever is later, in ms: (p50, p99).
pub(super) fn latency(
    client: &Client,
    key: &PrivateKey,
    first_nonce: usize,
    samples: usize,
) -> Result<(f64, f64), BenchError> {
    let sender = Address::from_public_key(&key.public_key());
    let first = client.account(&sender, false)?.account.nonce.max(first_nonce as u64);
    let mut ms = Vec::with_capacity(samples);
    for nonce in first..first + samples as u64 {
        let tx = Transaction {
            chain_id: client.status()?.chain_id,
            sender,
            nonce,
            fee: FEE,
            payload: Payload::Transfer { to: recipient(9), amount: Amount(1) },
        }
        .sign(key);
        let start = Instant::now();
        let hash = to_hex(&client.submit(&tx)?);
        while client.tx(&hash).is_err() {
            if start.elapsed() > COMMIT_ONE_MAX {
                return Err(BenchError::Timeout {
                    what: format!("transaction {hash} not committed"),
                    waited: COMMIT_ONE_MAX,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((rounded_rank(&mut ms, 0.5), rounded_rank(&mut ms, 0.99)))
}

/// The `q` quantile of `ms` at the nearest rank, rounded (the rule docs/BENCHMARKS.md's
/// finality figures were measured with), or 0 for no samples.
fn rounded_rank(ms: &mut [f64], q: f64) -> f64 {
    if ms.is_empty() {
        return 0.0;
    }
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() as f64 - 1.0) * q).round() as usize]
}
