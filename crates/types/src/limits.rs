//! Protocol limits. They affect consensus (a block that breaks one is invalid on every node),
//! so they are constants, never configuration.

/// Longest chain id, in bytes.
pub const CHAIN_ID_LEN_MAX: usize = 32;
/// Largest encoded signed transaction, in bytes (a full settlement batch is the largest),
/// challenges aside.
pub const TX_SIZE_MAX: usize = 8192;
/// Largest encoded challenge or dispute transaction: evidence opens up to a tree's depth of
/// nodes, each with totals of up to a settlement's size, and a dispute also carries the signed
/// receipt (up to 60 KiB), so that no settlement is too large to challenge.
pub const CHALLENGE_TX_SIZE_MAX: usize = 128 << 10;
/// Most transactions in one block.
pub const BLOCK_TXS_MAX: usize = 8192;
/// Largest encoded block, in bytes (header plus transactions).
pub const BLOCK_SIZE_MAX: usize = 4 << 20;
/// Blocks between an unbond and the moment its amount becomes spendable again.
pub const UNBONDING_PERIOD_BLOCKS: u64 = 1000;
/// Most validators in the active set.
pub const VALIDATORS_ACTIVE_MAX: usize = 100;
/// Most unbonding entries one account may have pending at once (bounds the per-block work of
/// maturing them).
pub const UNBONDINGS_PER_ACCOUNT_MAX: usize = 32;
/// Most accounts in a genesis file.
pub const GENESIS_ACCOUNTS_MAX: usize = 100_000;
/// Locked by every subnet creation: 100 ALX, recycled into the new subnet's emission (the
/// supply is unchanged). It makes names and the subnet cap costly to squat.
pub const SUBNET_CREATION_LOCK: crate::Amount =
    crate::Amount(100 * crate::amount::BASE_UNITS_PER_ALX);
/// Most subnets on chain (bounds the per-block work of sharing emission and running epochs).
pub const SUBNETS_MAX: u64 = 128;
