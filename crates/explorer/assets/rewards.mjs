// Where an account's rewards came from: every earning the chain recorded with its source
// (data credits per datanet, owner and provider shares, staking, commission, subnet emission,
// emission pools, reporters' shares), its delegations with what each accrued, and the last
// epochs one by one; for a validator, its stake and commission (its unpaid commission too).

import { account, alx, bps, el, facts, link, table } from './ui.mjs';

const NAMES = {
  data_credits: 'data credits', datanet_owner: 'datanet owner (unattributed data share)',
  datanet_fees: 'contribution fees', model_owner: 'model owner', provider: 'serving provider',
  staking: 'staking', commission: 'validator commission', subnet_incentive: 'subnet incentive',
  subnet_dividends: 'subnet dividends', subnet_owner: 'subnet owner', data_pool: 'data emission pool',
  compute_pool: 'compute emission pool', reporter: 'evidence reported',
};

/** What a source names, linked: a datanet, a model, a subnet or a validator. */
function subject(line) {
  if (line.datanet !== undefined) return link(`#/datanet/${line.datanet}`, `datanet ${line.datanet}`);
  if (line.model !== undefined) return link(`#/model/${line.model}`, `model ${line.model}`);
  if (line.subnet !== undefined) return link(`#/subnet/${line.subnet}`, `subnet ${line.subnet}`);
  if (line.validator !== undefined) return account(line.validator);
  return '—';
}

const sourceName = (line) => NAMES[line.source] ?? line.source;

/** Sources paid only to the balance (the chain's `RewardSource::paid_to_balance`). */
const TO_BALANCE = new Set(['datanet_fees', 'provider', 'subnet_incentive', 'subnet_dividends',
  'subnet_owner', 'reporter']);

/** The rewards sections of an account's page (nothing when it never earned or delegated). */
export function rewardSections(r) {
  if (!r || (r.sources.length === 0 && r.delegations.length === 0)) return [];
  const sections = [];
  if (r.sources.length > 0) {
    sections.push(el('h2', {}, 'Rewards by source'),
      el('p', {}, 'Claimable sources pay into claimable rewards (claim them with ',
        el('code', {}, 'alx rewards claim'), '); the others were paid straight to the balance.'),
      table('Rewards by source', ['source', 'from', 'earned', 'claimable'],
        r.sources.map((l) => [sourceName(l), subject(l), alx(l.earned),
          TO_BALANCE.has(l.source) ? '—' : alx(l.claimable)])));
  }
  if (r.delegations.length > 0) {
    sections.push(el('h2', {}, 'Delegations'),
      table('Delegations', ['validator', 'stake', 'accrued, paid at the next claim'],
        r.delegations.map((d) => [account(d.validator), alx(d.stake), alx(d.accrued)])));
  }
  if (r.epochs.length > 0) {
    sections.push(el('h2', {}, 'Rewards per epoch'),
      el('p', {}, 'The chain keeps the last 64 epochs; staking counts in the epoch it was settled.'),
      table('Rewards per epoch', ['epoch', 'source', 'from', 'amount'],
        [...r.epochs].reverse().map((e) => [e.epoch, sourceName(e), subject(e), alx(e.amount)])));
  }
  return sections;
}

/** A validator's section of its account page: stake, activity, commission and an announced
 * change (nothing for an account that is not a registered validator). */
export function validatorSection(v) {
  if (!v) return [];
  const pending = v.pending_commission
    ? `${bps(v.pending_commission.bps)} from epoch ${v.pending_commission.from_epoch}` : 'none';
  return [
    el('h2', {}, 'Validator'),
    facts([
      ['stake', alx(v.stake)], ['its own stake', alx(v.self_stake)],
      ['active this epoch', v.active ? 'yes' : 'no'],
      ['commission', `${bps(v.commission_bps)} in epoch ${v.epoch}`],
      ['announced change', pending], ['commission not yet paid', alx(v.commission_unpaid)],
    ]),
  ];
}
