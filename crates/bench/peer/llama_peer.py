"""The llama.cpp peer of `alx bench inference`, through llama-cpp-python.

Reads a JSON job from the file named by argv[1]:
  {"model": path, "threads": n, "prompt": [token ids], "decode_tokens": n,
   "perplexity": [token ids], "window": n,
   "contexts": [{"prompt": [token ids], "decode_tokens": n}]}
runs the same measurements as alx-model's benchmark on the same token ids (prefill of the
prompt in one batch, greedy decoding of a fixed number of tokens, perplexity over windows),
decode again after each of the `contexts` prompts, and prints one JSON object. Timings are wall-clock around llama.cpp's decode calls; Python
adds a few tens of microseconds per call (an argmax over the vocabulary in numpy), under 1 % of
a decoded token here. (llama.cpp's own counters, llama_perf_context, read zero through this
binding.)
"""

import json
import math
import sys
import time

import llama_cpp
import numpy as np


def reset(llm):
    llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)


def last_logits(llm):
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


def rate(tokens, seconds):
    return tokens / seconds if seconds > 0 else 0.0


def load(job, n_ctx):
    n_ctx = max(n_ctx, 2048)
    return llama_cpp.Llama(
        model_path=job["model"],
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_threads=job["threads"],
        n_threads_batch=job["threads"],
        verbose=False,
    )


def greedy(llm, count):
    """Decodes `count` tokens greedily after what was fed; returns them and the seconds."""
    generated = []
    nxt = int(np.argmax(last_logits(llm)))
    started = time.perf_counter()
    for _ in range(count):
        generated.append(nxt)
        llm.eval([nxt])
        nxt = int(np.argmax(last_logits(llm)))
    return generated, time.perf_counter() - started


def contexts(job):
    asked = job.get("contexts", [])
    if not asked:
        return []
    llm = load(job, max(len(c["prompt"]) + c["decode_tokens"] for c in asked))
    rows = []
    for c in asked:
        reset(llm)
        llm.eval(c["prompt"])
        generated, seconds = greedy(llm, c["decode_tokens"])
        rows.append({
            "context_tokens": len(c["prompt"]),
            "decode_tokens": len(generated),
            "decode_tokens_per_s": rate(len(generated), seconds),
        })
    return rows


def generation(job):
    llm = load(job, len(job["prompt"]) + job["decode_tokens"])
    prompt = job["prompt"]
    reset(llm)
    started = time.perf_counter()
    llm.eval(prompt)
    prefill_s = time.perf_counter() - started
    generated, decode_s = greedy(llm, job["decode_tokens"])
    text = llm.detokenize(generated).decode("utf-8", errors="replace")
    return {
        "prompt_tokens": len(prompt),
        "prefill_tokens_per_s": rate(len(prompt), prefill_s),
        "decode_tokens": len(generated),
        "decode_tokens_per_s": rate(len(generated), decode_s),
        "decode_text": text,
    }


def perplexity(job):
    tokens, window = job["perplexity"], job["window"]
    if not tokens:
        return {"perplexity_tokens": 0, "perplexity_tokens_per_s": 0.0, "perplexity": 0.0}
    llm = llama_cpp.Llama(
        model_path=job["model"],
        n_ctx=max(window, 16),
        n_batch=window,
        n_ubatch=window,
        n_threads=job["threads"],
        n_threads_batch=job["threads"],
        logits_all=True,
        verbose=False,
    )
    nll, scored, seconds = 0.0, 0, 0.0
    for start in range(0, len(tokens), window):
        chunk = tokens[start : start + window]
        if len(chunk) < 2:
            break
        reset(llm)
        started = time.perf_counter()
        llm.eval(chunk)
        seconds += time.perf_counter() - started
        logits = np.asarray(llm.scores[: len(chunk) - 1], dtype=np.float64)
        peak = logits.max(axis=1, keepdims=True)
        log_z = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
        targets = np.asarray(chunk[1:])
        nll += float((log_z - logits[np.arange(len(targets)), targets]).sum())
        scored += len(targets)
    return {
        "perplexity_tokens": scored,
        "perplexity_tokens_per_s": rate(scored, seconds),
        "perplexity": math.exp(nll / scored) if scored else 0.0,
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    report = {"engine": "llama.cpp", "version": llama_cpp.__version__, "threads": job["threads"]}
    report.update(generation(job))
    report.update(perplexity(job))
    report["contexts"] = contexts(job)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
