//! The hyperparameters of one subnet's epoch, with subtensor's defaults.

use crate::{YumaError, limits};

/// Epoch hyperparameters, as subtensor stores them (raw integers; the epoch derives the
/// fixed-point values itself so the rounding is the chain's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Yuma3 bonds (absolute proportions) instead of the legacy stake-weighted bonds.
    pub yuma3: bool,
    /// Per-entry EMA rates from a sigmoid (Yuma3 mode only; ignored by the legacy mode).
    pub liquid_alpha: bool,
    /// Consensus majority κ, as `kappa / 65535`.
    pub kappa: u16,
    /// β: how far bonds follow clipped rather than raw weights, as `β / 65535`.
    pub bonds_penalty: u16,
    /// Bond EMA memory in millionths: the fixed rate is `1 − bma / 10^6`.
    pub bonds_moving_average: u64,
    /// Lower bound of the liquid EMA rate, as `x / 65535`.
    pub alpha_low: u16,
    /// Upper bound of the liquid EMA rate, as `x / 65535`.
    pub alpha_high: u16,
    /// Sigmoid steepness of liquid alpha; the slope is `steepness / 100`.
    pub alpha_sigmoid_steepness: i16,
    /// Stake (base units) below which a uid's stake counts as 0 (the owner is exempt).
    pub stake_threshold: u64,
    /// Blocks between epochs; used for the bond mask before the first epoch.
    pub tempo: u16,
    /// A validator whose last weights are older than this many blocks is inactive.
    pub activity_cutoff_blocks: u64,
    /// Size of the validator permit set.
    pub max_allowed_validators: u16,
    /// Lets [`crate::SubnetState::reset_bonds`] remove the bonds pointing at a uid.
    pub bonds_reset_enabled: bool,
}

impl Params {
    /// Subtensor's storage defaults with the production runtime's initial values (snapshot
    /// `14bc6f9f`): legacy bonds, liquid alpha off, κ = 32767, β = 65535, bma = 900_000,
    /// α ∈ [45875, 58982], steepness 1000, threshold 0, tempo 360, cutoff
    /// `max(1, 13_889 · 360 / 1000) = 5000`, 128 validators, bonds reset off.
    ///
    /// Subnets created on chain today differ: `init_new_network` turns Yuma3 on and sets 64
    /// validators.
    pub const fn subtensor_defaults() -> Self {
        Self {
            yuma3: false,
            liquid_alpha: false,
            kappa: 32_767,
            bonds_penalty: u16::MAX,
            bonds_moving_average: 900_000,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
            stake_threshold: 0,
            tempo: 360,
            activity_cutoff_blocks: 5000,
            max_allowed_validators: 128,
            bonds_reset_enabled: false,
        }
    }

    /// Checks the ranges the epoch is defined on.
    pub fn validate(&self) -> Result<(), YumaError> {
        if self.bonds_moving_average > limits::BONDS_MOVING_AVERAGE_MAX {
            return Err(YumaError::ParamOutOfRange {
                field: "bonds_moving_average",
                value: self.bonds_moving_average,
                max: limits::BONDS_MOVING_AVERAGE_MAX,
            });
        }
        Ok(())
    }
}

impl Default for Params {
    /// [`Params::subtensor_defaults`].
    fn default() -> Self {
        Self::subtensor_defaults()
    }
}

/// Subtensor's activity cutoff for a tempo: `max(1, floor(13_889 · tempo / 1000))`.
pub const fn activity_cutoff_for_tempo(tempo: u16) -> u64 {
    let blocks = 13_889 * tempo as u64 / 1000;
    if blocks == 0 { 1 } else { blocks }
}
