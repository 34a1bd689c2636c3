//! Integration tests of the state machine: genesis, every transaction kind, every failure code,
//! and property tests of supply conservation and nonce monotonicity.

mod availability;
mod challenges;
mod datanets;
mod disputes;
mod emission;
mod properties;
mod scenarios;
mod self_dealing;
mod staking;
mod subnet_evals;
mod subnet_properties;
mod subnet_refusals;
mod subnets;
mod usage;
mod weak_keys;

use alx_state::{BlockContext, Genesis, GenesisAccount, GenesisValidator, Params, State};
use alx_types::{Address, Amount, SignedTx, Transaction, block::Height, tx::Payload};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

pub(crate) const MIN_FEE: u128 = 10;

pub(crate) fn key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(i)
}

pub(crate) fn addr(i: u64) -> Address {
    Address::from_public_key(&key(i).public_key())
}

/// Accounts 0..4 funded with 1,000,000 base units; account 0 is the validator (stake 5000).
pub(crate) fn genesis() -> Genesis {
    Genesis {
        chain_id: "alx-test".parse().unwrap(),
        params: Params { min_fee: Amount(MIN_FEE), epoch_length: 5, validators_max: 4 },
        accounts: (0..4)
            .map(|i| GenesisAccount { address: addr(i), balance: Amount(1_000_000) })
            .collect(),
        validators: vec![GenesisValidator {
            address: addr(0),
            stake: Amount(5000),
            p2p_addr: "127.0.0.1:1".parse().unwrap(),
        }],
        emission: None,
        providers: [0, 1]
            .map(|i| alx_state::GenesisProvider { address: addr(i), bond: Amount(1 << 80) })
            .to_vec(),
    }
}

/// A registration with a dialable address.
pub(crate) fn register() -> Payload {
    Payload::RegisterValidator { p2p_addr: "127.0.0.1:7701".parse().unwrap() }
}

pub(crate) fn tx(from: u64, nonce: u64, fee: u128, payload: Payload) -> SignedTx {
    Transaction {
        chain_id: "alx-test".parse().unwrap(),
        sender: addr(from),
        nonce,
        fee: Amount(fee),
        payload,
    }
    .sign(&key(from))
}

/// Executes a block at the next height with valid signatures (as checked by `verify_signature`).
pub(crate) fn run(state: &mut State, txs: &[SignedTx]) -> Vec<alx_types::Receipt> {
    let height = state.height().unwrap().next();
    let sigs: Vec<bool> = txs.iter().map(SignedTx::verify_signature).collect();
    let ctx = BlockContext { height, proposer: addr(0) };
    state.execute_block(&ctx, txs, &sigs).unwrap().receipts
}

/// Sum of every balance, bonded and unbonding amount, and what the chain holds: contribution
/// stakes, deposits, rewards, treasury, pools, and the subnets' pending emission.
pub(crate) fn total_held(state: &State) -> u128 {
    let audit = state.audit_supply().unwrap();
    audit.held.0
}

#[allow(dead_code)]
pub(crate) fn height(state: &State) -> Height {
    state.height().unwrap()
}

/// A report that contribution `id` of `datanet` is held: its text hash stands in for the
/// normalized text (distinct per content), nothing of it was held before.
pub(crate) fn held(
    state: &State,
    datanet: alx_types::datanet::DatanetId,
    id: alx_types::datanet::ContributionId,
) -> alx_types::availability::DataReport {
    let c = state.contribution(datanet, id).unwrap().expect("the contribution exists");
    alx_types::availability::DataReport {
        datanet,
        contribution: id,
        verdict: alx_types::availability::DataVerdict::Held {
            text_hash: alx_types::hash::sha256(&[b"text", &c.content.hash.0]),
            coverage_bps: 0,
            covered_by: None,
            against_version: c.base_version,
        },
    }
}

/// The validator's (account 0's) `Attest` of `reports`.
pub(crate) fn attest(reports: Vec<alx_types::availability::DataReport>) -> Payload {
    Payload::Datanet(alx_types::datanet::DatanetOp::Attest { reports })
}

/// A settlement of `receipts` receipts from `first` whose root commits to these charges and
/// credits (zero amounts dropped, each list sorted), over made-up children: what the chain
/// checks of a root, without the leaves it cannot see.
pub(crate) fn committed(
    first: u64,
    receipts: u32,
    mut charges: Vec<alx_types::usage::Charge>,
    mut credits: Vec<alx_types::usage::Credit>,
) -> alx_types::usage::Settlement {
    use alx_types::settled::{Root, Totals, node_digest};
    charges.retain(|c| !c.amount.is_zero());
    charges.sort_by_key(|c| (c.key_hash, c.model));
    credits.retain(|c| !c.amount.is_zero());
    credits.sort_by_key(|c| (c.model, c.datanet, c.contribution));
    let totals = Totals {
        receipts: u64::from(receipts),
        prompt_tokens: 0,
        completion_tokens: 0,
        charges,
        credits,
    };
    let children = [alx_types::hash::sha256(&[b"left"]), alx_types::hash::sha256(&[b"right"])];
    let digest = node_digest(&children[0], &children[1], &totals);
    alx_types::usage::Settlement::from_root(first, Root { digest, children, totals })
}
