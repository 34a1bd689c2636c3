// The light client's checks (crate alx-light), reimplemented for the browser with WebCrypto's
// SHA-256 and Ed25519. Nothing here trusts the node: a header is reported final only when a
// quorum of its epoch's validators signed it, the set followed from the genesis validators the
// caller trusts. `crates/explorer/tests/light_vectors.rs` runs these functions against
// alx-light's verdicts on the same bytes, valid and altered.

const text = new TextEncoder();

/** The namespace finalize votes are signed under (consensus namespace + simplex's suffix). */
export const FINALIZE_NAMESPACE = text.encode("_ALX_CONSENSUS_FINALIZE");
/** Headers one proof may carry. */
export const HEADERS_MAX = 1024;
/** An encoded block header: parent, 4 u64, proposer, timestamp, 3 roots. */
export const HEADER_SIZE = 200;
/** The state key of the next epoch's validator set. */
export const ACTIVE_SET_KEY = Uint8Array.of(0x05, ...text.encode("active_set"));
const STATE_TREE_DEPTH = 16;
const SIGNATURE_SIZE = 64;

/** Why a proof was not believed; `code` names the check, as alx-light's `LightError` does. */
export class Refused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const malformed = (what, detail) => new Refused("malformed", `malformed ${what}: ${detail}`);

export function fromHex(hex, what = "hex") {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw malformed(what, "not hex");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(parts)));
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function compare(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** Reads the chain's codec: fixed big-endian integers and commonware's canonical varints. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }
  get remaining() {
    return this.bytes.length - this.at;
  }
  take(n, what) {
    if (n > this.remaining) throw malformed(what, "ends early");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u64(what) {
    return this.take(8, what).reduce((v, b) => (v << 8n) | BigInt(b), 0n);
  }
  /** A varint of at most `bits` bits; every value has exactly one encoding. */
  varint(what, bits = 64) {
    let value = 0n;
    for (let shift = 0; ; shift += 7) {
      const byte = this.take(1, what)[0];
      if (byte === 0 && shift > 0) throw malformed(what, "non-canonical varint");
      const room = bits - shift;
      if (room <= 7 && 8 - Math.clz32(byte) + 24 > room) throw malformed(what, "varint overflow");
      value |= BigInt(byte & 0x7f) << BigInt(shift);
      if ((byte & 0x80) === 0) return value;
    }
  }
}

/** Decodes one encoded header (exactly 200 bytes) and computes its digest. */
export async function readHeader(bytes) {
  if (bytes.length !== HEADER_SIZE) {
    throw malformed("header", `${bytes.length} bytes instead of ${HEADER_SIZE}`);
  }
  const r = new Reader(bytes);
  const header = {
    parent: r.take(32),
    height: r.u64(),
    epoch: r.u64(),
    view: r.u64(),
    parentView: r.u64(),
    proposer: r.take(32),
    timestampMs: r.u64(),
    txRoot: r.take(32),
    receiptsRoot: r.take(32),
    stateRoot: r.take(32),
  };
  header.digest = await sha256(bytes);
  return header;
}

/** A validator set as certificates index it: keys sorted by bytes, no duplicates. */
export function validatorSet(epoch, keys) {
  const sorted = [...keys].sort(compare).filter((k, i, all) => i === 0 || !equal(k, all[i - 1]));
  if (sorted.length === 0) throw new Refused("invalid_set", "invalid validator set: no validators");
  if (sorted.some((k) => k.length !== 32)) {
    throw new Refused("invalid_set", "invalid validator set: a key is not 32 bytes");
  }
  return { epoch: BigInt(epoch), keys: sorted };
}

/** Signers a certificate needs: n − ⌊(n − 1)/3⌋. */
export function quorum(set) {
  const n = set.keys.length;
  return n - Math.floor((n - 1) / 3);
}

function readCertificate(bytes, participants) {
  const r = new Reader(bytes);
  const epoch = r.varint("epoch");
  const view = r.varint("view");
  r.varint("parent view");
  const payload = r.take(32, "payload");
  const message = bytes.subarray(0, r.at);
  const bits = r.u64("certificate");
  if (bits > BigInt(participants)) throw malformed("certificate", `a bitmap of ${bits} bits`);
  const map = r.take(Math.ceil(Number(bits) / 8), "certificate");
  const signers = [];
  for (let i = 0; i < map.length * 8; i++) {
    if ((map[i >> 3] >> (i & 7)) & 1) {
      if (i >= Number(bits)) throw malformed("certificate", "bits set past the bitmap's length");
      signers.push(i);
    }
  }
  if (signers.length === 0) throw malformed("certificate", "no signers");
  const count = r.varint("certificate", 32);
  if (count > BigInt(participants)) throw malformed("certificate", `${count} signatures`);
  const signatures = [];
  for (let i = 0n; i < count; i++) signatures.push(r.take(SIGNATURE_SIZE, "certificate"));
  if (signatures.length !== signers.length) {
    throw malformed("certificate", "signers and signatures counts differ");
  }
  if (r.remaining > 0) throw malformed("certificate", `${r.remaining} bytes after it`);
  return { epoch, view, payload, message, bits: Number(bits), signers, signatures };
}

/** The message an ed25519 key signs for a namespace: varint(len) ‖ namespace ‖ message. */
function signedPayload(namespace, message) {
  const r = [];
  for (let n = namespace.length; ; n >>= 7) {
    r.push(n >= 0x80 ? (n & 0x7f) | 0x80 : n);
    if (n < 0x80) break;
  }
  return concat([Uint8Array.from(r), namespace, message]);
}

async function ed25519Verify(key, message, signature) {
  try {
    const k = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, k, signature, message);
  } catch {
    return false;
  }
}

/**
 * Checks that the last of `headers` (encoded) was finalized by a quorum of `set`, and that the
 * others are its ancestors in order. Returns the decoded headers.
 */
export async function verifyFinalization(set, headers, certificate) {
  if (headers.length === 0 || headers.length > HEADERS_MAX) {
    throw new Refused("header_count", `a proof must carry 1 to ${HEADERS_MAX} headers, not ${headers.length}`);
  }
  const decoded = [];
  for (const h of headers) decoded.push(await readHeader(h));
  for (let i = 1; i < decoded.length; i++) {
    const [parent, child] = [decoded[i - 1], decoded[i]];
    if (!equal(child.parent, parent.digest) || child.height !== parent.height + 1n) {
      throw new Refused("broken_chain", `the headers do not chain at height ${child.height}`);
    }
  }
  for (const h of decoded) {
    if (h.epoch !== set.epoch) {
      throw new Refused("wrong_epoch", `expected epoch ${set.epoch}, got ${h.epoch}`);
    }
  }
  const n = set.keys.length;
  const cert = readCertificate(certificate, n);
  if (cert.epoch !== set.epoch) {
    throw new Refused("wrong_epoch", `expected epoch ${set.epoch}, got ${cert.epoch}`);
  }
  const last = decoded[decoded.length - 1];
  if (!equal(last.digest, cert.payload)) {
    throw new Refused("wrong_block", `the certificate is for another block than height ${last.height}`);
  }
  if (cert.bits !== n) {
    throw new Refused("wrong_participants", `epoch ${set.epoch} has ${n} validators; the certificate covers ${cert.bits}`);
  }
  const needed = quorum(set);
  if (cert.signers.length < needed) {
    throw new Refused("no_quorum", `${cert.signers.length} of ${n} signed; ${needed} needed`);
  }
  const payload = signedPayload(FINALIZE_NAMESPACE, cert.message);
  for (let i = 0; i < cert.signers.length; i++) {
    const index = cert.signers[i];
    if (!(await ed25519Verify(set.keys[index], payload, cert.signatures[i]))) {
      throw new Refused("bad_signature", `validator ${index}'s signature does not verify`);
    }
  }
  return decoded;
}

const TAG_LEAF = 0x00;
const TAG_BUCKET = 0x01;
const TAG_NODE = 0x02;

const nodeHash = (left, right) => sha256(Uint8Array.of(TAG_NODE), left, right);

/** The root of a list of item hashes (a block's transactions or receipts). */
export async function listRoot(items) {
  if (items.length === 0) return new Uint8Array(32);
  let level = items;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? await nodeHash(level[i], level[i + 1]) : level[i]);
    }
    level = next;
  }
  return level[0];
}

/**
 * Checks a state proof (`{bucket: [[keyHash, leafHash]…], siblings: […]}`, hex) that `key` maps
 * to `value` (or is absent when `value` is null) under `root`.
 */
export async function verifyStateProof(proof, root, key, value) {
  let bucket;
  let siblings;
  try {
    bucket = proof.bucket.map(([k, l]) => [fromHex(k), fromHex(l)]);
    siblings = proof.siblings.map((s) => fromHex(s));
  } catch {
    return false;
  }
  if (siblings.length !== STATE_TREE_DEPTH) return false;
  if (bucket.some(([k, l]) => k.length !== 32 || l.length !== 32)) return false;
  if (siblings.some((s) => s.length !== 32)) return false;
  const bucketOf = (h) => (h[0] << 8) | h[1];
  const keyHash = await sha256(key);
  for (let i = 1; i < bucket.length; i++) {
    if (compare(bucket[i - 1][0], bucket[i][0]) >= 0) return false;
  }
  if (bucket.some(([k]) => bucketOf(k) !== bucketOf(keyHash))) return false;
  const found = bucket.find(([k]) => equal(k, keyHash));
  if (value === null) {
    if (found) return false;
  } else {
    const len = Uint8Array.of(key.length >> 8, key.length & 0xff);
    if (!found || !equal(found[1], await sha256(Uint8Array.of(TAG_LEAF), len, key, value))) {
      return false;
    }
  }
  let hash = await sha256(Uint8Array.of(TAG_BUCKET), ...bucket.flat());
  let index = bucketOf(keyHash);
  for (const sibling of siblings) {
    hash = index & 1 ? await nodeHash(sibling, hash) : await nodeHash(hash, sibling);
    index >>= 1;
  }
  return equal(hash, root);
}

/**
 * The set of the epoch after `current`'s, from the verified last block of `current`'s epoch and
 * the node's claim of the stored set (32-byte addresses, strictly ascending) with its proof.
 */
export async function nextSet(current, epochLength, boundary, validators, proof) {
  const last = (current.epoch + 1n) * BigInt(epochLength) - 1n;
  if (boundary.epoch !== current.epoch || boundary.height !== last) {
    throw new Refused("not_boundary", `height ${boundary.height} is not the epoch's last block (${last})`);
  }
  if (!(await verifyStateProof(proof, boundary.stateRoot, ACTIVE_SET_KEY, validators))) {
    throw new Refused("bad_state_proof", `the validator set's proof fails at height ${boundary.height}`);
  }
  if (validators.length === 0 || validators.length % 32 !== 0) {
    throw new Refused("invalid_set", `invalid validator set: ${validators.length} bytes of addresses`);
  }
  const members = [];
  for (let i = 0; i < validators.length; i += 32) members.push(validators.subarray(i, i + 32));
  for (let i = 1; i < members.length; i++) {
    if (compare(members[i - 1], members[i]) >= 0) {
      throw new Refused("invalid_set", "invalid validator set: members are not strictly ascending");
    }
  }
  return validatorSet(current.epoch + 1n, members);
}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function polymod(values) {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
    for (let i = 0; i < 5; i++) if ((top >> i) & 1) chk = (chk ^ gen[i]) >>> 0;
  }
  return chk;
}

/** The 32 bytes of an `alx1…` address (bech32m); null when it is not one. */
export function addressBytes(address) {
  if (typeof address !== "string" || address !== address.toLowerCase()) return null;
  const sep = address.lastIndexOf("1");
  if (address.slice(0, sep) !== "alx" || address.length - sep < 7) return null;
  const data = [];
  for (const c of address.slice(sep + 1)) {
    const v = BECH32.indexOf(c);
    if (v < 0) return null;
    data.push(v);
  }
  const hrp = [..."alx"].map((c) => c.charCodeAt(0));
  const expanded = [...hrp.map((c) => c >> 5), 0, ...hrp.map((c) => c & 31)];
  if (polymod([...expanded, ...data]) !== 0x2bc830a3) return null;
  let acc = 0;
  let bits = 0;
  const out = [];
  for (const v of data.slice(0, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0 || out.length !== 32) return null;
  return Uint8Array.from(out);
}

/** A proof from the source, or `Refused("source")` when it could not be had. */
async function ask(get) {
  try {
    return await get();
  } catch (e) {
    throw e instanceof Refused ? e : new Refused("source", `the node gave no proof: ${e.message}`);
  }
}

/**
 * A light client trusting only `genesis` (`{epoch_length, validators: ["alx1…"]}`), asking
 * `source` (any node; it may lie) for proofs: `finalization(height)` and `epochSet(epoch)`
 * return the JSON of `/api/light/finalizations/{height}` and `/api/light/epochs/{epoch}`.
 */
export class LightClient {
  constructor(genesis) {
    const keys = genesis.validators.map((a) => {
      const k = addressBytes(a);
      if (!k) throw new Refused("invalid_set", `invalid validator set: ${a} is not an address`);
      return k;
    });
    if (!(genesis.epoch_length > 0)) throw new Refused("invalid_set", "an epoch length of zero");
    this.epochLength = BigInt(genesis.epoch_length);
    this.sets = [validatorSet(0n, keys)];
  }

  /** The header at `height`, shown final by its epoch's validators; throws `Refused`. */
  async finalized(source, height) {
    height = BigInt(height);
    const epoch = height / this.epochLength;
    while (BigInt(this.sets.length) <= epoch) await this.learnNext(source);
    const set = this.sets[Number(epoch)];
    const header = await this.verifyAt(source, set, height);
    return { header, quorum: quorum(set), validators: set.keys.length, epochsFollowed: epoch };
  }

  async verifyAt(source, set, height) {
    const proof = await ask(() => source.finalization(height));
    if (BigInt(proof.height) !== height) {
      throw malformed("finalization proof", `for height ${proof.height} instead of ${height}`);
    }
    if (!Array.isArray(proof.headers)) throw malformed("finalization proof", "no headers");
    const headers = proof.headers.map((h) => fromHex(h, "header"));
    const verified = await verifyFinalization(set, headers, fromHex(proof.certificate, "certificate"));
    if (verified[0].height !== height) {
      throw new Refused("broken_chain", `the headers do not chain at height ${height}`);
    }
    return verified[0];
  }

  async learnNext(source) {
    const current = this.sets[this.sets.length - 1];
    const boundary = (current.epoch + 1n) * this.epochLength - 1n;
    const header = await this.verifyAt(source, current, boundary);
    const record = await ask(() => source.epochSet(current.epoch + 1n));
    const value = fromHex(record.validators, "validator set");
    this.sets.push(await nextSet(current, this.epochLength, header, value, record.proof));
  }
}
