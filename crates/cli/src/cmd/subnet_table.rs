//! Text tables of `alx subnet metagraph|epochs|weights` (with `--json`, the API's JSON instead).
//! Proportions are the chain's `u16` values shown as fractions of 65535.

use alx_types::subnet_api::{MetagraphJson, NeuronRole, SubnetEpochJson, WeightsRowJson};

/// `x / 65535` with four decimals (display only: the chain keeps the integer).
fn fraction(x: u16) -> String {
    format!("{:.4}", f64::from(x) / f64::from(u16::MAX))
}

/// `alx1abcdef…wxyz`: enough to tell accounts apart in a table.
pub(crate) fn short(address: &str) -> String {
    match (address.get(..10), address.len().checked_sub(4).and_then(|i| address.get(i..))) {
        (Some(head), Some(tail)) if address.len() > 16 => format!("{head}…{tail}"),
        _ => address.to_owned(),
    }
}

const fn role(kind: NeuronRole) -> &'static str {
    match kind {
        NeuronRole::Miner => "miner",
        NeuronRole::Validator => "validator",
    }
}

/// One row per uid: uid, kind, address, model, stake, permit, incentive, dividends, emission.
pub(crate) fn metagraph(m: &MetagraphJson) -> String {
    if m.neurons.is_empty() {
        return format!(
            "subnet {} has no uids yet (hint: alx subnet register-validator|register-miner {} …)",
            m.subnet, m.subnet
        );
    }
    let mut out = format!(
        "subnet {} at height {}\n{:>4}  {:<9}  {:<15}  {:>5}  {:>16}  {:<6}  {:>9}  {:>9}  {:>16}",
        m.subnet,
        m.height,
        "uid",
        "kind",
        "address",
        "model",
        "stake",
        "permit",
        "incentive",
        "dividends",
        "emission"
    );
    for n in &m.neurons {
        let model = n.model.map_or_else(|| "-".to_owned(), |id| id.to_string());
        out.push_str(&format!(
            "\n{:>4}  {:<9}  {:<15}  {:>5}  {:>16}  {:<6}  {:>9}  {:>9}  {:>16}",
            n.uid,
            role(n.kind),
            short(&n.address.to_string()),
            model,
            n.stake.to_string(),
            if n.validator_permit { "yes" } else { "no" },
            fraction(n.incentive),
            fraction(n.dividends),
            n.last_emission.to_string(),
        ));
    }
    out
}

/// One row per kept epoch: what the owner and the uids were paid.
pub(crate) fn epochs(subnet: &str, epochs: &[SubnetEpochJson]) -> String {
    if epochs.is_empty() {
        return format!("subnet {subnet} has run no epoch yet");
    }
    let mut out = format!(
        "{:>6}  {:>8}  {:>20}  {:>20}  {:>9}",
        "epoch", "block", "owner", "uids", "paid uids"
    );
    for e in epochs {
        let paid = e.emission.iter().filter(|a| a.0 > 0).count();
        out.push_str(&format!(
            "\n{:>6}  {:>8}  {:>20}  {:>20}  {paid:>9}",
            e.epoch,
            e.block,
            e.owner_emission.to_string(),
            e.total_emission.to_string()
        ));
    }
    out
}

/// A uid's revealed weights, with each one's share of the row.
pub(crate) fn weights(row: &WeightsRowJson) -> String {
    if row.weights.is_empty() {
        return format!("uid {} of subnet {} has revealed no weights", row.uid, row.subnet);
    }
    let total: u64 = row.weights.iter().map(|&(_, v)| u64::from(v)).sum();
    let mut out = format!("uid {} of subnet {} weights:", row.uid, row.subnet);
    for &(dest, value) in &row.weights {
        // Display only: the chain normalizes with integer math.
        let share = if total == 0 { 0.0 } else { 100.0 * value as f64 / total as f64 };
        out.push_str(&format!("\n  uid {dest:>4}  {value:>5}  ({share:.1}% of the row)"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fractions_and_short_addresses() {
        assert_eq!(super::fraction(u16::MAX), "1.0000");
        assert_eq!(super::fraction(0), "0.0000");
        assert_eq!(super::short("alx1qqqqqqqqqqqqqqqqqqqqwxyz"), "alx1qqqqqq…wxyz");
        assert_eq!(super::short("alx1short"), "alx1short");
    }
}
