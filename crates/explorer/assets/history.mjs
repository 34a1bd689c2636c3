// Looking back, from the node's history index: an account's transactions, and what a
// contribution earned over time with the answers it was credited in.

import { lineChart, toAlx } from './charts.mjs';
import { NotFound, account, alx, api, block, el, highlight, link, short } from './ui.mjs';

/** Most credits a contribution's page charts (the API's limit). */
const CREDITS_MAX = 1000;
/** Settlements whose answers are shown on a contribution's page, newest first. */
const SETTLEMENTS_SHOWN = 3;
/** Answers shown, at most. */
const ANSWERS_SHOWN = 10;

const unavailable = (what, e) => el('p', { class: 'unknown' }, `${what} is unavailable: ${e.message}.`);

/** An account's history: its transactions newest first, with a button for older ones. */
export async function accountHistory(address) {
  const heading = el('h2', { id: 'history-h' }, 'History');
  let page;
  try {
    page = await api(`/api/accounts/${encodeURIComponent(address)}/txs`);
  } catch (e) {
    return el('section', { 'aria-labelledby': 'history-h' }, heading, unavailable('The history', e));
  }
  const body = el('tbody', {});
  const footer = el('div', {});
  const add = (p) => {
    body.append(...p.txs.map((t) => el('tr', {},
      el('td', {}, block(t.height)), el('td', {}, link(`#/tx/${t.tx.hash}`, short(t.tx.hash))),
      el('td', {}, t.tx.payload.kind), el('td', {}, t.tx.sender === address ? 'sent' : 'named in it'),
      el('td', {}, t.receipt.status + (t.receipt.error ? ` (${t.receipt.error})` : '')),
      el('td', {}, alx(t.receipt.fee_paid)))));
    footer.replaceChildren();
    if (p.next) {
      const older = el('button', { type: 'button', id: 'older' }, 'Older transactions');
      older.addEventListener('click', async () => {
        older.disabled = true;
        try {
          add(await api(`/api/accounts/${encodeURIComponent(address)}/txs?before=${p.next}`));
        } catch (e) {
          footer.replaceChildren(unavailable('The older history', e));
        }
      });
      footer.append(older);
    } else {
      footer.append(el('p', { class: 'empty' }, `Every transaction up to block ${p.indexed_height} is listed.`));
    }
  };
  add(page);
  const content = page.txs.length === 0
    ? el('p', { class: 'empty' }, `No transaction has touched this address (up to block ${page.indexed_height}).`)
    : el('div', { class: 'table' }, el('table', { id: 'history' },
      el('caption', { class: 'skip' }, 'Transactions that touched this address, newest first'),
      el('thead', {}, el('tr', {}, ['block', 'transaction', 'kind', 'role', 'status', 'fee paid']
        .map((h) => el('th', { scope: 'col' }, h)))),
      body));
  return el('section', { 'aria-labelledby': 'history-h' }, heading, content, page.txs.length ? footer : null);
}

/** A contribution's earnings: a chart of what it earned by block, the settlements that paid
 * it, and the answers it was credited in (those whose receipts this node holds). */
export async function contributionEarnings(datanet, c) {
  let credits;
  let indexed;
  try {
    const answer = await api(`/api/datanets/${datanet}/contributions/${c.id}/credits?limit=${CREDITS_MAX}`);
    ({ credits } = answer);
    indexed = answer.indexed_height;
  } catch (e) {
    return [el('h2', {}, 'Earnings over time'), unavailable('Its earnings history', e)];
  }
  if (credits.length === 0) {
    return [el('h2', {}, 'Earnings over time'), el('p', { class: 'empty' }, 'No settlement has credited it yet.')];
  }
  // From nothing when it was submitted, a step at each settlement, level to the last block
  // the index covers.
  const oldest = [...credits].reverse();
  // The node answers with the latest 1,000 credits at most: then the sums are theirs.
  const all = credits.length < CREDITS_MAX;
  const over = all ? 'in all' : `over its last ${credits.length} credits`;
  let sum = 0n;
  const heights = all ? [c.submitted_at] : [];
  const cumulative = all ? [0] : [];
  for (const e of oldest) {
    sum += BigInt(e.amount);
    heights.push(e.height);
    cumulative.push(toAlx(sum));
  }
  heights.push(Math.max(indexed, heights[heights.length - 1]));
  cumulative.push(toAlx(sum));
  return [
    el('h2', {}, 'Earnings over time'),
    lineChart({
      id: 'earnings', caption: `What contribution ${c.id} was credited ${over}, by block (ALX)`,
      xLabel: 'block', yLabel: 'ALX', x: heights,
      series: [{ label: `credited ${over}`, values: cumulative }], stepped: true,
    }),
    c.near_duplicate ? el('p', { class: 'notice' }, 'It is flagged as a near-duplicate: since the flag, what settlements '
      + 'credit it is paid to the protection fund, not to its contributor (the earned figure above counts only what was paid).') : null,
    el('h3', {}, 'Settlements that paid it'),
    el('div', { class: 'table' }, el('table', { id: 'credits' },
      el('caption', { class: 'skip' }, 'Settlements that paid it, newest first'),
      el('thead', {}, el('tr', {}, ['block', 'model', 'provider', 'receipts', 'credited']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, credits.map((e) => el('tr', {},
        el('td', {}, block(e.height)), el('td', {}, link(`#/model/${e.model}`, e.model)),
        el('td', {}, account(e.provider)),
        el('td', {}, `#${e.first_receipt}–${e.first_receipt + e.receipts - 1}`),
        el('td', {}, alx(e.amount))))))),
    el('h3', {}, 'Answers it was credited in'),
    await answers(datanet, c.id, credits),
  ];
}

async function answers(datanet, id, credits) {
  const batches = [];
  for (const e of credits) {
    if (batches.length === SETTLEMENTS_SHOWN) break;
    if (!batches.some((b) => b.provider === e.provider && b.first_receipt === e.first_receipt)) batches.push(e);
  }
  const credited = (r) => r.credits.find((x) => x.datanet === datanet && x.contribution === id);
  const found = [];
  const elsewhere = [];
  for (const b of batches) {
    try {
      const batch = await api(`/api/settlements/${b.provider}/${b.first_receipt}`);
      found.push(...batch.receipts.filter(credited).reverse());
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      elsewhere.push(b);
    }
  }
  const shown = await Promise.all(found.slice(0, ANSWERS_SHOWN).map(async (r) => {
    const version = r.datanets.find((d) => d.datanet === datanet)?.version;
    const report = version === undefined ? null : await fetch('/api/attribution', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datanet, version, text: r.output }),
    }).then((x) => (x.ok ? x.json() : null)).catch(() => null);
    const spans = (report?.spans ?? []).filter((s) => s.contributions.includes(id)).map((s) => ({ ...s, datanet }));
    return el('article', { class: 'credited' },
      el('p', { class: 'answer' }, highlight(r.output, spans)),
      el('p', { class: 'empty' }, `${r.model_name}, receipt `, link(`/api/receipts/${r.id}`, short(r.id)),
        ', credited ', alx(credited(r).amount), spans.length ? '' : ' (by retrieval or influence: no span of the answer is its text)'));
  }));
  const note = elsewhere.length
    ? el('p', { class: 'empty' }, `${elsewhere.length} of the latest settlements were served by other nodes; their answers are on those nodes (`,
      elsewhere.map((b, i) => [i ? ', ' : '', account(b.provider)]), ').')
    : null;
  if (shown.length === 0) return [el('p', { class: 'empty' }, 'No answer crediting it is held by this node.'), note];
  return [el('div', { id: 'answers' }, shown), note];
}

const EVENTS = {
  approved: 'approved', rejected: 'rejected', withdrawn: 'withdrawn by its contributor',
  removed: 'removed by the owner (its data never came)', flagged_near_duplicate: 'flagged as a near-duplicate',
  flag_disputed: 'its flag disputed',
  attested_held: 'its bytes attested as declared by a validator (an open datanet approves it on a quorum of these)',
  attested_refused: 'its bytes attested not as declared by a validator',
};

/** What happened to a contribution, oldest first: offered, reviewed, flagged…, and the
 * version that first published it. */
export async function contributionTimeline(datanet, c) {
  let events;
  try {
    events = (await api(`/api/datanets/${datanet}/contributions/${c.id}/events`)).events;
  } catch (e) {
    return [el('h2', {}, 'Timeline'), unavailable('Its timeline', e)];
  }
  const versions = await api(`/api/datanets/${datanet}`).then((d) => d.versions).catch(() => []);
  const published = versions.find((v) => v.version === c.first_version);
  const rows = [
    [c.submitted_at, 'offered', account(c.contributor)],
    ...events.map((e) => [e.height, [EVENTS[e.event] ?? e.event,
      e.copies !== undefined ? [' (of ', link(`#/contribution/${datanet}/${e.copies}`, `contribution ${e.copies}`), ')'] : ''],
    account(e.by)]),
    ...(published ? [[published.published_at, `published in version ${published.version}`, '—']] : []),
  ].sort((a, b) => a[0] - b[0]);
  return [el('h2', {}, 'Timeline'),
    el('div', { class: 'table' }, el('table', { id: 'timeline' },
      el('caption', { class: 'skip' }, 'What happened to it, oldest first'),
      el('thead', {}, el('tr', {}, ['block', 'what', 'by'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map(([h, what, by]) => el('tr', {}, el('td', {}, block(h)), el('td', {}, what), el('td', {}, by))))))];
}
