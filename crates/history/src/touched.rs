//! Which addresses a transaction touches: its sender, and every address its payload names (a
//! transfer's recipient, the validator a bond goes to, a model's new owner…).

use alx_types::{Address, SignedTx, api::PayloadJson};
use serde_json::Value;

/// The sender first, then the payload's addresses in the order its JSON names them, each
/// once.
#[must_use]
pub fn addresses_touched(signed: &SignedTx) -> Vec<Address> {
    let mut out = vec![signed.tx.sender];
    // The payload's JSON names every address it holds as `alx1…` text, whatever its kind: one
    // walk covers every kind, today's and future ones.
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
