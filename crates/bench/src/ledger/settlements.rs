//! Settlements in the mix: a model, bonded providers, and a payer's API key per provider are
//! set up first; then transfers and settlements (each of [`RECEIPTS_PER_SETTLEMENT`] receipts
//! under a receipt root, charging the provider's key) are sent together, interleaved, so the
//! chain's throughput is measured with the work a settlement does (the root recomputed from
//! its totals, the key charged, the fee split, the bond's capacity taken, the window's record
//! kept).

use crate::BenchError;
use alx_client::Client;
use alx_types::{
    Address, Amount, ChainId, SignedTx, Transaction,
    hash::{sha256, to_hex},
    model::{FeeSplit, ModelId, ModelOp, ModelSpec},
    settled::{SettledReceipt, root},
    tx::Payload,
    usage::{Settlement, UsageOp},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::time::Duration;

/// Receipts each benchmark settlement settles.
pub(super) const RECEIPTS_PER_SETTLEMENT: u32 = 64;
const FEE: Amount = Amount(1_000);
/// What each receipt charges (its tokens are one in, one out).
const RECEIPT_FEE: Amount = Amount(3);
const COMMIT_ONE_MAX: Duration = Duration::from_secs(60);

fn chain_id() -> ChainId {
    alx_node::home::DEV_CHAIN_ID.parse().expect("the dev chain id is valid")
}

fn tx(key: &PrivateKey, nonce: u64, payload: Payload) -> SignedTx {
    Transaction {
        chain_id: chain_id(),
        sender: Address::from_public_key(&key.public_key()),
        nonce,
        fee: FEE,
        payload,
    }
    .sign(key)
}

fn api_key_hash(provider: usize) -> alx_types::Hash {
    sha256(&[b"bench api key", &provider.to_be_bytes()])
}

/// Submits `txs` one by one (in order) and waits for each to commit with success.
fn commit_in_order(client: &Client, txs: &[SignedTx]) -> Result<(), BenchError> {
    for tx in txs {
        let hash = to_hex(&client.submit(tx)?);
        let r = client.wait_for_tx(&hash, COMMIT_ONE_MAX)?;
        if let Some(e) = r.receipt.error {
            return Err(BenchError::Refused {
                count: 1,
                first: format!("setup {hash}: {}", e.as_str()),
            });
        }
    }
    Ok(())
}

/// Registers a model from `owner`, bonds every provider, and gives each an API key of
/// `payer`'s with room for `settlements` settlements each. Returns the model.
pub(super) fn set_up(
    client: &Client,
    owner: &PrivateKey,
    payer: &PrivateKey,
    providers: &[PrivateKey],
    settlements: usize,
) -> Result<ModelId, BenchError> {
    let spec = ModelSpec {
        name: "bench-settlements".into(),
        base_model: sha256(&[b"bench weights"]),
        adapter: None,
        datanets: vec![],
        price_input_per_1k: Amount(1_000),
        price_output_per_1k: Amount(2_000),
        split: FeeSplit::DEFAULT,
    };
    commit_in_order(client, &[tx(owner, 0, Payload::Model(ModelOp::Register(Box::new(spec))))])?;
    let model = client
        .models()?
        .into_iter()
        .find(|m| m.spec.name == "bench-settlements")
        .map(|m| m.id)
        .ok_or_else(|| BenchError::Refused {
            count: 1,
            first: "the model did not register".into(),
        })?;
    let per_provider = RECEIPT_FEE.0 * u128::from(RECEIPTS_PER_SETTLEMENT) * settlements as u128;
    let mut setup = vec![tx(
        payer,
        0,
        Payload::Usage(UsageOp::Deposit { amount: Amount(per_provider * providers.len() as u128) }),
    )];
    for (i, p) in providers.iter().enumerate() {
        let bond = Amount(per_provider.max(1));
        setup.push(tx(p, 0, Payload::Usage(UsageOp::BondProvider { amount: bond })));
        let create = UsageOp::CreateApiKey {
            key_hash: api_key_hash(i),
            provider: Address::from_public_key(&p.public_key()),
            allowance: Amount(per_provider),
        };
        setup.push(tx(payer, 1 + i as u64, Payload::Usage(create)));
    }
    commit_in_order(client, &setup)?;
    Ok(model)
}

/// `per_provider` settlements of each provider, in receipt order (nonces from 1: the bond
/// took 0).
pub(super) fn sign(
    providers: &[PrivateKey],
    model: ModelId,
    per_provider: usize,
) -> Vec<Vec<SignedTx>> {
    providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (0..per_provider)
                .map(|s| {
                    let first = s as u64 * u64::from(RECEIPTS_PER_SETTLEMENT);
                    let leaves: Vec<SettledReceipt> = (first
                        ..first + u64::from(RECEIPTS_PER_SETTLEMENT))
                        .map(|number| SettledReceipt {
                            number,
                            id: sha256(&[&(i as u64).to_be_bytes(), &number.to_be_bytes()]),
                            key_hash: api_key_hash(i),
                            model,
                            prompt_tokens: 1,
                            completion_tokens: 1,
                            fee: RECEIPT_FEE,
                            credits: vec![],
                        })
                        .collect();
                    let root = root(&leaves).expect("a benchmark batch has a root");
                    let settlement = Settlement::from_root(first, root);
                    tx(p, 1 + s as u64, Payload::Usage(UsageOp::Settle(Box::new(settlement))))
                })
                .collect()
        })
        .collect()
}

/// `transfers` and the providers' `settlements` interleaved: one settlement after every
/// `every` transfers, each sender's transactions in order.
pub(super) fn interleave(
    transfers: Vec<SignedTx>,
    settlements: Vec<Vec<SignedTx>>,
    every: usize,
) -> Vec<SignedTx> {
    let mut queue: Vec<SignedTx> = Vec::new();
    let longest = settlements.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..longest {
        for s in &settlements {
            if let Some(tx) = s.get(round) {
                queue.push(tx.clone());
            }
        }
    }
    let mut out = Vec::with_capacity(transfers.len() + queue.len());
    let mut settlements = queue.into_iter();
    for (i, t) in transfers.into_iter().enumerate() {
        out.push(t);
        if (i + 1) % every.max(1) == 0
            && let Some(s) = settlements.next()
        {
            out.push(s);
        }
    }
    out.extend(settlements);
    out
}
