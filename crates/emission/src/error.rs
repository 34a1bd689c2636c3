//! Why a schedule or a split was refused.

use alx_types::Amount;

/// A refused genesis parameter. Nothing is built when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmissionError {
    /// The cap is zero: the schedule could never mint anything.
    #[error("cap is zero")]
    ZeroCap,
    /// The cap is above [`crate::CAP_MAX`], which keeps every closed form inside `u128`.
    #[error("cap {cap} exceeds the limit of {max}")]
    CapTooLarge {
        /// The cap asked for.
        cap: Amount,
        /// The largest cap accepted.
        max: Amount,
    },
    /// A linear decay with zero blocks per day has no blocks to spread a day's amount over.
    #[error("blocks_per_day is zero")]
    ZeroBlocksPerDay,
    /// A halving every zero blocks is meaningless.
    #[error("interval_blocks is zero")]
    ZeroInterval,
    /// The first period's amount is zero: the schedule would never mint.
    #[error("{field} is zero")]
    ZeroInitial {
        /// The parameter.
        field: &'static str,
    },
    /// The first period alone would mint more than the cap, which is a misconfiguration.
    #[error("{field} = {initial} exceeds the cap {cap}")]
    InitialAboveCap {
        /// The parameter.
        field: &'static str,
        /// Its value.
        initial: Amount,
        /// The cap.
        cap: Amount,
    },
    /// A split's basis points do not add up to exactly 10_000.
    #[error("{split} basis points sum to {sum}, not 10000")]
    SplitSum {
        /// Which split ("emission" or "subnet").
        split: &'static str,
        /// The sum found.
        sum: u32,
    },
}
