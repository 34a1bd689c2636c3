//! Bounds on what the crate accepts. They keep every fixed-point sum far from overflow, so
//! saturating and plain arithmetic agree and no input can panic or wrap.

/// Most uids a subnet may have. Subtensor caps subnets at 256; 4096 leaves room while keeping
/// a row sum of raw `u16` weights (`4096 · 65535 < 2^31`) inside `I32F32`.
pub const UIDS_MAX: usize = 4096;

/// Most entries in one weight or bond row: one per uid.
pub const ROW_LEN_MAX: usize = UIDS_MAX;

/// Largest `bonds_moving_average` (millionths): beyond 10^6 the EMA rate would be negative.
pub const BONDS_MOVING_AVERAGE_MAX: u64 = 1_000_000;

/// Largest total stake: the stake vector is summed in `I64F64`, whose integer part is an `i64`.
pub const STAKE_TOTAL_MAX: u64 = i64::MAX as u64;
