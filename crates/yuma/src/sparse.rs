//! Sparse matrices as the epoch sees them: one row per uid, each row a list of
//! `(column, value)` in stored order.
//!
//! Row order is part of the state. Sums are order-independent (no operation here overflows on
//! accepted input), but the liquid-alpha scan in [`crate::bonds`] walks rows as if they were
//! sorted by column, exactly as subtensor does, so rows are never re-sorted behind its back.
//! Operations that densify a row emit it in column order; all others keep the input order.

use crate::fixed_point::{Divisor, ZERO, mul};
use std::borrow::Cow;
use substrate_fixed::types::I32F32;

/// Rows of `(column, value)`.
pub(crate) type Sparse = Vec<Vec<(u16, I32F32)>>;

/// A row from an iterator of at most `capacity` entries, allocated once (a filtered
/// iterator's `collect` would grow the row by doubling).
pub(crate) fn row_of(
    capacity: usize,
    entries: impl Iterator<Item = (u16, I32F32)>,
) -> Vec<(u16, I32F32)> {
    let mut row = Vec::with_capacity(capacity);
    row.extend(entries);
    row
}

/// A row's entries spread over `columns` cells; later duplicates overwrite earlier ones and
/// columns out of range are ignored.
pub(crate) fn densify(row: &[(u16, I32F32)], columns: usize) -> Vec<I32F32> {
    let mut dense = vec![ZERO; columns];
    for &(j, v) in row {
        if let Some(cell) = dense.get_mut(usize::from(j)) {
            *cell = v;
        }
    }
    dense
}

/// Sum of each row.
pub(crate) fn row_sums(m: &[Vec<(u16, I32F32)>]) -> Vec<I32F32> {
    m.iter().map(|row| row.iter().fold(ZERO, |acc, &(_, v)| acc.saturating_add(v))).collect()
}

/// Divides each row by its sum when the sum is positive.
pub(crate) fn normalize_rows(m: &mut Sparse) {
    for row in m.iter_mut() {
        let total = row.iter().fold(ZERO, |acc, &(_, v)| acc.saturating_add(v));
        if total > ZERO {
            let by = Divisor::new(total);
            for (_, v) in row.iter_mut() {
                *v = by.divide(*v);
            }
        }
    }
}

/// Per-column reduction of every entry, for columns below `columns`.
fn column_fold(
    m: &[Vec<(u16, I32F32)>],
    columns: usize,
    f: impl Fn(I32F32, I32F32) -> I32F32,
) -> Vec<I32F32> {
    let mut acc = vec![ZERO; columns];
    for &(j, v) in m.iter().flatten() {
        if let Some(cell) = acc.get_mut(usize::from(j)) {
            *cell = f(*cell, v);
        }
    }
    acc
}

/// Each column's sum, prepared for dividing by it.
pub(crate) fn column_divisors(m: &[Vec<(u16, I32F32)>], columns: usize) -> Vec<Divisor> {
    column_fold(m, columns, I32F32::saturating_add).into_iter().map(Divisor::new).collect()
}

/// An entry of column `j` divided by the column's divisor in `by`, unchanged where that
/// divisor is 0: one entry of [`normalize_columns`] (or [`max_upscale_columns`]).
pub(crate) fn normalized(by: &[Divisor], j: u16, v: I32F32) -> I32F32 {
    match by.get(usize::from(j)) {
        Some(d) if d.by() != ZERO => d.divide(v),
        _ => v,
    }
}

/// Divides every entry by its column's divisor in `by`, where that divisor is non-zero.
fn divide_columns(m: &mut Sparse, by: &[Divisor]) {
    for (j, v) in m.iter_mut().flatten() {
        *v = normalized(by, *j, *v);
    }
}

/// Divides each column by its sum (columns summing to 0 stay as they are).
pub(crate) fn normalize_columns(m: &mut Sparse, columns: usize) {
    let sums = column_divisors(m, columns);
    divide_columns(m, &sums);
}

/// Divides each column by its largest entry, so every non-zero column peaks at 1.
pub(crate) fn max_upscale_columns(m: &mut Sparse, columns: usize) {
    let maxima = column_fold(m, columns, |a, b| if a < b { b } else { a });
    let maxima: Vec<Divisor> = maxima.into_iter().map(Divisor::new).collect();
    divide_columns(m, &maxima);
}

/// Caps each entry at its column's consensus; an entry above a consensus of 0 or less is
/// removed instead of kept as 0.
pub(crate) fn clip_columns(m: &[Vec<(u16, I32F32)>], cap: &[I32F32]) -> Sparse {
    m.iter()
        .map(|row| {
            row_of(
                row.len(),
                row.iter().filter_map(|&(j, v)| {
                    let c = cap.get(usize::from(j)).copied().unwrap_or(ZERO);
                    // Whether an entry is above its consensus is a coin flip: `min` is
                    // branch-free, and the rare zero consensus is tested first.
                    if c <= ZERO && c < v { None } else { Some((j, v.min(c))) }
                }),
            )
        })
        .collect()
}

/// `r_j = Σ_i s_i · m_ij` over `columns` columns, accumulated in row order.
pub(crate) fn weighted_column_sums(
    m: &[Vec<(u16, I32F32)>],
    s: &[I32F32],
    columns: usize,
) -> Vec<I32F32> {
    let mut out = vec![ZERO; columns];
    for (row, &scale) in m.iter().zip(s) {
        for &(j, v) in row {
            if let Some(cell) = out.get_mut(usize::from(j)) {
                *cell = cell.saturating_add(mul(scale, v));
            }
        }
    }
    out
}

/// `d_i = Σ_j m_ij · v_j`, one value per row.
pub(crate) fn row_dot(m: &[Vec<(u16, I32F32)>], v: &[I32F32]) -> Vec<I32F32> {
    m.iter()
        .map(|row| {
            row.iter().fold(ZERO, |acc, &(j, x)| {
                acc.saturating_add(mul(x, v.get(usize::from(j)).copied().unwrap_or(ZERO)))
            })
        })
        .collect()
}

/// `a + t·(b − a)` entry by entry. `t = 0` returns `a` and `t = 1` returns `b` untouched
/// (order kept); otherwise rows are densified and only positive results are kept.
pub(crate) fn interpolate<'m>(
    a: &'m [Vec<(u16, I32F32)>],
    b: &'m [Vec<(u16, I32F32)>],
    columns: usize,
    t: I32F32,
) -> Cow<'m, [Vec<(u16, I32F32)>]> {
    if t == ZERO {
        return Cow::Borrowed(a);
    }
    if t == crate::fixed_point::ONE {
        return Cow::Borrowed(b);
    }
    let rows = a
        .iter()
        .zip(b)
        .map(|(ra, rb)| {
            if ra.is_empty() && rb.is_empty() {
                return Vec::new();
            }
            let (da, db) = (densify(ra, columns), densify(rb, columns));
            row_of(
                columns,
                da.iter().zip(&db).enumerate().filter_map(|(j, (&x, &y))| {
                    let v = x.saturating_add(mul(t, y.saturating_sub(x)));
                    (v > ZERO).then_some((column(j), v))
                }),
            )
        })
        .collect();
    Cow::Owned(rows)
}

/// A dense column index back to a sparse one. Columns never exceed `limits::UIDS_MAX`.
pub(crate) fn column(j: usize) -> u16 {
    u16::try_from(j).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(v: f64) -> I32F32 {
        I32F32::from_num(v)
    }

    #[test]
    fn clip_drops_entries_above_a_zero_consensus() {
        let m = vec![vec![(0, fx(0.5)), (1, fx(0.5)), (2, fx(0.1))]];
        let c = vec![fx(0.25), ZERO, fx(0.5)];
        assert_eq!(clip_columns(&m, &c), vec![vec![(0, fx(0.25)), (2, fx(0.1))]]);
    }

    #[test]
    fn interpolate_keeps_order_at_the_ends_and_densifies_between() {
        let a = vec![vec![(2, fx(1.0)), (0, fx(0.5))]];
        let b = vec![vec![(2, fx(0.5))]];
        assert_eq!(*interpolate(&a, &b, 3, ZERO), a);
        assert_eq!(*interpolate(&a, &b, 3, crate::fixed_point::ONE), b);
        assert_eq!(*interpolate(&a, &b, 3, fx(0.5)), vec![vec![(0, fx(0.25)), (2, fx(0.75))]]);
    }

    #[test]
    fn columns_normalize_and_upscale() {
        let mut m = vec![vec![(0, fx(1.0)), (1, fx(2.0))], vec![(0, fx(3.0))]];
        normalize_columns(&mut m, 2);
        assert_eq!(m, vec![vec![(0, fx(0.25)), (1, fx(1.0))], vec![(0, fx(0.75))]]);
        max_upscale_columns(&mut m, 2);
        assert_eq!(m[0][0].1, crate::fixed_point::div(fx(0.25), fx(0.75)));
        assert_eq!(m[1][0].1, fx(1.0));
    }
}
