// The Alexandria explorer: one page over the node's JSON API, routed by the URL's hash.
// The DOM is built from text nodes only (el() in ui.mjs): nothing fetched is ever parsed as
// HTML. A number that could not be fetched is shown as unavailable, never as zero.

import {
  NotFound, account, alx, api, block, bps, el, facts, highlight, link, main, notFound, short, show, table,
} from './ui.mjs';
import { heatmap, lineChart, toAlx } from './charts.mjs';
import { accountHistory, contributionEarnings, contributionTimeline } from './history.mjs';
import { rewardSections, validatorSection } from './rewards.mjs';
import { accountProof, blockProof, txProof } from './verify.mjs';

const connection = document.getElementById('connection');

// ── pages ────────────────────────────────────────────────────────────────────────────────

let liveBlocks = null; // the network page's block table body, while it is shown

async function network() {
  const status = await api('/api/status');
  const latest = await api('/api/blocks/latest');
  const heights = [];
  for (let h = latest.header.height; h > 0 && heights.length < 10; h -= 1) heights.push(h);
  const blocks = await Promise.all(heights.map((h) => api(`/api/blocks/${h}`).catch(() => null)));
  const stakes = await Promise.all(status.validators.map((v) => api(`/api/accounts/${v}`).catch(() => null)));
  const body = el('tbody', {}, blocks.filter(Boolean).map((b) => blockRow(b.header)));
  const txs = el('tbody', {}, blocks.filter(Boolean).flatMap((b) => b.txs.map((t) => txRow(b.header.height, t)))
    .slice(0, RECENT_TXS));
  // Block time: the median interval between the recent blocks' timestamps.
  const stamps = blocks.filter(Boolean).map((b) => b.header.timestamp_ms);
  const gaps = stamps.slice(1).map((t, i) => stamps[i] - t).sort((a, b) => a - b);
  finality.length = 0;
  show('Network',
    facts([
      ['chain', status.chain_id],
      ['height', el('span', { id: 'height' }, status.height)],
      ['block time', gaps.length ? `${gaps[Math.floor(gaps.length / 2)]} ms (median of the last ${gaps.length + 1} blocks)` : 'not enough blocks yet'],
      ['finality, seen here', el('span', { id: 'finality', title: 'from a block\'s proposal timestamp to this page receiving it final (the clocks of the proposer and this computer may differ)' },
        'waiting for the next block…')],
      ['epoch', `${status.epoch} (every ${status.epoch_length} blocks)`],
      ['mempool', `${status.mempool_size} transactions`],
      ['node version', status.version],
    ]),
    el('h2', {}, 'Validators'),
    table('Validators', ['address', 'stake'], status.validators.map((v, i) =>
      [account(v), stakes[i] ? alx(stakes[i].account.bonded) : alx(null)])),
    el('h2', {}, 'Recent blocks'),
    el('div', { class: 'table' }, el('table', { id: 'blocks' },
      el('thead', {}, el('tr', {}, ['height', 'transactions', 'proposer', 'time'].map((h) => el('th', { scope: 'col' }, h)))),
      body)),
    el('h2', {}, 'Recent transactions'),
    el('div', { class: 'table' }, el('table', { id: 'txs' },
      el('thead', {}, el('tr', {}, ['block', 'hash', 'kind', 'sender', 'status'].map((h) => el('th', { scope: 'col' }, h)))),
      txs)));
  liveBlocks = body;
  liveTxs = txs;
}

/** Transactions the network page lists, and live finality samples (ms) it takes the median of. */
const RECENT_TXS = 10;
const FINALITY_SAMPLES = 20;
const finality = [];
let liveTxs = null;

function txRow(height, t) {
  return el('tr', {}, el('td', {}, block(height)), el('td', {}, link(`#/tx/${t.tx.hash}`, short(t.tx.hash))),
    el('td', {}, t.tx.payload.kind), el('td', {}, account(t.tx.sender)), el('td', {}, t.receipt.status));
}

function blockRow(header) {
  return el('tr', {}, el('td', {}, block(header.height)), el('td', {}, header.tx_count),
    el('td', {}, account(header.proposer)), el('td', {}, new Date(header.timestamp_ms).toLocaleTimeString()));
}

async function blockPage(id) {
  const b = await api(`/api/blocks/${encodeURIComponent(id)}`);
  const h = b.header;
  show(`Block ${h.height}`,
    facts([
      ['hash', h.hash, 'hash'], ['parent', h.parent, 'hash'], ['epoch', h.epoch], ['view', h.view],
      ['proposer', account(h.proposer)], ['time', new Date(h.timestamp_ms).toISOString()],
      ['state root', h.state_root, 'hash'], ['transactions root', h.tx_root, 'hash'],
    ]),
    el('p', {}, h.height > 1 ? link(`#/block/${h.height - 1}`, '← previous') : null, ' ',
      link(`#/block/${h.height + 1}`, 'next →')),
    el('h2', {}, 'Transactions'),
    table('Transactions', ['hash', 'kind', 'sender', 'status', 'fee'], b.txs.map((t) => [
      link(`#/tx/${t.tx.hash}`, short(t.tx.hash)), t.tx.payload.kind, account(t.tx.sender),
      t.receipt.status + (t.receipt.error ? ` (${t.receipt.error})` : ''), alx(t.receipt.fee_paid)])),
    blockProof(b, id));
}

async function txPage(hash) {
  const t = await api(`/api/txs/${encodeURIComponent(hash)}`);
  const tx = t.tx ?? t;
  const receipt = t.receipt ?? {};
  const rest = Object.entries(tx.payload).filter(([k]) => k !== 'kind');
  show(`Transaction ${short(tx.hash)}`,
    facts([
      ['hash', tx.hash, 'hash'], ['kind', tx.payload.kind], ['sender', account(tx.sender)],
      ['nonce', tx.nonce], ['fee offered', alx(tx.fee)], ['fee paid', alx(receipt.fee_paid)],
      ['status', receipt.status ?? 'unavailable'], ['error', receipt.error ?? 'none'],
      ['block', t.height !== undefined ? block(t.height) : 'unavailable'],
    ]),
    el('h2', {}, 'Payload'),
    facts(rest.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)])),
    txProof(t, hash));
}

async function accountPage(address) {
  // With its proof: the verify button checks the values shown, at the height they are from.
  const a = await api(`/api/accounts/${encodeURIComponent(address)}?proof=true`);
  const rewards = await api(`/api/accounts/${encodeURIComponent(address)}/rewards`).catch(() => null);
  const validator = await api(`/api/validators/${encodeURIComponent(address)}`).catch(() => null);
  show('Account',
    facts([
      ['address', a.address, 'hash'], ['balance', alx(a.account.balance)],
      ['bonded stake', alx(a.account.bonded)], ['unbonding', alx(a.account.unbonding)],
      ['next nonce', a.next_nonce],
      ['claimable rewards', alx(rewards?.claimable)],
      ['staking accrued', alx(rewards?.staking_accrued)], ['earned into claimable rewards', alx(rewards?.earned)],
      ['prepaid deposit', alx(rewards?.prepaid)], ['as of height', block(a.height)],
    ]),
    accountProof(a, address),
    ...validatorSection(validator),
    ...rewardSections(rewards),
    await accountHistory(a.address));
}

async function datanets() {
  const list = await api('/api/datanets');
  show('Datanets', table('Datanets', ['id', 'name', 'licence', 'contributions', 'version', 'owner'],
    list.map((d) => [d.id, link(`#/datanet/${d.id}`, d.name), d.license,
      `${d.approved} approved of ${d.contributions}`, d.version, account(d.owner)])));
}

async function datanetPage(id) {
  const d = await api(`/api/datanets/${encodeURIComponent(id)}`);
  const contributions = await api(`/api/datanets/${d.datanet.id}/contributions`);
  const n = d.datanet;
  show(`Datanet ${n.name}`,
    el('p', {}, n.description),
    facts([['id', n.id], ['owner', account(n.owner)], ['licence', n.license], ['policy', n.policy],
      ['tags', n.tags.join(', ') || 'none'], ['indexed version', d.indexed_version],
      ['approved bytes', n.approved_bytes]]),
    el('h2', {}, 'Versions'),
    table('Versions', ['version', 'Merkle root', 'contributions', 'bytes', 'published'],
      d.versions.map((v) => [v.version, el('span', { class: 'hash' }, v.root), v.contributions, v.bytes, block(v.published_at)])),
    el('h2', {}, 'Contributions'),
    table('Contributions', ['id', 'contributor', 'status', 'size', 'first version', 'earned'],
      contributions.map((c) => [link(`#/contribution/${n.id}/${c.id}`, c.id), account(c.contributor),
        c.status + (c.near_duplicate ? ' (near-duplicate)' : ''), `${c.size} B`, c.first_version || '—', alx(c.earned)])));
}

/** The most bytes of a contribution shown inline (larger ones are linked). */
const CONTENT_SHOWN_MAX = 65536;

async function contributionPage(arg) {
  const [d, id] = arg.split('/');
  const list = await api(`/api/datanets/${encodeURIComponent(d)}/contributions`);
  const c = list.find((x) => String(x.id) === id);
  if (!c) throw new NotFound(`contribution ${id} of datanet ${d}`);
  const coverage = await api(`/api/datanets/${d}/contributions/${c.id}/coverage`).catch(() => null);
  let content = el('p', {}, `${c.size} bytes: `, link(`/api/blobs/${c.hash}`, 'download'));
  if (c.size <= CONTENT_SHOWN_MAX) {
    const response = await fetch(`/api/blobs/${c.hash}`).catch(() => null);
    content = response?.ok
      ? el('pre', { class: 'content' }, new TextDecoder().decode(await response.arrayBuffer()))
      : el('p', { class: 'unknown' }, 'The content is not available from this node.');
  }
  show(`Contribution ${c.id} of datanet ${d}`,
    facts([
      ['datanet', link(`#/datanet/${d}`, d)], ['contributor', account(c.contributor)],
      ['status', c.status + (c.near_duplicate ? ' (flagged as a near-duplicate)' : '')],
      ['submitted at', block(c.submitted_at)],
      ['first version holding it', c.first_version || 'none yet'],
      ['earned', alx(c.earned)], ['stake locked', alx(c.stake)],
      ['content (BLAKE3)', c.hash, 'hash'], ['media type', c.media_type],
      ['already in earlier versions', coverage ? bps(coverage.bps) : el('span', { class: 'unknown' }, 'unavailable')],
    ]),
    await contributionTimeline(Number(d), c),
    await contributionEarnings(Number(d), c),
    el('h2', {}, 'Content'),
    content);
}

async function models() {
  const list = await api('/api/models');
  show('Models', table('Models', ['id', 'name', 'adapter', 'datanets', 'price in / out per 1k', 'owner'],
    list.map((m) => [m.id, link(`#/model/${m.id}`, m.name + (m.retired ? ' (retired)' : '')),
      m.adapter ? 'fine-tuned' : 'base', m.datanets.map((d) => `${d.datanet}@${d.version}`).join(', '),
      [alx(m.price_input_per_1k), ' / ', alx(m.price_output_per_1k)], account(m.owner)])));
}

async function modelPage(id) {
  const m = await api(`/api/models/${encodeURIComponent(id)}`);
  show(`Model ${m.name}`,
    facts([['id', m.id], ['owner', account(m.owner)], ['base model (BLAKE3)', m.base_model, 'hash'],
      ['adapter manifest', m.adapter ?? 'none (the base model with retrieval)', 'hash'],
      ['datanets', el('span', {}, m.datanets.map((d) => [link(`#/datanet/${d.datanet}`, `${d.datanet}@${d.version}`), ' ']))],
      ['price per 1k input tokens', alx(m.price_input_per_1k)], ['price per 1k output tokens', alx(m.price_output_per_1k)],
      ['registered at', block(m.registered_at)], ['retired', m.retired ? 'yes' : 'no']]),
    el('h2', {}, 'Fee split'),
    table('Fee split', ['data contributors', 'model owner', 'serving provider', 'protocol'],
      [[bps(m.split.data_bps), bps(m.split.owner_bps), bps(m.split.provider_bps), bps(m.split.protocol_bps)]]),
    el('h2', {}, 'Usage'),
    await modelUsage(m),
    m.retired ? null : tryIt(m));
}

/** Most settlements a model's page charts (the API's limit). */
const USAGE_MAX = 1000;

/** What settlements charged for a model over time: a chart and the totals. */
async function modelUsage(m) {
  let usage;
  try {
    usage = await api(`/api/models/${m.id}/usage?limit=${USAGE_MAX}`);
  } catch (e) {
    return el('p', { class: 'unknown' }, `Its usage is unavailable: ${e.message}.`);
  }
  const list = [...usage.settlements].reverse();
  if (list.length === 0) return el('p', { class: 'empty' }, `No request to it has been settled (up to block ${usage.indexed_height}).`);
  // The node answers with the latest 1,000 settlements at most: then the sums are theirs.
  const all = list.length < USAGE_MAX;
  const over = all ? 'in all' : `over the last ${list.length} settlements`;
  let sum = 0n;
  const total = list.map((f) => { sum += BigInt(f.fees); return toAlx(sum); });
  const start = all ? [[m.registered_at, 0]] : [];
  return [
    facts([[`fees charged ${over}`, alx(sum.toString())], ['settlements', all ? list.length : `${list.length} (the latest)`],
      ['API keys charged, by settlement', list.reduce((n, f) => n + f.api_keys, 0)]]),
    lineChart({
      id: 'usage', caption: `Fees charged for ${m.name} ${over}, by block (ALX, before the split)`,
      xLabel: 'block', yLabel: 'ALX', x: [...start.map(([h]) => h), ...list.map((f) => f.height), usage.indexed_height],
      series: [{ label: `fees ${over}`, values: [...start.map(([, v]) => v), ...total, toAlx(sum)] }], stepped: true,
    }),
  ];
}

// ── try it: a chat with the model, each answer's attribution inline ─────────────────────────

/** The chat box of a model page: the answer with the spans its datanets hold highlighted, the
 * fee and who it pays. The API key stays in this tab (sessionStorage) and goes to this node only. */
function tryIt(m) {
  const key = el('input', { id: 'key', type: 'password', autocomplete: 'off', placeholder: 'alx-sk-…' });
  key.value = sessionStorage.getItem('alx-api-key') ?? '';
  const question = el('textarea', { id: 'question', rows: '3' });
  const answer = el('div', { id: 'answer', 'aria-live': 'polite' });
  const ask = async (event) => {
    event.preventDefault();
    sessionStorage.setItem('alx-api-key', key.value.trim());
    answer.replaceChildren(el('p', { class: 'empty' }, 'Asking…'));
    try {
      answer.replaceChildren(...await chat(m, key.value.trim(), question.value));
    } catch (e) {
      answer.replaceChildren(el('p', { class: 'notice error' }, e.message));
    }
  };
  return el('section', { 'aria-labelledby': 'try' },
    el('h2', { id: 'try' }, 'Try it'),
    el('form', { id: 'chat', onsubmit: ask },
      el('label', { for: 'key' }, 'API key'), key,
      el('label', { for: 'question' }, 'Your question'), question,
      el('button', { type: 'submit' }, 'Ask')),
    answer);
}

async function chat(m, key, content) {
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: m.name, messages: [{ role: 'user', content }], max_tokens: 64, temperature: 0 }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  const text = body.choices[0].message.content;
  const a = body.alexandria;
  // The spans of the answer each datanet version holds (the node's index, as the receipt's
  // span part was computed).
  const reports = await Promise.all(m.datanets.map((d) => fetch('/api/attribution', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datanet: d.datanet, version: d.version, text }),
  }).then((r) => (r.ok ? r.json() : null)).catch(() => null)));
  const spans = reports.filter(Boolean).flatMap((r) => r.spans.map((s) => ({ ...s, datanet: r.datanet })));
  return [
    el('p', { class: 'answer' }, highlight(text, spans)),
    facts([
      ['fee', alx(a.fee)],
      ['tokens', `${a.tokens_in} in, ${a.tokens_out} out`],
      ['receipt', link(`/api/receipts/${a.receipt_id}`, short(a.receipt_id))],
    ]),
    el('h3', {}, 'Who the data share pays'),
    table('Attribution', ['datanet', 'contribution', 'contributor', 'share of the data fee'],
      a.attribution.map((s) => [link(`#/datanet/${s.datanet}`, s.datanet), s.contribution,
        s.contributor ? account(s.contributor) : '—', bps(s.bps)]),
      'no contribution is credited: the data share goes to the datanets\' owners'),
    el('h3', {}, 'Passages retrieved into the prompt'),
    table('Citations', ['rank', 'datanet', 'contribution', 'excerpt'],
      a.citations.map((c) => [c.rank + 1, link(`#/datanet/${c.datanet}`, c.datanet), c.contribution, c.excerpt])),
  ];
}

async function subnets() {
  const list = await api('/api/subnets');
  show('Subnets', table('Subnets', ['id', 'name', 'neurons', 'epochs', 'next epoch', 'owner'],
    list.map((s) => [s.id, link(`#/subnet/${s.id}`, s.name), s.neurons, s.epochs, block(s.next_epoch_block), account(s.owner)])));
}

/** Most validators whose weights the heatmap shows, and uids charted over epochs. */
const HEATMAP_ROWS_MAX = 64;
const CHARTED_UIDS_MAX = 8;

async function subnetPage(id) {
  const s = await api(`/api/subnets/${encodeURIComponent(id)}`);
  const g = await api(`/api/subnets/${s.id}/metagraph`);
  const epochs = await api(`/api/subnets/${s.id}/epochs`).catch(() => null);
  const setters = g.neurons.filter((n) => n.validator_permit).slice(0, HEATMAP_ROWS_MAX);
  const rows = await Promise.all(setters.map((n) => api(`/api/subnets/${s.id}/weights/${n.uid}`)
    .then((w) => ({ uid: n.uid, weights: w.weights })).catch(() => null)));
  const fraction = (x) => (x / 65535).toFixed(4);
  show(`Subnet ${s.name}`,
    el('p', {}, s.task),
    facts([['id', s.id], ['owner', account(s.owner)],
      ['evaluated on', el('span', {}, s.datanets.map((d) => [link(`#/datanet/${d.datanet}`, `${d.datanet}@${d.version}`), ' ']))],
      ['tempo', `an epoch every ${s.tempo} blocks`], ['neurons', `${s.neurons} of ${s.max_uids} (at most ${s.max_validators} validators)`],
      ['registration burn', alx(s.registration_burn)], ['consensus', s.yuma3 ? `Yuma 3${s.liquid_alpha?.enabled ? `, liquid alpha ${s.liquid_alpha.alpha_low}–${s.liquid_alpha.alpha_high} / 65535` : ''}` : 'Yuma'], ['epochs run', s.epochs],
      ['pending emission', alx(s.pending)], ['last epoch', block(s.last_epoch_block)], ['next epoch', block(s.next_epoch_block)]]),
    el('h2', {}, 'Metagraph'),
    table('Metagraph', ['uid', 'address', 'kind', 'model', 'stake', 'permit', 'trust', 'incentive', 'dividends', 'last emission'],
      g.neurons.map((n) => [n.uid, account(n.address), n.kind, n.model === null || n.model === undefined ? '—' : link(`#/model/${n.model}`, n.model),
        alx(n.stake), n.validator_permit ? 'yes' : 'no',
        fraction(n.validator_trust), fraction(n.incentive), fraction(n.dividends), alx(n.last_emission)])),
    el('h2', {}, 'Weights'),
    heatmap(rows.filter((r) => r && r.weights.length > 0), g.neurons.map((n) => n.uid)),
    el('h2', {}, 'Emission over epochs'),
    epochs ? epochChart(epochs) : el('p', { class: 'unknown' }, 'The epochs are unavailable.'));
}

/** What each epoch paid: in all, to the owner, and to the uids that earned most over them. */
function epochChart(epochs) {
  if (epochs.length === 0) return el('p', { class: 'empty' }, 'No epoch has run yet.');
  const uids = Math.max(...epochs.map((e) => e.emission.length));
  const earned = Array.from({ length: uids }, (_, u) => epochs.reduce((n, e) => n + BigInt(e.emission[u] ?? 0), 0n));
  const top = [...earned.keys()].sort((a, b) => (earned[b] > earned[a] ? 1 : earned[b] < earned[a] ? -1 : a - b))
    .slice(0, CHARTED_UIDS_MAX).sort((a, b) => a - b);
  return lineChart({
    id: 'epochs', caption: 'Emission paid each epoch (ALX): in all, to the owner, and to each uid (incentive and dividends)',
    xLabel: 'epoch', yLabel: 'ALX', x: epochs.map((e) => e.epoch),
    series: [
      { label: 'to the uids', values: epochs.map((e) => toAlx(e.total_emission)) },
      { label: 'to the owner', values: epochs.map((e) => toAlx(e.owner_emission)) },
      ...top.map((u) => ({ label: `uid ${u}`, values: epochs.map((e) => toAlx(e.emission[u] ?? 0)) })),
    ],
  });
}

async function emission() {
  const e = await api('/api/emission');
  const split = e.params?.split;
  const curve = e.curve ?? [];
  show('Emission',
    facts([['preset', e.params ? (e.preset ?? 'custom (from a file at genesis)') : 'none'],
      ['minted so far', alx(e.minted)], ['supply', alx(e.supply)], ['next block mints', alx(e.next_block)],
      ['cap', e.params ? alx(e.params.schedule.cap) : 'none: this chain mints nothing'],
      ['protection fund', alx(e.protection_fund)], ['treasury', alx(e.treasury)]]),
    el('h2', {}, 'Split of each block'),
    split ? table('Split', Object.keys(split).map((k) => k.replaceAll('_', ' ')), [Object.values(split).map(bps)]) : el('p', { class: 'empty' }, 'No split: nothing is minted.'),
    el('h2', {}, 'Pools'),
    facts([['subnets', alx(e.pool_subnets)], ['waiting for subnet epochs', alx(e.subnets_pending)],
      ['data contributors', alx(e.pool_data)], ['compute', alx(e.pool_compute)]]),
    el('h2', {}, 'Schedule'),
    curve.length === 0 ? el('p', { class: 'empty' }, 'No schedule: nothing is minted.') : [
      lineChart({
        id: 'schedule-minted', caption: 'Minted in all by block height, as the schedule fixes it (ALX)',
        xLabel: 'block', yLabel: 'ALX', x: curve.map((p) => p.height),
        series: [{ label: 'minted in all', values: curve.map((p) => toAlx(p.minted)) }],
      }),
      lineChart({
        id: 'schedule-rate', caption: 'What one block mints, by block height (ALX)',
        xLabel: 'block', yLabel: 'ALX', x: curve.map((p) => p.height),
        series: [{ label: 'per block', values: curve.map((p) => toAlx(p.per_block)) }], stepped: true,
      }),
    ]);
}

/** Where a search goes: the first kind of thing the query names that exists. */
async function search(q) {
  const query = q.trim();
  const tries = [];
  if (/^\d+$/.test(query)) tries.push(['block', `/api/blocks/${query}`, `#/block/${query}`]);
  if (/^[0-9a-f]{64}$/i.test(query)) {
    tries.push(['tx', `/api/txs/${query}`, `#/tx/${query}`], ['block', `/api/blocks/${query}`, `#/block/${query}`]);
  }
  if (/^alx1[0-9a-z]+$/.test(query)) tries.push(['account', `/api/accounts/${query}`, `#/account/${query}`]);
  if (query) {
    const name = encodeURIComponent(query);
    tries.push(['model', `/api/models/${name}`, null], ['subnet', `/api/subnets/${name}`, null]);
  }
  for (const [kind, path, to] of tries) {
    try {
      const found = await api(path);
      location.hash = to ?? `#/${kind}/${found.id}`;
      return;
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }
  const named = (await api('/api/datanets')).find((d) => d.name === query);
  if (named) { location.hash = `#/datanet/${named.id}`; return; }
  notFound(`Nothing named “${query}”`);
}

const routes = [
  [/^#?\/?$/, network], [/^#\/block\/(.+)$/, blockPage], [/^#\/tx\/(.+)$/, txPage],
  [/^#\/account\/(.+)$/, accountPage], [/^#\/datanets$/, datanets], [/^#\/datanet\/(.+)$/, datanetPage],
  [/^#\/contribution\/(\d+\/\d+)$/, contributionPage],
  [/^#\/models$/, models], [/^#\/model\/(.+)$/, modelPage], [/^#\/subnets$/, subnets],
  [/^#\/subnet\/(.+)$/, subnetPage], [/^#\/emission$/, emission],
];

async function render() {
  liveBlocks = null;
  liveTxs = null;
  const hash = location.hash || '#/';
  const route = routes.find(([re]) => re.test(hash));
  if (!route) { notFound(`The page ${hash}`); return; }
  main.replaceChildren(el('p', { class: 'empty' }, 'Loading…'));
  let arg = hash;
  try {
    arg = decodeURIComponent(hash.match(route[0])[1] ?? '');
    await route[1](arg);
  } catch (e) {
    if (e instanceof NotFound || e instanceof URIError) notFound(arg || hash, e.message);
    else show('Unavailable', el('p', { class: 'notice error' }, `The node did not answer: ${e.message}. `,
      link(hash, 'Try again')));
  }
  main.focus({ preventScroll: true });
}

// ── live ─────────────────────────────────────────────────────────────────────────────────

function follow() {
  const stream = new EventSource('/api/stream/blocks');
  stream.onopen = () => {
    const wasDown = connection.className === 'down';
    connection.textContent = 'live';
    connection.className = 'live';
    // Back after an outage: the page on screen may say it was unavailable.
    if (wasDown) render();
  };
  stream.onerror = () => { connection.textContent = 'disconnected: reconnecting…'; connection.className = 'down'; };
  stream.addEventListener('block', (event) => {
    const header = JSON.parse(event.data);
    const height = document.getElementById('height');
    if (height) height.textContent = header.height;
    if (liveBlocks) {
      liveBlocks.prepend(blockRow(header));
      while (liveBlocks.rows.length > 10) liveBlocks.deleteRow(-1);
    }
    finality.push(Date.now() - header.timestamp_ms);
    if (finality.length > FINALITY_SAMPLES) finality.shift();
    const shown = document.getElementById('finality');
    if (shown) {
      const sorted = [...finality].sort((a, b) => a - b);
      shown.textContent = `${sorted[Math.floor(sorted.length / 2)]} ms (median of the last ${sorted.length} blocks)`;
    }
    const txs = liveTxs;
    if (txs && header.tx_count > 0) {
      api(`/api/blocks/${header.height}`).then((b) => {
        txs.prepend(...b.txs.slice(0, RECENT_TXS).map((t) => txRow(header.height, t)));
        while (txs.rows.length > RECENT_TXS) txs.deleteRow(-1);
      }).catch(() => {});
    }
  });
}

document.getElementById('search').addEventListener('submit', (event) => {
  event.preventDefault();
  const q = document.getElementById('q').value;
  if (q.trim()) search(q).catch((e) => show('Unavailable', el('p', { class: 'notice error' }, e.message)));
});
window.addEventListener('hashchange', render);
follow();
render();
