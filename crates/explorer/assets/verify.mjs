// The "verify" buttons: a block, a transaction or an account balance checked in this browser
// against a finalization certificate (light.mjs), so the page need not be believed.
//
// What is trusted: the genesis (chain id, epoch length, epoch 0's validators). The first proof
// checked for a chain pins the genesis this node serves in the browser's storage; every later
// proof is checked against the pinned one, and a node serving another genesis for the same
// chain is refused. (The script itself comes from the node: someone who trusts no part of it
// runs `alx balance --proof` / `alx tx show --proof` from their own genesis file instead.)

import { LightClient, Refused, addressBytes, fromHex, listRoot, sha256, toHex, verifyStateProof } from './light.mjs';
import { NotFound, alx, api, el } from './ui.mjs';

const PINS = 'alx-genesis-pins';
const RECEIPT_SIZE = 32 + 2 + 16;
const ACCOUNT_SIZE = 16 + 8 + 16 + 16 + 4;
const ACCOUNT_PREFIX = 0x01;

/** The node's proof endpoints; an answer it cannot give is the source failing. */
const source = {
  finalization: (h) => api(`/api/light/finalizations/${h}`),
  epochSet: (e) => api(`/api/light/epochs/${e}`),
};

function pins() {
  try {
    return JSON.parse(localStorage.getItem(PINS) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

const sameGenesis = (a, b) => a.epoch_length === b.epoch_length
  && a.validators.length === b.validators.length && a.validators.every((v, i) => v === b.validators[i]);

/** The pinned genesis of the node's chain (pinned now on first use), and how it was pinned. */
async function trusted() {
  const served = await api('/api/light/genesis');
  const all = pins();
  const pinned = all[served.chain_id];
  if (!pinned) {
    all[served.chain_id] = { ...served, pinned_at: new Date().toISOString() };
    localStorage.setItem(PINS, JSON.stringify(all));
    return { genesis: served, how: `pinned now: the first proof checked for chain ${served.chain_id} in this browser` };
  }
  if (!sameGenesis(pinned, served)) {
    throw new Refused('genesis_changed', `this node serves another genesis for chain ${served.chain_id} than the one this browser pinned on ${pinned.pinned_at}`);
  }
  return { genesis: pinned, how: `the genesis of chain ${served.chain_id} this browser pinned on ${pinned.pinned_at}` };
}

/** Forgets the pinned genesis of `chain` (the user chose to trust what the node serves now). */
function forget(chain) {
  const all = pins();
  delete all[chain];
  localStorage.setItem(PINS, JSON.stringify(all));
}

async function finalized(height) {
  const trust = await trusted();
  const f = await new LightClient(trust.genesis).finalized(source, height);
  return { ...f, how: trust.how };
}

const big = (bytes) => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);

/** A receipt's bytes: its transaction, error code (0: success) and fee paid. */
function readReceipt(bytes) {
  if (bytes.length !== RECEIPT_SIZE) throw new Refused('malformed', 'a receipt of the wrong size');
  return { txHash: toHex(bytes.subarray(0, 32)), code: (bytes[32] << 8) | bytes[33], fee: big(bytes.subarray(34)) };
}

/** Checks a block's transactions and receipts (as the page shows them) against its finalized
 * header; returns the receipts' bytes. */
async function checkContents(b, header) {
  const shownHash = b.header.hash;
  if (toHex(header.digest) !== shownHash) throw new Refused('wrong_block', 'the page shows another block hash than the finalized one');
  for (const [shown, proven] of [[b.header.state_root, header.stateRoot], [b.header.tx_root, header.txRoot]]) {
    if (shown !== toHex(proven)) throw new Refused('wrong_block', 'the page shows other roots than the finalized header\'s');
  }
  const hashes = b.txs.map((t) => fromHex(t.tx.hash, 'transaction hash'));
  if (toHex(await listRoot(hashes)) !== toHex(header.txRoot)) {
    throw new Refused('wrong_contents', 'the block\'s transactions do not match its finalized header');
  }
  const raws = b.txs.map((t) => fromHex(t.receipt_raw ?? '', 'receipt'));
  const leaves = await Promise.all(raws.map((r) => sha256(r)));
  if (toHex(await listRoot(leaves)) !== toHex(header.receiptsRoot)) {
    throw new Refused('wrong_contents', 'the block\'s receipts do not match its finalized header');
  }
  b.txs.forEach((t, i) => {
    const r = readReceipt(raws[i]);
    const shownOk = t.receipt.status === 'success';
    if (r.txHash !== t.tx.hash || (r.code === 0) !== shownOk || r.fee !== BigInt(t.receipt.fee_paid)) {
      throw new Refused('wrong_contents', `the receipt shown for transaction ${i} is not the block's`);
    }
  });
  return raws;
}

const plural = (n, one, many) => `${n} ${BigInt(n) === 1n ? one : many}`;
const final = (f) => `finalized by at least ${f.quorum} of the ${plural(f.validators, 'validator', 'validators')} of epoch ${f.header.epoch}`
  + (f.epochsFollowed > 0n ? ` (the set followed through ${plural(f.epochsFollowed, 'epoch change', 'epoch changes')})` : '');

async function proveBlock(b) {
  const f = await finalized(b.header.height);
  await checkContents(b, f.header);
  return [`Block ${b.header.height} is ${final(f)}. Its hash, roots, ${plural(b.txs.length, 'transaction', 'transactions')} and their receipts match the finalized header.`, f.how];
}

async function proveTx(t) {
  const b = await api(`/api/blocks/${t.height}`);
  const f = await finalized(t.height);
  const raws = await checkContents(b, f.header);
  const raw = fromHex(t.raw, 'transaction');
  if (raw.length <= 64 || toHex(await sha256(raw.subarray(0, raw.length - 64))) !== t.tx.hash) {
    throw new Refused('wrong_contents', 'the transaction\'s bytes do not hash to its hash');
  }
  if (b.txs[t.index]?.tx.hash !== t.tx.hash || toHex(raws[t.index]) !== t.receipt_raw) {
    throw new Refused('wrong_contents', 'the transaction or its receipt is not at that place in the block');
  }
  const r = readReceipt(raws[t.index]);
  const outcome = r.code === 0 ? 'applied' : `failed (error code ${r.code})`;
  return [`Transaction ${t.tx.hash.slice(0, 10)}… is number ${t.index} of block ${t.height}, which is ${final(f)}. It ${outcome}; fee paid `, alx(r.fee.toString()), '.', f.how];
}

async function proveAccount(address) {
  const bytes = addressBytes(address);
  if (!bytes) throw new Refused('malformed', `${address} is not an address`);
  const key = Uint8Array.of(ACCOUNT_PREFIX, ...bytes);
  const p = await api(`/api/proofs?keys=${toHex(key)}`);
  const entry = p.entries?.[0];
  if (!entry || entry.key !== toHex(key)) throw new Refused('malformed', 'the proof is for another key');
  const f = await finalized(p.height);
  const value = entry.value === null ? null : fromHex(entry.value, 'account');
  if (!(await verifyStateProof(entry.proof, f.header.stateRoot, key, value))) {
    throw new Refused('bad_state_proof', `the account's proof fails against the state root of block ${p.height}`);
  }
  if (value === null) return [`At block ${p.height}, ${final(f)}, this address holds no account: its balance is `, alx('0'), '.', f.how];
  if (value.length !== ACCOUNT_SIZE) throw new Refused('malformed', 'an account of the wrong size');
  const balance = big(value.subarray(0, 16)).toString();
  const bonded = big(value.subarray(24, 40)).toString();
  return [`At block ${p.height}, ${final(f)}: balance `, alx(balance), ', bonded ', alx(bonded), '.', f.how];
}

/** A "verify" section: a button that runs `prove` and shows what was proven or why not. */
function section(what, prove) {
  const out = el('div', { class: 'proof', 'aria-live': 'polite' });
  const button = el('button', { type: 'button', id: 'verify' }, `Verify ${what} in this browser`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    out.replaceChildren(el('p', { class: 'empty' }, 'Checking the finalization certificate…'));
    try {
      const lines = await prove();
      const how = lines.pop();
      out.replaceChildren(el('p', { class: 'notice good', id: 'verified' }, '✓ Verified. ', lines),
        el('p', { class: 'empty' }, `Trusted: ${how}.`));
    } catch (e) {
      out.replaceChildren(...refusal(e));
    } finally {
      button.disabled = false;
    }
  });
  return el('section', { 'aria-labelledby': 'proof' },
    el('h2', { id: 'proof' }, 'Proof'),
    el('p', {}, 'Checks what this page shows against a certificate signed by the chain\'s validators, '
      + 'without believing this node.'),
    button, out);
}

function refusal(e) {
  const why = e instanceof Refused ? `${e.message} (${e.code})`
    : e instanceof NotFound ? `the node has no proof: ${e.message}` : `the node did not answer: ${e.message}`;
  const parts = [el('p', { class: 'notice error', id: 'refused' }, '✗ Not proven: ', why, '.')];
  if (e instanceof Refused && e.code === 'genesis_changed') {
    const chain = e.message.match(/for chain (\S+)/)?.[1];
    parts.push(el('button', { type: 'button', onclick: () => { forget(chain); location.reload(); } },
      'Forget the pinned genesis and trust this node\'s'));
  }
  return parts;
}

/** The proof section of a block page (none for the genesis block, which the genesis file is). */
export const blockProof = (b) => (b.header.height === 0
  ? el('p', { class: 'empty' }, 'The genesis block is built from the genesis file; it has no certificate.')
  : section('this block', () => proveBlock(b)));
export const txProof = (t) => section('this transaction', () => proveTx(t));
export const accountProof = (address) => section('this balance', () => proveAccount(address));
