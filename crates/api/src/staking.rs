//! `/api/accounts/{address}/rewards` and `/api/validators/{address}`: what an account earned,
//! explained by source and epoch, and a validator's stake and commission, read from the
//! committed state.

use crate::{ApiError, ApiState};
use alx_types::{
    model_api::RewardsJson,
    staking_api::{
        DelegationJson, PendingCommissionJson, RewardEpochJson, RewardLineJson, ValidatorJson,
    },
};
use axum::{
    Json,
    extract::{Path, State},
};

type ApiResult<T> = Result<Json<T>, ApiError>;

pub(crate) async fn rewards(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<RewardsJson> {
    let address = crate::parse_address(&address)?;
    let committed = s.chain.committed();
    let state = &committed.state;
    let r = state.rewards(&address)?;
    let sources = state
        .reward_sources(&address)?
        .into_iter()
        .map(|l| RewardLineJson { source: l.source, earned: l.earned, claimable: l.claimable })
        .collect();
    let delegations = state
        .staking_accrued(&address)?
        .into_iter()
        .map(|a| DelegationJson { validator: a.validator, stake: a.stake, accrued: a.owed })
        .collect();
    let epochs = state
        .reward_epochs(&address)?
        .into_iter()
        .map(|(epoch, source, amount)| RewardEpochJson { epoch, source, amount })
        .collect();
    Ok(Json(RewardsJson {
        address,
        claimable: r.claimable,
        earned: r.earned,
        prepaid: state.prepaid(&address)?,
        staking_accrued: state.staking_unsettled(&address)?,
        sources,
        delegations,
        commission_unpaid: state.staking_pool(&address)?.commission_unpaid,
        epochs,
    }))
}

pub(crate) async fn validator(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<ValidatorJson> {
    let address = crate::parse_address(&address)?;
    let committed = s.chain.committed();
    let state = &committed.state;
    let record = state
        .validator(&address)?
        .ok_or_else(|| ApiError::NotFound(format!("{address} is not a registered validator")))?;
    let pool = state.staking_pool(&address)?;
    // The epoch of the next block, as `/api/status` counts it.
    let epoch = committed.block.height().0.saturating_add(1) / state.params().epoch_length;
    let commission_bps = pool.commission_at(epoch);
    let pending_commission = (pool.pending_from > epoch)
        .then_some(PendingCommissionJson { bps: pool.pending_bps, from_epoch: pool.pending_from });
    Ok(Json(ValidatorJson {
        address,
        stake: record.stake,
        self_stake: state.delegation(&address, &address)?,
        active: state.active_set()?.contains(&address),
        registered_at: record.registered_at,
        commission_bps,
        pending_commission,
        commission_unpaid: pool.commission_unpaid,
        epoch,
    }))
}
