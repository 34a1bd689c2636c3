#!/usr/bin/env python3
"""Benchmark `alx index` against infini-gram on the same corpus, machine and run.

Prints one JSON object per corpus size (and writes them all to WORK/results.json):
index build time, index bytes per corpus byte, exact-count latency, span attribution of
~1,200-byte (~300-token) outputs, and the time to append a 10 MB contribution.

The corpus is source text already on the machine (Rust crates in the cargo registry, the
Python standard library), read in sorted path order until the size is reached: real text with
realistic repeats (licence headers, idioms), and no download. Each file is one document.

infini-gram indexes the same bytes as u8 tokens (a byte-level tokenizer: no tokenizer files
are needed and the hub is unreachable); its documents are separated by 0xff as ours are, so
both engines see exactly the same byte sequences and every-byte counts must agree. Our index
is measured in both samplings: `word_starts` (the default) and `every_byte` (the exact
counterpart of infini-gram's byte index).

Past the ~300 MB of source text a machine holds, the corpus grows by variants: copy k of a
file has a quarter of its words (chosen by a hash of the word, its place and k) suffixed with
k, so that copies are not byte-identical duplicates. (They keep the near-copies of the source
text itself: files of two versions of a crate get the same changes where they agree.)

`--segments 1,10` also measures queries with the word-start index kept as 10 segments (what
appends produce); build time and peak memory (`VmHWM` of the build, mapped files included) are
reported per corpus byte.

Usage:
    pip install infini-gram   # 2.6.0, prebuilt engine and indexer
    cargo build --release -p alx-cli
    python3 crates/attribution/bench/compare.py --alx target/release/alx --sizes-mb 10,100
    python3 crates/attribution/bench/compare.py --sizes-mb 1000 --skip-infini \
        --samplings word_starts --segments 1,10
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOTS = [Path.home() / ".cargo/registry/src", Path(sys.prefix) / "lib"]
EXTS = {".rs", ".py", ".md", ".txt", ".toml"}
FILE_BYTES_MAX = 256 << 10
QUERIES = 1000
OUTPUTS = 30
OUTPUT_BYTES = 1200


def source_files():
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix in EXTS:
                    yield path


WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def variant(text, k):
    """Copy k of a text: a quarter of its words suffixed with k (k = 0: the text itself)."""
    if k == 0:
        return text

    def change(m):
        h = hashlib.blake2b(f"{k}:{m.start()}:{m.group(0)}".encode(), digest_size=1).digest()[0]
        return m.group(0) + str(k) if h < 64 else m.group(0)

    return WORD.sub(change, text)


def sources():
    """Source texts, then their variants 1, 2, …: an endless stream."""
    k = 0
    while True:
        found = False
        for path in source_files():
            try:
                if path.stat().st_size > FILE_BYTES_MAX:
                    continue
                text = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not text.strip():
                continue
            found = True
            yield variant(text, k)
        if not found:
            return
        k += 1


def collect(total_bytes, skip_bytes=0):
    """Documents (str) from the sources, skipping the first `skip_bytes` bytes' worth."""
    docs, size, skipped = [], 0, 0
    for text in sources():
        raw = text.encode("utf-8")
        if skipped < skip_bytes:
            skipped += len(raw)
            continue
        docs.append(text)
        size += len(raw)
        if size >= total_bytes:
            break
    return docs


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"text": d, "contributor": f"c{i % 97}"}) + "\n")


def word_start(text, i):
    c = text[i]
    if c.isspace():
        return False
    if c.isascii() and c.isalnum():
        return i == 0 or not (text[i - 1].isascii() and text[i - 1].isalnum())
    return True


def make_queries(docs, rng):
    out = []
    while len(out) < QUERIES:
        d = rng.choice(docs)
        if len(d) < 80:
            continue
        i = rng.randrange(0, len(d) - 70)
        if not word_start(d, i):
            continue
        q = d[i : i + rng.randrange(6, 64)]
        if "\n" in q or "\r" in q or q != q.rstrip() or not q:
            continue
        out.append(q)
    return out


FILLER = "zephyr quokka jukebox fjord vortex glyph nymph sphinx waltz crwth".split()


def make_outputs(docs, rng):
    """~1,200-byte outputs: three ~250-byte quotes from random documents and novel filler."""
    outs = []
    while len(outs) < OUTPUTS:
        parts = []
        for _ in range(3):
            d = rng.choice(docs)
            if len(d) < 400:
                continue
            i = rng.randrange(0, len(d) - 300)
            parts.append(d[i : i + 250])
            parts.append(" ".join(rng.choice(FILLER) for _ in range(12)))
        text = " ".join(parts)
        while len(text.encode()) < OUTPUT_BYTES:
            text += " " + rng.choice(FILLER)
        outs.append(text)
    return outs


def run_json_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def dir_bytes(path):
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


def bench_alx(alx, work, corpus, contribution, queries_file, outputs_file, sampling, segment_mib=None, part_mib=None):
    idx = work / f"alx-{sampling}"
    shutil.rmtree(idx, ignore_errors=True)
    t = time.perf_counter()
    cmd = [alx, "--json", "index", "build", "--input", corpus, "--out", idx, "--sampling", sampling.replace("_", "-")]
    if segment_mib:
        cmd += ["--segment-mib", str(segment_mib)]
    if part_mib:
        cmd += ["--part-mib", str(part_mib)]
    build = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    build["wall_seconds"] = time.perf_counter() - t
    counts = run_json_lines([alx, "index", "count", "--index", idx, "--queries", queries_file])
    run_json_lines([alx, "index", "attribute", "--index", idx, "--outputs", outputs_file])  # warm
    attrs = run_json_lines([alx, "index", "attribute", "--index", idx, "--outputs", outputs_file])
    append = json.loads(
        subprocess.run(
            [alx, "--json", "index", "append", "--index", idx, "--input", contribution, "--fan-in", "2"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    shutil.rmtree(idx, ignore_errors=True)
    micros = [c["micros"] for c in counts]
    attr_ms = [a["micros"] / 1000 for a in attrs]
    corpus_bytes = max(1, build["corpus_bytes"])
    return {
        "segments": build["segments"],
        "build_seconds": build["index_seconds"] + build.get("merge_seconds", 0.0),
        "build_sort_seconds": build["index_seconds"],
        "build_merge_seconds": build.get("merge_seconds", 0.0),
        "build_read_seconds": build["read_seconds"],
        "build_peak_rss_per_corpus_byte": (build.get("peak_rss_bytes") or 0) / corpus_bytes,
        "index_bytes_per_corpus_byte": build["index_bytes_per_corpus_byte"],
        "count_us_p50": pct(micros, 0.5),
        "count_us_p99": pct(micros, 0.99),
        "attribute_ms_p50": pct(attr_ms, 0.5),
        "attribute_ms_p99": pct(attr_ms, 0.99),
        "attribute_spans_mean": statistics.mean(len(a["spans"]) for a in attrs),
        "append_10mb_seconds": append["append_seconds"],
        "merge_after_append_seconds": append["merge_seconds"],
        "_counts": [c["count"] for c in counts],
    }


def bench_infini(work, docs, queries, outputs, cpus):
    import infini_gram
    from infini_gram.engine import InfiniGramEngine

    idx = work / "infini"
    shutil.rmtree(idx, ignore_errors=True)
    idx.mkdir(parents=True)
    offsets, pos = [], 0
    with open(idx / "tokenized.0", "wb") as f:
        for d in docs:
            b = d.encode()
            offsets.append(pos)
            f.write(b"\xff" + b)
            pos += 1 + len(b)
    with open(idx / "offset.0", "wb") as f:
        f.write(b"".join(struct.pack("<Q", o) for o in offsets))
    tool = Path(infini_gram.__file__).parent / "rust_indexing"
    ds = idx / "tokenized.0"
    size = ds.stat().st_size
    ratio = max(1, -(-(size - 1).bit_length() // 8))
    hack = 100000
    parts, merged = idx / "parts", idx / "merged"
    parts.mkdir()
    merged.mkdir()
    step = size // cpus
    t = time.perf_counter()
    procs = [
        subprocess.Popen([tool, "make-part", "--data-file", ds, "--parts-dir", parts, "--start-byte", str(i * step),
                          "--end-byte", str(min((i + 1) * step + hack, size)), "--ratio", str(ratio), "--token-width", "1"],
                         stdout=subprocess.DEVNULL)
        for i in range(cpus)
    ]
    assert all(p.wait() == 0 for p in procs)
    subprocess.run([tool, "merge", "--data-file", ds, "--parts-dir", parts, "--merged-dir", merged, "--num-threads",
                    str(cpus), "--hacksize", str(hack), "--ratio", str(ratio), "--token-width", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([tool, "concat", "--data-file", ds, "--merged-dir", merged, "--merged-file", idx / "table.0",
                    "--num-threads", str(cpus), "--ratio", str(ratio), "--token-width", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    build = time.perf_counter() - t
    shutil.rmtree(parts)
    shutil.rmtree(merged)
    corpus_bytes = sum(len(d.encode()) for d in docs)
    eng = InfiniGramEngine(index_dir=str(idx), eos_token_id=254, vocab_size=255, token_dtype="u8")
    counts, micros = [], []
    for q in queries:
        ids = list(q.encode())
        t = time.perf_counter()
        r = eng.count(input_ids=ids)
        micros.append((time.perf_counter() - t) * 1e6)
        counts.append(r["count"])
    attr_ms = []
    for o in outputs + outputs:  # first pass warms the page cache, as for alx
        ids = list(o.encode())
        t = time.perf_counter()
        eng.attribute(input_ids=ids, delim_ids=[], min_len=32, max_cnt=1024, enforce_bow=False)
        attr_ms.append((time.perf_counter() - t) * 1000)
    attr_ms = attr_ms[len(outputs):]
    index_bytes = dir_bytes(idx)
    del eng
    shutil.rmtree(idx, ignore_errors=True)
    return {
        "build_seconds": build,
        "index_bytes_per_corpus_byte": index_bytes / corpus_bytes,
        "count_us_p50": pct(micros, 0.5),
        "count_us_p99": pct(micros, 0.99),
        "attribute_ms_p50": pct(attr_ms, 0.5),
        "attribute_ms_p99": pct(attr_ms, 0.99),
        "_counts": counts,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alx", default="target/release/alx")
    ap.add_argument("--sizes-mb", default="10,100")
    ap.add_argument("--work", default="/tmp/alx-index-bench")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--skip-infini", action="store_true")
    ap.add_argument("--samplings", default="word_starts,every_byte")
    ap.add_argument("--segments", default="1", help="word-start index as these many segments, e.g. 1,10")
    ap.add_argument("--parts", type=int, default=0, help="also build the word-start index in this many parts, merged")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for mb in [int(s) for s in args.sizes_mb.split(",")]:
        rng = random.Random(mb)
        docs = collect(mb * 1_000_000)
        extra = collect(10_000_000, skip_bytes=sum(len(d.encode()) for d in docs))
        corpus, contribution = work / f"corpus-{mb}.jsonl", work / f"contribution-{mb}.jsonl"
        write_jsonl(corpus, docs)
        write_jsonl(contribution, extra)
        queries, outputs = make_queries(docs, rng), make_outputs(docs, rng)
        queries_file, outputs_file = work / f"queries-{mb}.txt", work / f"outputs-{mb}.jsonl"
        queries_file.write_text("\n".join(queries) + "\n", encoding="utf-8")
        write_jsonl(outputs_file, outputs)
        row = {
            "corpus_mb": mb,
            "corpus_bytes": sum(len(d.encode()) for d in docs),
            "documents": len(docs),
            "cores": os.cpu_count(),
        }
        for sampling in args.samplings.split(","):
            row[f"alx_{sampling}"] = bench_alx(args.alx, work, corpus, contribution, queries_file, outputs_file, sampling)
        for n in [int(x) for x in args.segments.split(",") if int(x) > 1]:
            mib = max(1, -(-row["corpus_bytes"] // (n << 20)))
            seg = bench_alx(args.alx, work, corpus, contribution, queries_file, outputs_file, "word_starts", mib)
            one = row.get("alx_word_starts")
            if one:
                seg["counts_agree_with_one_segment"] = seg["_counts"] == one["_counts"]
                seg["count_p50_vs_one_segment"] = seg["count_us_p50"] / one["count_us_p50"]
                seg["attribute_p50_vs_one_segment"] = seg["attribute_ms_p50"] / one["attribute_ms_p50"]
            row[f"alx_word_starts_{n}_segments"] = seg
        if args.parts > 1:
            mib = max(1, -(-row["corpus_bytes"] // (args.parts << 20)))
            merged = bench_alx(args.alx, work, corpus, contribution, queries_file, outputs_file, "word_starts", None, mib)
            one = row.get("alx_word_starts")
            if one:
                merged["counts_agree_with_one_segment"] = merged["_counts"] == one["_counts"]
                merged["count_p50_vs_one_segment"] = merged["count_us_p50"] / one["count_us_p50"]
            row[f"alx_word_starts_{args.parts}_parts_merged"] = merged
        if not args.skip_infini:
            ig = bench_infini(work, docs, queries, outputs, args.cpus)
            exact = row.get("alx_every_byte", {}).get("_counts") == ig["_counts"]
            below = all(a <= b for a, b in zip(row["alx_word_starts"]["_counts"], ig["_counts"]))
            row["counts_agree_every_byte_vs_infini_gram"] = exact
            row["counts_word_starts_at_most_infini_gram"] = below
            row["infini_gram"] = ig
            ours = row["alx_word_starts"]
            row["ratios_word_starts"] = {
                "build_speedup": ig["build_seconds"] / ours["build_seconds"],
                "index_size": ours["index_bytes_per_corpus_byte"] / ig["index_bytes_per_corpus_byte"],
                "count_speedup": ig["count_us_p50"] / ours["count_us_p50"],
                "attribute_speedup": ig["attribute_ms_p50"] / ours["attribute_ms_p50"],
            }
        for v in row.values():
            if isinstance(v, dict):
                v.pop("_counts", None)
        print(json.dumps(row, indent=2), flush=True)
        results.append(row)
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
