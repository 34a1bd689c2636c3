//! Which addresses a transaction touches: its sender, and every address its payload names (a
//! transfer's recipient, the validator a bond goes to, a model's new owner…).

use alx_types::{Address, Payload, SignedTx, api::PayloadJson};
use serde_json::Value;

/// The sender first, then the payload's addresses in the order its JSON names them, each
/// once.
#[must_use]
pub fn addresses_touched(signed: &SignedTx) -> Vec<Address> {
    let sender = signed.tx.sender;
    // Transfers are most of a busy chain's transactions, and the JSON walk below costs more
    // than the rest of indexing one: they take the direct path (the same answer, tested).
    if let Payload::Transfer { to, .. } = &signed.tx.payload {
        return if *to == sender { vec![sender] } else { vec![sender, *to] };
    }
    let mut out = vec![sender];
    // The payload's JSON names every address it holds as `alx1…` text, whatever its kind: one
    // walk covers every kind, today's and future ones.
    let payload = serde_json::to_value(PayloadJson::from(&signed.tx.payload)).unwrap_or_default();
    collect(&payload, &mut out);
    out
}

/// The JSON walk alone, whatever the payload's kind (the direct paths are checked against
/// it).
#[cfg(test)]
fn addresses_named_in_json(signed: &SignedTx) -> Vec<Address> {
    let mut out = vec![signed.tx.sender];
    let payload = serde_json::to_value(PayloadJson::from(&signed.tx.payload)).unwrap_or_default();
    collect(&payload, &mut out);
    out
}

fn collect(value: &Value, out: &mut Vec<Address>) {
    match value {
        Value::String(text) if text.starts_with("alx1") => {
            if let Ok(address) = text.parse::<Address>()
                && !out.contains(&address)
            {
                out.push(address);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::{Amount, Transaction};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    #[test]
    fn transfers_take_the_direct_path_to_the_same_answer() {
        let key = PrivateKey::from_seed(1);
        let sender = Address::from_public_key(&key.public_key());
        let other = Address::from_public_key(&PrivateKey::from_seed(2).public_key());
        for to in [other, sender] {
            let signed = Transaction {
                chain_id: "alx-test".parse().unwrap(),
                sender,
                nonce: 0,
                fee: Amount(1),
                payload: Payload::Transfer { to, amount: Amount(5) },
            }
            .sign(&key);
            assert_eq!(addresses_touched(&signed), addresses_named_in_json(&signed));
        }
    }
}
