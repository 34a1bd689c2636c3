//! Order statistics of timing samples: medians and percentiles, the figures every report
//! quotes. An empty sample set reads as 0 (nothing was measured, and the report says how many
//! samples there were).

/// The median of `xs` (the upper one of an even count), or 0 for no samples.
pub(crate) fn median(xs: Vec<f64>) -> f64 {
    let Some(len) = std::num::NonZeroUsize::new(xs.len()) else { return 0.0 };
    let xs = sorted(xs);
    xs[len.get() / 2]
}

/// The `p`th percentile of `xs` (nearest rank below, `p` in 0..=100), or 0 for no samples.
pub(crate) fn percentile(xs: Vec<f64>, p: usize) -> f64 {
    assert!(p <= 100, "percentile {p} is not in 0..=100");
    if xs.is_empty() {
        return 0.0;
    }
    let xs = sorted(xs);
    xs[(xs.len() - 1) * p / 100]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

#[cfg(test)]
mod tests {
    use super::{median, percentile};

    #[test]
    fn order_statistics() {
        let xs = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median(xs.clone()), 3.0);
        assert_eq!(median(vec![2.0, 1.0]), 2.0);
        assert_eq!(percentile(xs.clone(), 0), 1.0);
        assert_eq!(percentile(xs.clone(), 50), 3.0);
        assert_eq!(percentile(xs.clone(), 99), 4.0);
        assert_eq!(percentile(xs, 100), 5.0);
        assert_eq!(median(Vec::new()), 0.0);
        assert_eq!(percentile(Vec::new(), 99), 0.0);
    }
}
