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

const PIN = 'alx-genesis-pin';
const RECEIPT_SIZE = 32 + 2 + 16;
const ACCOUNT_SIZE = 16 + 8 + 16 + 16 + 4;
const ACCOUNT_PREFIX = 0x01;

/** The node's proof endpoints; an answer it cannot give is the source failing. */
const source = {
  finalization: (h) => api(`/api/light/finalizations/${h}`),
  epochSet: (e) => api(`/api/light/epochs/${e}`),
};

/** The pinned genesis of this origin, if any. */
function pinned() {
  try {
    return JSON.parse(localStorage.getItem(PIN) ?? 'null');
  } catch {
    return null;
  }
}

const sameGenesis = (a, b) => a.chain_id === b.chain_id && a.epoch_length === b.epoch_length
  && a.validators.length === b.validators.length && a.validators.every((v, i) => v === b.validators[i]);

/** A short fingerprint of a genesis, to compare with one published elsewhere. */
async function fingerprint(g) {
  const text = new TextEncoder().encode(JSON.stringify([g.chain_id, g.epoch_length, g.validators]));
  return toHex(await sha256(text)).slice(0, 16);
}

/** The pinned genesis (pinned now on first use), and how it came to be trusted. One pin per
 * origin, whatever chain id the node names: a node that starts serving another genesis,
 * another chain's included, is refused until the visitor chooses to trust it. */
async function trusted() {
  const served = await api('/api/light/genesis');
  const pin = pinned();
  if (!pin) {
    localStorage.setItem(PIN, JSON.stringify({ ...served, pinned_at: new Date().toISOString() }));
    return { genesis: served, how: `chain ${served.chain_id}'s genesis (fingerprint ${await fingerprint(served)}), pinned now: the first proof checked here` };
  }
  if (!sameGenesis(pin, served)) {
    throw new Refused('genesis_changed', `this node serves another genesis (chain ${served.chain_id}, fingerprint ${await fingerprint(served)}) than the one this browser pinned on ${pin.pinned_at} (chain ${pin.chain_id}, fingerprint ${await fingerprint(pin)})`);
  }
  return { genesis: pin, how: `chain ${pin.chain_id}'s genesis (fingerprint ${await fingerprint(pin)}), pinned here on ${pin.pinned_at}` };
}

/** The light client of the pinned genesis, kept for the tab: the validator sets it learned
 * are not fetched again. */
let client = null;

async function finalized(height) {
  const trust = await trusted();
  if (!client || !sameGenesis(client.genesis, trust.genesis)) {
    client = { genesis: trust.genesis, light: new LightClient(trust.genesis) };
  }
  const f = await client.light.finalized(source, height);
  return { ...f, how: trust.how };
}

const big = (bytes) => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);

/** A receipt's bytes: its transaction, error code (0: success) and fee paid. */
function readReceipt(bytes) {
  if (bytes.length !== RECEIPT_SIZE) throw new Refused('malformed', 'a receipt of the wrong size');
  return { txHash: toHex(bytes.subarray(0, 32)), code: (bytes[32] << 8) | bytes[33], fee: big(bytes.subarray(34)) };
}

/** Refuses unless what the page shows equals what was proven. */
function same(what, shown, proven) {
  if (String(shown) !== String(proven)) {
    throw new Refused('wrong_contents', `the page shows another ${what} (${shown}) than the proven one (${proven})`);
  }
}

const addressHex = (a) => toHex(addressBytes(a) ?? new Uint8Array());

/** Checks every header field a block page shows, and its transactions and receipts, against
 * the finalized header; returns the receipts' bytes. */
async function checkContents(b, header) {
  const h = b.header;
  same('block hash', h.hash, toHex(header.digest));
  same('height', h.height, header.height);
  same('parent', h.parent, toHex(header.parent));
  same('epoch', h.epoch, header.epoch);
  same('view', h.view, header.view);
  same('proposer', addressHex(h.proposer), toHex(header.proposer));
  same('time', h.timestamp_ms, header.timestampMs);
  same('state root', h.state_root, toHex(header.stateRoot));
  same('transactions root', h.tx_root, toHex(header.txRoot));
  const hashes = b.txs.map((t) => fromHex(t.tx.hash, 'transaction hash'));
  if (toHex(await listRoot(hashes)) !== toHex(header.txRoot)) {
    throw new Refused('wrong_contents', 'the block\'s transactions do not match its finalized header');
  }
  const raws = b.txs.map((t) => fromHex(t.receipt_raw ?? '', 'receipt'));
  const leaves = await Promise.all(raws.map((r) => sha256(r)));
  if (toHex(await listRoot(leaves)) !== toHex(header.receiptsRoot)) {
    throw new Refused('wrong_contents', 'the block\'s receipts do not match its finalized header');
  }
  b.txs.forEach((t, i) => checkReceipt(t.tx.hash, t.receipt, readReceipt(raws[i])));
  return raws;
}

/** The receipt shown against its proven bytes: its transaction, outcome and fee. */
function checkReceipt(hash, shown, proven) {
  same('receipt\'s transaction', hash, proven.txHash);
  same('outcome', shown.status === 'success' ? 'success' : 'failed', proven.code === 0 ? 'success' : 'failed');
  if ((shown.error === null || shown.error === undefined) !== (proven.code === 0)) {
    throw new Refused('wrong_contents', 'the page shows an error the proven receipt does not have, or none where it has one');
  }
  same('fee paid', BigInt(shown.fee_paid), proven.fee);
}

const FAMILIES = ['transfer', 'bond', 'unbond', 'validator registration', 'datanet', 'model', 'usage', 'subnet', 'equivocation evidence'];

/** The fields of a signed transaction's bytes the page shows: chain, sender, nonce, fee, the
 * payload's family, and a transfer's or (un)bond's recipient and amount. */
function readTx(raw) {
  const body = raw.subarray(0, raw.length - 64);
  const n = body[0] ?? 0;
  const at = 1 + n;
  if (body.length < at + 32 + 8 + 16 + 1) throw new Refused('malformed', 'a transaction too short');
  const tx = {
    chainId: new TextDecoder().decode(body.subarray(1, at)),
    sender: toHex(body.subarray(at, at + 32)),
    nonce: big(body.subarray(at + 32, at + 40)),
    fee: big(body.subarray(at + 40, at + 56)),
    tag: body[at + 56],
  };
  if (tx.tag <= 2 && body.length >= at + 57 + 48) {
    tx.to = toHex(body.subarray(at + 57, at + 89));
    tx.amount = big(body.subarray(at + 89, at + 105));
  }
  return tx;
}

const plural = (n, one, many) => `${n} ${BigInt(n) === 1n ? one : many}`;
const final = (f) => `finalized by at least ${f.quorum} of the ${plural(f.validators, 'validator', 'validators')} of epoch ${f.header.epoch}`
  + (f.epochsFollowed > 0n ? ` (the set followed through ${plural(f.epochsFollowed, 'epoch change', 'epoch changes')})` : '');

async function proveBlock(b, id) {
  const f = await finalized(b.header.height);
  await checkContents(b, f.header);
  if (id !== String(b.header.height) && id.toLowerCase() !== b.header.hash) {
    throw new Refused('wrong_block', `the page was asked for block ${id} and shows another`);
  }
  return [`Block ${b.header.height} is ${final(f)}. Every field of its header shown, its `
    + `${plural(b.txs.length, 'transaction', 'transactions')} (by hash) and their receipts match the finalized header; `
    + 'the kinds and senders listed come from the node (each transaction\'s page proves its own bytes).', f.how];
}

async function proveTx(t, asked) {
  if (t.tx.hash !== asked.toLowerCase()) throw new Refused('wrong_contents', `the page was asked for ${asked} and shows another transaction`);
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
  checkReceipt(t.tx.hash, t.receipt, r);
  const tx = readTx(raw);
  same('chain', t.tx.chain_id, tx.chainId);
  same('sender', addressHex(t.tx.sender), tx.sender);
  same('nonce', t.tx.nonce, tx.nonce);
  same('fee offered', BigInt(t.tx.fee), tx.fee);
  const family = FAMILIES[tx.tag] ?? `payload ${tx.tag}`;
  if (tx.to !== undefined) {
    same('recipient', addressHex(t.tx.payload.to ?? t.tx.payload.validator), tx.to);
    same('amount', BigInt(t.tx.payload.amount), tx.amount);
  }
  const outcome = r.code === 0 ? 'applied' : `failed (error code ${r.code})`;
  return [`Transaction ${t.tx.hash.slice(0, 10)}… is number ${t.index} of block ${t.height}, which is ${final(f)}. `
    + `Its bytes hash to its hash and say: a ${family} from the sender shown, nonce ${tx.nonce}, fee offered `, alx(tx.fee.toString()),
    tx.to !== undefined ? [', amount ', alx(tx.amount.toString()), ' to the address shown'] : ' (the payload\'s other fields come from the node)',
    `. It ${outcome}; fee paid `, alx(r.fee.toString()), '.', f.how];
}

/** The account shown (fetched with `?proof=true`: its values and their proof at one height)
 * against its state proof under the finalized state root of that height. */
async function proveAccount(a, address) {
  const bytes = addressBytes(address);
  if (!bytes) throw new Refused('malformed', `${address} is not an address`);
  if (a.address !== address) throw new Refused('wrong_contents', `the page was asked for ${address} and shows another account`);
  const key = Uint8Array.of(ACCOUNT_PREFIX, ...bytes);
  const entry = a.proof;
  if (!entry || entry.key !== toHex(key)) throw new Refused('malformed', 'the node sent no proof of this account\'s key');
  const f = await finalized(a.height);
  same('state root', a.state_root, toHex(f.header.stateRoot));
  const value = entry.value === null ? null : fromHex(entry.value, 'account');
  if (!(await verifyStateProof(entry.proof, f.header.stateRoot, key, value))) {
    throw new Refused('bad_state_proof', `the account's proof fails against the state root of block ${a.height}`);
  }
  if (value !== null && value.length !== ACCOUNT_SIZE) throw new Refused('malformed', 'an account of the wrong size');
  const proven = value === null ? { balance: 0n, bonded: 0n, unbonding: 0n }
    : { balance: big(value.subarray(0, 16)), bonded: big(value.subarray(24, 40)), unbonding: big(value.subarray(40, 56)) };
  same('balance', BigInt(a.account.balance), proven.balance);
  same('bonded stake', BigInt(a.account.bonded), proven.bonded);
  same('unbonding', BigInt(a.account.unbonding), proven.unbonding);
  return [`At block ${a.height}, ${final(f)}: the balance (`, alx(proven.balance.toString()), '), bonded stake and unbonding shown are the state\'s',
    value === null ? ' (this address holds no account yet)' : '', '. Rewards and the history come from the node.', f.how];
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
    parts.push(el('p', {}, 'If the chain was restarted on purpose (a new `alx up` home, say), compare the new '
      + 'fingerprint with the one its operators publish before trusting it.'),
    el('button', { type: 'button', onclick: () => { localStorage.removeItem(PIN); location.reload(); } },
      'Forget the pinned genesis'));
  }
  return parts;
}

/** The proof section of a block page (none for the genesis block, which the genesis file is). */
export const blockProof = (b, id) => (b.header.height === 0
  ? el('p', { class: 'empty' }, 'The genesis block is built from the genesis file; it has no certificate.')
  : section('this block', () => proveBlock(b, id)));
export const txProof = (t, hash) => section('this transaction', () => proveTx(t, hash));
export const accountProof = (a, address) => section('this balance', () => proveAccount(a, address));
