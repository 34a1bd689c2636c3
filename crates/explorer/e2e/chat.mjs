// The "try it" box of a model page in headless Chromium (argv: the node's URL, an API key, the
// model's name, the screenshot directory): the answer comes back with the spans its datanet
// holds highlighted (linking to the contributions that hold them), the fee, and the
// contributions its data share pays; once the node settles the request, the page of a
// highlighted contribution shows what it earned (a chart and the settlement) and the answer it
// was credited in, with its span highlighted, and the model's page charts its fees. Exits
// non-zero on any failure.
import { launch } from './browser.mjs';
import { mkdirSync } from 'node:fs';

const [base, key, model, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1100, height: 1200 } });
const problems = [];
page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(e.message));
const failures = [];
const fail = (what) => { failures.push(what); console.log(`FAIL ${what}`); };

await page.goto(`${base}/#/model/${model}`);
await page.waitForSelector('#chat', { timeout: 15000 });
await page.fill('#key', key);
// A question whose answer quotes the datanet (the model repeats a sentence of the notes).
await page.fill('#question', 'Repeat exactly: Because coins have no `drop` ability, a function '
  + 'that withdraws a coin must deposit, burn or return it.');
await page.click('#chat button');
await page.waitForFunction(() => {
  const answer = document.getElementById('answer');
  return answer && !answer.textContent.includes('Asking…') && answer.textContent.trim() !== '';
}, null, { timeout: 120000 });
await page.screenshot({ path: `${shots}/try-it.png`, fullPage: true });
const error = await page.$('#answer .notice.error');
if (error) fail(`the chat failed: ${await error.textContent()}`);
const marks = await page.$$eval('#answer mark', (ms) => ms.map((m) => [m.textContent, m.title]));
if (marks.length === 0) fail('no span of the answer is highlighted');
else console.log(`highlighted: ${JSON.stringify(marks)}`);
const credited = await page.$$eval('#answer table', (ts) => ts.length);
if (credited === 0) fail('no contribution is shown as paid');
const fee = await page.textContent('#answer dl');
if (!fee.includes('ALX')) fail(`no fee: ${fee}`);
const source = await page.$eval('#answer mark + sup a', (a) => a.getAttribute('href')).catch(() => null);
if (!source) fail('a highlighted span links to no contribution');

// The contribution's page, once the node's gateway settles the request (every 5 s).
if (source) {
  const [, d, c] = source.match(/^#\/contribution\/(\d+)\/(\d+)$/) ?? [];
  const deadline = Date.now() + 90000;
  let credits = [];
  while (credits.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    credits = (await (await fetch(`${base}/api/datanets/${d}/contributions/${c}/credits`)).json()).credits ?? [];
  }
  if (credits.length === 0) fail(`contribution ${d}/${c} was never credited`);
  await page.goto(`${base}/${source}`);
  await page.waitForSelector('#credits', { timeout: 15000 }).catch(() => fail('no settlement is listed'));
  await page.waitForSelector('#earnings .uplot canvas', { timeout: 15000 }).catch(() => fail('no earnings chart'));
  const answered = await page.$$eval('#answers article', (as) => as.map((a) => a.textContent));
  if (!answered.some((t) => t.includes('drop'))) fail(`the answer is not among those credited: ${JSON.stringify(answered)}`);
  if ((await page.$$('#answers mark')).length === 0) fail('the credited answer has no span highlighted');
  await page.screenshot({ path: `${shots}/contribution-earnings.png`, fullPage: true });
  // The model's page now shows what it was paid.
  await page.goto(`${base}/#/model/${model}`);
  await page.waitForSelector('#usage .uplot canvas', { timeout: 15000 }).catch(() => fail('no usage chart on the model\'s page'));
  await page.screenshot({ path: `${shots}/model-usage.png`, fullPage: true });
}
if (problems.length) fail(`console errors ${JSON.stringify(problems)}`);
await browser.close();
console.log(failures.length ? `${failures.length} failures` : 'the chat box is attributed');
process.exit(failures.length ? 1 : 0);
