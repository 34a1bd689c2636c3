// Judges the cases `light_vectors.rs` wrote (argument: their JSON file) with the browser's
// light client and prints one verdict per case, in order, as JSON.
import { readFileSync } from "node:fs";
import {
  LightClient,
  Refused,
  addressBytes,
  fromHex,
  listRoot,
  toHex,
  validatorSet,
  verifyFinalization,
  verifyStateProof,
} from "../assets/light.mjs";

const refused = (e) => {
  if (e instanceof Refused) return { ok: false, code: e.code };
  throw e;
};

async function judge(c) {
  switch (c.kind) {
    case "finalization":
      try {
        const set = validatorSet(BigInt(c.epoch), c.keys.map((k) => fromHex(k)));
        await verifyFinalization(set, c.headers.map((h) => fromHex(h)), fromHex(c.certificate));
        return { ok: true };
      } catch (e) {
        return refused(e);
      }
    case "state": {
      const value = c.value === null ? null : fromHex(c.value);
      return { ok: await verifyStateProof(c.proof, fromHex(c.root), fromHex(c.key), value) };
    }
    case "list":
      return { ok: true, root: toHex(await listRoot(c.items.map((i) => fromHex(i)))) };
    case "address": {
      const bytes = addressBytes(c.text);
      return { ok: bytes !== null, bytes: bytes && toHex(bytes) };
    }
    case "epochs":
      try {
        const source = {
          finalization: async (h) => c.finalizations[String(h)] ?? Promise.reject(new Error("none")),
          epochSet: async (e) => c.sets[String(e)] ?? Promise.reject(new Error("none")),
        };
        const got = await new LightClient(c.genesis).finalized(source, c.height);
        return { ok: true, digest: toHex(got.header.digest) };
      } catch (e) {
        return refused(e);
      }
    default:
      throw new Error(`unknown case kind ${c.kind}`);
  }
}

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = [];
for (const c of cases) out.push(await judge(c));
process.stdout.write(JSON.stringify(out));
