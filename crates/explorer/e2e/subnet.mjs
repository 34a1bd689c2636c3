// A subnet's page in headless Chromium, against a node where the Rust test ran a subnet
// through commit, reveal and epochs (argv: the node's URL, the subnet's name, the screenshot
// directory): the metagraph, the weights heatmap with the validator's row, and the chart of
// emission over epochs with its data as a table; on a phone-sized screen too. Exits non-zero
// on any failure.
import { launch } from './browser.mjs';
import { mkdirSync } from 'node:fs';

const [base, name, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const failures = [];
const fail = (what) => { failures.push(what); console.log(`FAIL ${what}`); };
for (const [shot, viewport] of [['subnet', { width: 1100, height: 1000 }], ['subnet-phone', { width: 390, height: 844 }]]) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/#/subnet/${name}`);
  await page.waitForSelector('#weights', { timeout: 15000 }).catch(() => fail(`${shot}: no weights heatmap`));
  const row = await page.$$eval('#weights tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  if (!row.some((cells) => cells[0] === '0' && cells.includes('100.0%'))) fail(`${shot}: validator 0's weights are not shown: ${JSON.stringify(row)}`);
  await page.waitForSelector('#epochs .uplot canvas', { timeout: 15000 }).catch(() => fail(`${shot}: no emission chart`));
  const data = await page.$$eval('#epochs details tbody tr', (rows) => rows.length);
  if (data < 2) fail(`${shot}: the chart's data table has ${data} epochs`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  if (wide) fail(`${shot}: the page scrolls sideways`);
  if (problems.length) fail(`${shot}: console errors ${JSON.stringify(problems)}`);
  await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  await page.close();
}
await browser.close();
console.log(failures.length ? `${failures.length} failures` : 'the subnet page is complete');
process.exit(failures.length ? 1 : 0);
