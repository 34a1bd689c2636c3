//! The supply audit: the recorded total supply against the sum of everything that holds value,
//! recomputed from the state's records. The state machine keeps the two equal after every block
//! (`total supply = genesis + minted − burned`, and every move is a move); this lets anyone, any
//! node operator or test, check it on a live chain.

use crate::{
    emission::{POOL_COMPUTE, POOL_DATA, POOL_SUBNETS, PROTECTION_FUND},
    state::{CorruptState, State},
};
use alx_types::Amount;

/// The supply as recorded, and as held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupplyAudit {
    /// The recorded total supply.
    pub supply: Amount,
    /// What accounts and the chain hold: balances, bonded and unbonding stake, contribution
    /// stakes, prepaid deposits and key allowances, provider bonds, claimable rewards, the treasury, the
    /// emission pools and funds, staking rewards not yet settled, and subnets' pending emission.
    pub held: Amount,
    /// Minted by emission so far.
    pub minted: Amount,
}

impl SupplyAudit {
    /// True if nothing was created or lost.
    #[must_use]
    pub fn balanced(&self) -> bool {
        self.supply == self.held
    }
}

impl State {
    /// Recomputes what is held (reads every account: O(accounts)).
    pub fn audit_supply(&self) -> Result<SupplyAudit, CorruptState> {
        let overflow = || CorruptState {
            key: "supply".into(),
            source: commonware_codec::Error::Invalid("audit", "sum overflows"),
        };
        let mut held = 0u128;
        let mut add = |a: Amount| -> Result<(), CorruptState> {
            held = held.checked_add(a.0).ok_or_else(overflow)?;
            Ok(())
        };
        add(self.datanet_stake_locked()?)?;
        add(self.subnet_pending_total()?)?;
        add(self.prepaid_total()?)?;
        add(self.provider_bonds_total()?)?;
        add(self.dispute_bonds_total()?)?;
        add(self.demand_bonds_total()?)?;
        add(self.claimable_total()?)?;
        add(self.treasury()?)?;
        add(self.amount_global(crate::staking_pools::STAKING_POOL)?)?;
        for name in [POOL_SUBNETS, POOL_DATA, POOL_COMPUTE, PROTECTION_FUND] {
            add(self.amount_global(name)?)?;
        }
        for entry in self.accounts() {
            let (_, a) = entry?;
            add(a.balance)?;
            add(a.bonded)?;
            add(a.unbonding)?;
        }
        Ok(SupplyAudit { supply: self.supply()?, held: Amount(held), minted: self.minted()? })
    }
}
