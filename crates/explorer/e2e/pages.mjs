// The explorer in headless Chromium against a node the Rust test started (argv: the node's
// URL, the screenshot directory). Every page must load without console errors or page errors
// and show its title; unknown things give a "Not found" page with a way back; the search box
// finds a block; a transfer the test makes with the CLI (after this script prints "ready")
// shows up live in the network page's block table; and when the test stops the node ("stop-
// node") the page says it is disconnected and unavailable, then reconnects when it is back
// ("start-node"); the verify buttons accept real proofs and refuse altered ones. Exits non-zero
// on any failure.
import { launch } from './browser.mjs';
import { mkdirSync } from 'node:fs';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const failures = [];
const fail = (what) => { failures.push(what); console.log(`FAIL ${what}`); };

const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
let problems = [];
page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(e.message));

/** Opens a route and waits for its content; returns the page's heading. */
async function open(route, shot) {
  problems = [];
  await page.goto(`${base}/#/${route}`);
  await page.waitForFunction(() => {
    const main = document.querySelector('main');
    return main && main.querySelector('h1') && !main.textContent.includes('Loading…');
  }, null, { timeout: 15000 });
  await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  return page.textContent('main h1');
}

const status = await (await fetch(`${base}/api/status`)).json();
let tx = null; // the chain's first transaction
let txHeight = null; // and its block
for (let h = 1; h <= status.height && !tx; h += 1) {
  tx = (await (await fetch(`${base}/api/blocks/${h}`)).json()).txs[0]?.tx.hash;
  txHeight = h;
}
const pages = [
  ['', 'network', 'Network'], ['datanets', 'datanets', 'Datanets'], ['datanet/0', 'datanet', 'Datanet'],
  ['contribution/0/3', 'contribution', 'Contribution 3 of datanet 0'],
  ['models', 'models', 'Models'], ['model/0', 'model', 'Model'], ['block/1', 'block', 'Block 1'],
  [`tx/${tx}`, 'tx', 'Transaction'], [`account/${status.validators[0]}`, 'account', 'Account'],
  ['subnets', 'subnets', 'Subnets'], ['emission', 'emission', 'Emission'],
];
for (const [route, shot, title] of pages) {
  try {
    const heading = await open(route, shot);
    if (!heading.startsWith(title)) fail(`#/${route}: heading "${heading}", expected "${title}"`);
    if (problems.length) fail(`#/${route}: console errors ${JSON.stringify(problems)}`);
  } catch (e) {
    fail(`#/${route}: ${e.message}`);
  }
}

// The verify buttons: a block, a transaction and a balance proven in the browser against a
// finalization certificate; an altered certificate, state proof or block refused.
const verifyMs = {};
async function verify(route, shot) {
  await open(route, shot);
  problems = [];
  const started = Date.now();
  await page.click('#verify');
  const done = await page.waitForSelector('#verified, #refused', { timeout: 30000 }).then(() => true, () => false);
  if (!done) return `no verdict: ${await page.textContent('main .proof')} ${JSON.stringify(problems)}`;
  await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  verifyMs[shot] = Date.now() - started;
  return (await page.$('#verified')) ? 'verified' : page.textContent('#refused');
}
/** Serves `path`'s answers changed by `alter` (a node that lies). */
async function lying(path, alter) {
  const matches = (url) => new URL(url).pathname.startsWith(path);
  await page.route(matches, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: alter(await response.json()) });
  });
  return () => page.unroute(matches);
}
const flip = (hex) => hex.slice(0, -2) + (parseInt(hex.slice(-2), 16) ^ 1).toString(16).padStart(2, '0');
for (const route of [`block/${txHeight}`, `tx/${tx}`, `account/${status.validators[0]}`]) {
  const got = await verify(route, `verified-${route.split('/')[0]}`);
  if (got !== 'verified') fail(`#/${route}: the real proof was refused: ${got}`);
  if (problems.length) fail(`#/${route} verify: console errors ${JSON.stringify(problems)}`);
}
for (const [path, alter, route, expected] of [
  ['/api/light/finalizations/', (b) => ({ ...b, certificate: flip(b.certificate) }), `block/${txHeight}`, 'bad_signature'],
  [`/api/accounts/${status.validators[0]}`, (b) => { if (b.proof) b.proof.value = flip(b.proof.value); return b; }, `account/${status.validators[0]}`, 'bad_state_proof'],
  [`/api/blocks/${txHeight}`, (b) => { b.txs[0].receipt.fee_paid = '1'; return b; }, `block/${txHeight}`, 'wrong_contents'],
  [`/api/blocks/${txHeight}`, (b) => { b.header.timestamp_ms += 1; return b; }, `block/${txHeight}`, 'wrong_contents'],
  ['/api/txs/', (b) => { b.tx.nonce += 1; return b; }, `tx/${tx}`, 'wrong_contents'],
  [`/api/accounts/${status.validators[0]}`, (b) => { if (b.account) b.account.balance = '1'; return b; }, `account/${status.validators[0]}`, 'wrong_contents'],
  ['/api/light/genesis', (b) => ({ ...b, chain_id: 'another-chain' }), `block/${txHeight}`, 'genesis_changed'],
]) {
  const restore = await lying(path, alter);
  const got = await verify(route, `refused-${expected}`);
  if (!String(got).includes(expected)) fail(`#/${route} with ${path} altered: ${got}, expected ${expected}`);
  await restore();
}

// The emission schedule is charted, with its data as a table.
await open('emission', 'emission');
await page.waitForSelector('#schedule-minted .uplot canvas', { timeout: 10000 }).catch(() => fail('no schedule chart'));
if ((await page.$$('#schedule-rate details tbody tr')).length < 2) fail('the schedule chart has no data table');

// On a phone-sized screen every page fits its width (tables scroll inside themselves), and
// the sections are reachable from the keyboard.
const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
for (const [route, shot] of pages) {
  await phone.goto(`${base}/#/${route}`);
  await phone.waitForFunction(() => document.querySelector('main h1')
    && !document.querySelector('main').textContent.includes('Loading…'), null, { timeout: 15000 });
  await phone.waitForTimeout(100);
  const wide = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 1) fail(`#/${route} on a phone scrolls sideways by ${wide}px`);
  await phone.screenshot({ path: `${shots}/phone-${shot}.png`, fullPage: true });
}
await phone.goto(`${base}/#/`);
await phone.waitForSelector('main h1');
// From the top of the document: its first focusable element (a page moves focus to its
// content once it renders, as a screen reader expects).
await phone.focus('a.skip');
const reached = ['Skip to content'];
for (let i = 0; i < 8; i += 1) {
  await phone.keyboard.press('Tab');
  reached.push(await phone.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.id));
}
for (const section of ['Skip to content', 'Datanets', 'Models', 'Subnets', 'Emission']) {
  if (!reached.includes(section)) fail(`"${section}" is not reached by Tab: ${JSON.stringify(reached)}`);
}
await phone.close();

// Contrast (WCAG AA, 4.5:1 for text) of every kind of text on a page with all of them.
await open(`account/${status.validators[0]}`, 'account');
// The validator is bonded to itself: its delegation and what it accrued are listed.
const rewardsShown = await page.evaluate(() => [...document.querySelectorAll('main h2')].map((h) => h.textContent));
if (!rewardsShown.includes('Delegations')) fail(`the validator's page lists no delegation: ${JSON.stringify(rewardsShown)}`);
if (!rewardsShown.includes('Validator')) fail(`the validator's page shows no commission: ${JSON.stringify(rewardsShown)}`);
if (!(await page.evaluate(() => document.querySelector('main').textContent.includes('staking accrued')))) {
  fail('the account page does not show the staking accrued');
}
const contrast = await page.evaluate(() => {
  const rgb = (c) => c.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((n, v, i) => n + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const sel of ['main p', 'main a', 'dl.facts dt', 'dl.facts dd', 'th', 'td', '.empty', '#connection', 'nav a', 'button', 'h1', 'summary']) {
    for (const e of [...document.querySelectorAll(sel)].slice(0, 3)) {
      const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      out.push([sel, Math.round(ratio * 100) / 100]);
    }
  }
  return out;
});
for (const [sel, ratio] of contrast) if (ratio < 4.5) fail(`${sel}: contrast ${ratio}:1, below 4.5:1`);

// An account's history: the first transaction's sender sees it, linked.
const first = await (await fetch(`${base}/api/txs/${tx}`)).json();
await open(`account/${first.tx.sender}`, 'account-history');
await page.waitForSelector('#history tbody tr', { timeout: 15000 }).catch(() => fail('the account has no history'));
if (!(await page.$(`#history a[href="#/tx/${tx}"]`))) fail('the history does not list the account\'s transaction');

// Unknown things: a page that says so, with a way back (the API's 404 is the only error).
for (const route of ['block/99999999', 'model/no-such-model', 'account/bogus', 'contribution/0/999', 'nowhere']) {
  const heading = await open(route, `unknown-${route.split('/')[0]}`);
  if (heading !== 'Not found') fail(`#/${route}: heading "${heading}"`);
  if (!(await page.$('main a[href="#/"]'))) fail(`#/${route}: no way back`);
}

// A contribution's page shows its content (the planted note).
await open('contribution/0/3', 'contribution');
if (!(await page.textContent('pre.content'))?.includes('Item 3.')) fail('the contribution\'s content is not shown');
const timeline = await page.textContent('#timeline').catch(() => '');
for (const step of ['offered', 'attested as declared', 'published in version 1']) {
  if (!timeline.includes(step)) fail(`the contribution's timeline lacks "${step}": ${timeline}`);
}

// The search box, by keyboard.
await open('', 'network');
await page.focus('#q');
await page.keyboard.type('1');
await page.keyboard.press('Enter');
await page.waitForFunction(() => location.hash === '#/block/1', null, { timeout: 10000 })
  .catch(() => fail('searching "1" did not open block 1'));

// Live: the network page's block table shows the test's transfer when its block finalizes.
await open('', 'network-live');
problems = [];
const start = Number(await page.textContent('#height'));
console.log('ready');
const seen = await page.waitForFunction((after) => [...document.querySelectorAll('#blocks tbody tr')]
  .some((row) => Number(row.children[0]?.textContent.slice(1)) > after
    && Number(row.children[1]?.textContent) > 0), start, { timeout: 60000 })
  .then(() => true, () => false);
if (!seen) fail('the transfer never appeared live');
const listed = await page.waitForFunction(() => [...document.querySelectorAll('#txs tbody tr')]
  .some((row) => row.children[2]?.textContent === 'transfer'), null, { timeout: 15000 }).then(() => true, () => false);
if (!listed) fail('the transfer is not among the recent transactions');
if (!/\d+ ms/.test(await page.textContent('#finality'))) fail('no finality latency is shown');
if (problems.length) fail(`live: console errors ${JSON.stringify(problems)}`);
await page.screenshot({ path: `${shots}/network-live.png`, fullPage: true });

// The node goes away mid-session: the header says so, a page needing the API says it is
// unavailable (no zeros), and when the node is back the stream reconnects by itself.
console.log('stop-node');
const down = await page.waitForSelector('#connection.down', { timeout: 30000 }).then(() => true, () => false);
if (!down) fail('a node that went away is not shown as disconnected');
await page.evaluate(() => { location.hash = '#/emission'; });
await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Unavailable', null, { timeout: 15000 })
  .catch(() => fail('a page without its node does not say it is unavailable'));
if ((await page.textContent('main')).includes('0 ALX')) fail('a value the node did not give is shown as 0');
await page.screenshot({ path: `${shots}/disconnected.png`, fullPage: true });
console.log('start-node');
const back = await page.waitForSelector('#connection.live', { timeout: 90000 }).then(() => true, () => false);
if (!back) fail('the stream did not reconnect when the node came back');

// Timings: each page loaded cold in a tab of its own; first contentful paint (Chromium's
// paint timing), and "interactive" when the page's content is in place (its heading rendered
// from the API's answers), both from navigation start; and the bytes of the assets served.
const timings = [];
for (const [route, shot] of pages) {
  const tab = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await tab.goto(`${base}/#/${route}`);
  await tab.waitForFunction(() => document.querySelector('main h1')
    && !document.querySelector('main').textContent.includes('Loading…'), null, { timeout: 15000 });
  const t = await tab.evaluate(() => ({
    first_paint_ms: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    interactive_ms: performance.now(),
  }));
  timings.push({ page: shot, ...t });
  await tab.close();
}
const assets = {};
for (const path of ['/', '/assets/app.js', '/assets/ui.mjs', '/assets/light.mjs', '/assets/verify.mjs',
  '/assets/charts.mjs', '/assets/history.mjs', '/assets/rewards.mjs', '/assets/style.css', '/assets/vendor/uplot/uPlot.iife.min.js',
  '/assets/vendor/uplot/uPlot.min.css']) {
  assets[path] = (await (await fetch(`${base}${path}`)).arrayBuffer()).byteLength;
}
console.log(`timings ${JSON.stringify({ pages: timings, verify_ms: verifyMs, asset_bytes: assets })}`);

await browser.close();
console.log(failures.length ? `${failures.length} failures` : 'all pages ok');
process.exit(failures.length ? 1 : 0);
