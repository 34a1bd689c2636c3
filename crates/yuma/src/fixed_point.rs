//! The fixed-point conventions of subtensor's epoch, on top of `substrate_fixed`.
//!
//! Subtensor stores proportions as `u16` (x / 65535) and computes in `I32F32`. The helpers here
//! are the conversions and the guarded operations the epoch is built from; each one names the
//! rounding it performs, because bit-identity depends on it:
//!
//! - multiplication is `(a·b) >> 32`, an arithmetic shift (floor);
//! - division is `(a << 32) / b`, truncating toward zero; [`div`] returns 0 when the quotient
//!   does not exist (division by zero) or does not fit (overflow), as subtensor's `safe_div`;
//! - conversion to an integer truncates; conversion to a type with fewer fraction bits floors.

use substrate_fixed::{
    transcendental,
    types::{I32F32, I64F64},
};

/// The denominator of every `u16` proportion: 65535 stands for 1.
pub(crate) const U16_ONE: u16 = u16::MAX;

/// Zero in the epoch's working type.
pub(crate) const ZERO: I32F32 = I32F32::from_bits(0);

/// One in the epoch's working type.
pub(crate) const ONE: I32F32 = I32F32::from_bits(1 << 32);

/// `a / b`, or 0 when the quotient does not exist or does not fit (subtensor's `safe_div`).
pub(crate) fn div(a: I32F32, b: I32F32) -> I32F32 {
    a.checked_div(b).unwrap_or(ZERO)
}

/// `a / b` in `I64F64`, or 0 when the quotient does not exist or does not fit.
pub(crate) fn div64(a: I64F64, b: I64F64) -> I64F64 {
    a.checked_div(b).unwrap_or(I64F64::from_bits(0))
}

/// A stored proportion `x / 65535` as a fixed-point number.
pub(crate) fn from_u16_proportion(x: u16) -> I32F32 {
    div(I32F32::saturating_from_num(x), I32F32::saturating_from_num(U16_ONE))
}

/// A fixed-point proportion as stored: `floor(x · 65535)`, saturated to `0..=65535`.
pub fn to_u16_proportion(x: I32F32) -> u16 {
    x.saturating_mul(I32F32::saturating_from_num(U16_ONE)).saturating_to_num::<u16>()
}

/// `e^x` with the input clamped to `[-20, 20]`; an overflowing result saturates.
pub(crate) fn exp_clamped(x: I32F32) -> I32F32 {
    let bound = I32F32::saturating_from_num(20);
    let clamped = if x < -bound {
        -bound
    } else if bound < x {
        bound
    } else {
        x
    };
    match transcendental::exp::<I32F32, I32F32>(clamped) {
        Ok(value) => value,
        Err(()) if clamped <= ZERO => ZERO,
        Err(()) => I32F32::max_value(),
    }
}

/// Sum of a slice. Saturating, which equals subtensor's plain sum for every input the crate
/// accepts (the bounds in [`crate::limits`] keep every sum far from overflow).
pub(crate) fn sum(values: &[I32F32]) -> I32F32 {
    values.iter().fold(ZERO, |acc, v| acc.saturating_add(*v))
}

/// Divides every element by the slice's sum, unless the sum is 0 (then nothing changes).
pub(crate) fn normalize(values: &mut [I32F32]) {
    let total = sum(values);
    normalize_by(values, total);
}

/// Divides every element by `total`, unless `total` is 0.
pub(crate) fn normalize_by(values: &mut [I32F32], total: I32F32) {
    if total == ZERO {
        return;
    }
    for v in values {
        *v = div(*v, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_round_down() {
        assert_eq!(from_u16_proportion(65535), ONE);
        assert_eq!(to_u16_proportion(ONE), 65535);
        assert_eq!(to_u16_proportion(from_u16_proportion(32767)), 32766);
        assert_eq!(to_u16_proportion(I32F32::from_bits(-1)), 0);
        assert_eq!(to_u16_proportion(I32F32::saturating_from_num(3)), 65535);
    }

    #[test]
    fn division_by_zero_is_zero() {
        assert_eq!(div(ONE, ZERO), ZERO);
        assert_eq!(div(I32F32::max_value(), I32F32::from_bits(1)), ZERO);
        assert_eq!(div64(I64F64::from_num(1), I64F64::from_num(0)), I64F64::from_num(0));
    }

    #[test]
    fn exp_is_clamped() {
        assert_eq!(exp_clamped(ZERO), ONE);
        assert_eq!(
            exp_clamped(I32F32::saturating_from_num(100)),
            exp_clamped(I32F32::saturating_from_num(20))
        );
        assert_eq!(
            exp_clamped(I32F32::saturating_from_num(-100)),
            exp_clamped(I32F32::saturating_from_num(-20))
        );
    }

    #[test]
    fn one_tenth_normalizes_below_one_tenth() {
        // test_10_graph: 1/10 normalized is 0.0999999999767, so 1e9 base units pay 99_999_999.
        let mut v = vec![ONE; 10];
        normalize(&mut v);
        assert_eq!(v[0].to_bits(), 429_496_729);
    }
}
