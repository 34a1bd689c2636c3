//! The emission parameters fixed at genesis, and what one block mints and to whom.

use crate::{
    schedule::Schedule,
    split::{Allocation, Split, SubnetSplit},
};
use alx_types::{Amount, Height};
use serde::{Deserialize, Serialize};

/// Everything about emission that genesis fixes. Each part validates itself when built or
/// deserialized, so a value of this type is always valid. No `Default`: a chain chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionParams {
    /// How much each block mints.
    pub schedule: Schedule,
    /// How each block's emission is divided among the classes.
    pub split: Split,
    /// How each subnet's share is divided among its owner, miners and validators.
    pub subnet_split: SubnetSplit,
}

/// What one block mints and how it is divided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEmission {
    /// The block's emission.
    pub total: Amount,
    /// Its division by class; the parts sum to `total` exactly.
    pub allocation: Allocation,
}

impl EmissionParams {
    /// What the block at `height` mints, given `minted_so_far` by the blocks before it, and
    /// its division by class.
    #[must_use]
    pub fn block(&self, height: Height, minted_so_far: Amount) -> BlockEmission {
        let total = self.schedule.emission_at(height, minted_so_far);
        BlockEmission { total, allocation: self.split.split(total) }
    }
}
