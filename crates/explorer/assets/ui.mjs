// What every page of the explorer is built with: elements from text only (el), links to
// things, amounts, tables, and the API's answers (a 404 or 400 is NotFound, anything else an
// error: a number that could not be fetched is shown as unavailable, never as zero).

export const main = document.getElementById('main');
const BASE_UNITS = 1000000000n;

/** A thing the node says does not exist, or a name or hash it cannot parse. */
export class NotFound extends Error {}

/** An element: `attrs` are attributes (`on*` are listeners), children are nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const link = (href, text) => el('a', { href }, text);
export const short = (h) => (h && h.length > 20 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h);
export const account = (a) => link(`#/account/${a}`, short(a));
export const block = (h) => link(`#/block/${h}`, `#${h}`);

/** Base units (a decimal string) as ALX with up to 9 decimals. */
export function alx(units) {
  if (units === null || units === undefined) return el('span', { class: 'unknown' }, 'unavailable');
  const v = BigInt(units);
  const frac = (v % BASE_UNITS).toString().padStart(9, '0').replace(/0+$/, '');
  return `${(v / BASE_UNITS).toLocaleString('en-US')}${frac ? `.${frac}` : ''} ALX`;
}

export const bps = (b) => `${(b / 100).toFixed(2)}%`;

export async function api(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (response.status === 404 || response.status === 400) {
    const body = await response.json().catch(() => null);
    throw new NotFound(body?.error?.message ?? path);
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** A definition list of [label, value] pairs. */
export const facts = (pairs) => el('dl', { class: 'facts' },
  pairs.flatMap(([k, v, cls]) => [el('dt', {}, k), el('dd', cls ? { class: cls } : {}, v)]));

/** A table: `head` labels, `rows` arrays of cells; `empty` when there are none. */
export function table(caption, head, rows, empty = 'none yet') {
  if (rows.length === 0) return el('p', { class: 'empty' }, `${caption}: ${empty}.`);
  return el('div', { class: 'table' }, el('table', {},
    el('caption', { class: 'skip' }, caption),
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c)))))));
}

export function show(title, ...content) {
  document.title = `${title} · Alexandria explorer`;
  main.replaceChildren(el('h1', {}, title), ...content.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

export function notFound(what, why) {
  show('Not found', el('p', { class: 'notice error' }, `${what} does not exist on this chain`,
    why ? ` (${why})` : '', '. ', link('#/', 'Back to the network')));
}

/** `text` with the byte ranges of `spans` (UTF-8 offsets) marked, each followed by links to
 * the contributions that hold it (the first three; the mark's title names them all). */
export function highlight(text, spans) {
  const bytes = new TextEncoder().encode(text);
  const decode = (a, b) => new TextDecoder().decode(bytes.slice(a, b));
  const sorted = [...spans].sort((x, y) => x.start - y.start);
  const out = [];
  let at = 0;
  for (const s of sorted) {
    if (s.end <= at) continue;
    const start = Math.max(s.start, at);
    if (start > at) out.push(decode(at, start));
    const sources = s.contributions.map((c) => `contribution ${c} of datanet ${s.datanet}`).join(', ');
    out.push(el('mark', { title: sources || `datanet ${s.datanet}` }, decode(start, s.end)),
      s.contributions.slice(0, 3).map((c) => el('sup', {}, link(`#/contribution/${s.datanet}/${c}`, `[${c}]`))));
    at = s.end;
  }
  out.push(decode(at, bytes.length));
  return out;
}
