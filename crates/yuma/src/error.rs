//! Why a subnet state, a parameter set or an operation was refused.

/// A refused input. Nothing is changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YumaError {
    /// The subnet has more uids than [`crate::limits::UIDS_MAX`].
    #[error("n = {n} exceeds the limit of {max} uids")]
    TooManyUids {
        /// The size asked for.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// A per-uid list does not have one entry per uid.
    #[error("{field} has {len} entries, but n = {n}")]
    LengthMismatch {
        /// The list.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The subnet size.
        n: usize,
    },
    /// A uid (a row key, a destination or an operation's target) is not below n.
    #[error("{field}: uid {uid} is out of range (n = {n})")]
    UidOutOfRange {
        /// Where the uid appeared.
        field: &'static str,
        /// The uid.
        uid: u64,
        /// The subnet size.
        n: usize,
    },
    /// The same uid appears twice where each may appear once.
    #[error("{field}: uid {uid} appears more than once")]
    DuplicateUid {
        /// Where the uid appeared.
        field: &'static str,
        /// The uid.
        uid: u16,
    },
    /// The stakes add up to more than [`crate::limits::STAKE_TOTAL_MAX`].
    #[error("total stake exceeds {max}")]
    StakeTooLarge {
        /// The limit.
        max: u64,
    },
    /// A parameter is outside the range the epoch is defined on.
    #[error("{field} = {value} is out of range (max {max})")]
    ParamOutOfRange {
        /// The parameter.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A block number would overflow.
    #[error("block number overflows u64")]
    BlockOverflow,
}
