"""Benchmark: stylegen's generation engine vs a naive loop, on the real default model.

The same prompts (product-description prompts rendered from the sample catalog by the
shared prompt renderer) are generated twice in one run:

* naive: one prompt at a time, float32, ``model.generate`` with sampling;
* stylegen: :class:`stylegen.generation.engine.TransformersEngine` (shared-prefix and length-bucketed
  prefill, batched decoding, bf16 where the CPU supports it, one single-thread batch per
  core, per-row seeded sampling).

Both are forced to produce exactly ``--new-tokens`` tokens per prompt (``min_new_tokens``
= ``max_new_tokens``), so tokens/s compare like with like. Prints tokens/s for both, the
ratio (target: >= 20x on a 2-core CPU) and the peak RSS of the process (target: < 2 GB).

    python benchmarks/bench_generate.py                 # 64 prompts x 64 new tokens
    python benchmarks/bench_generate.py --prompts 128 --batch-size 64
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import stylegen.generation.engine  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads; applies to both loops)


def _prompts(tokenizer, n: int) -> list[str]:
    from stylegen.kit.brand import load_brand
    from stylegen.catalog.rows import read_catalog
    from stylegen.kit.prompts import render_messages, render_prompt

    brand = load_brand(ROOT / "brand")
    rows = read_catalog(ROOT / "catalog" / "sample_catalog.csv", brand.catalog).rows[:n]
    return [render_prompt(tokenizer, render_messages(brand, "description", row.facts)) for row in rows]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def naive(base_model: str, prompts: list[str], new_tokens: int) -> dict:
    """One prompt at a time, float32, plain ``model.generate``."""
    import torch

    from stylegen.models import load_model

    model, tokenizer = load_model(base_model, dtype="float32")
    torch.manual_seed(0)
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, temperature=0.7,
                  top_p=0.9, pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        model.generate(**tokenizer(prompts[0], return_tensors="pt"), **{**kwargs, "max_new_tokens": 4,
                                                                        "min_new_tokens": 4})  # warm-up
        started, cpu, tokens = time.perf_counter(), time.process_time(), 0
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**ids, **kwargs)
            tokens += out.shape[1] - ids["input_ids"].shape[1]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    del model
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_seconds": round(cpu, 2), "tokens_per_cpu_s": round(tokens / cpu, 1)}


def engine_run(base_model: str, prompts: list[str], new_tokens: int, batch_size: int, dtype: str,
               threads: int) -> dict:
    """stylegen's engine on the same prompts."""
    from stylegen.generation.engine import GenRequest, derive_seed, load_engine

    engine = load_engine(base_model, dtype=dtype, batch_size=batch_size, threads=threads)
    reqs = [GenRequest(prompt=p, seed=derive_seed(0, i), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       temperature=0.7, top_p=0.9, repetition_penalty=1.1, key=str(i)) for i, p in enumerate(prompts)]
    engine.generate([GenRequest(prompt=prompts[0], max_new_tokens=4, min_new_tokens=4)])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    results = engine.generate(reqs)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    tokens = sum(r.new_tokens for r in results)
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_seconds": round(cpu, 2), "tokens_per_cpu_s": round(tokens / cpu, 1),
            "settings": engine.describe(), "sample": results[0].text[:200]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both (default: OMP_NUM_THREADS, else every usable CPU)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import torch

    from stylegen.generation.engine import default_threads
    from stylegen.models import load_tokenizer

    threads = args.threads or default_threads()

    prompts = _prompts(load_tokenizer(args.base_model), args.prompts)
    print(f"{len(prompts)} prompts x {args.new_tokens} new tokens, base model {args.base_model}", flush=True)
    ours = engine_run(args.base_model, prompts, args.new_tokens, args.batch_size, args.dtype, threads)
    print(f"stylegen engine: {ours['tokens']} tokens in {ours['seconds']} s = {ours['tokens_per_s']} tokens/s "
          f"({ours['settings']})", flush=True)
    engine_rss = _peak_rss_mb()  # the engine ran first: this is its peak
    torch.set_num_threads(threads)  # the same threads for the naive loop
    base = naive(args.base_model, prompts, args.new_tokens)
    print(f"naive loop (1 prompt at a time, fp32): {base['tokens']} tokens in {base['seconds']} s = "
          f"{base['tokens_per_s']} tokens/s", flush=True)
    load = os.getloadavg()[0]
    print(f"threads {threads}; load average {load:.1f} on {os.cpu_count()} CPUs"
          + (" (shared machine: figures are pessimistic)" if load > os.cpu_count() else ""))
    ratio = ours["tokens_per_s"] / base["tokens_per_s"]
    cpu_ratio = ours["tokens_per_cpu_s"] / base["tokens_per_cpu_s"]
    rss = _peak_rss_mb()
    # On a shared CPU wall time depends on the neighbours; CPU time (both loops use the same
    # threads, OpenMP waits passively) shows the work each loop needs per token.
    print(f"tokens per CPU-second: stylegen {ours['tokens_per_cpu_s']}, naive {base['tokens_per_cpu_s']}"
          f" -> {cpu_ratio:.1f}x")
    print(f"speed-up: {ratio:.1f}x (target >= 20x); peak RSS {engine_rss:.0f} MB during the stylegen engine run,"
          f" {rss:.0f} MB for the whole benchmark (both models loaded in turn) (target < 2048 MB)")
    if args.json:
        args.json.write_text(json.dumps({"naive": base, "stylegen": ours, "ratio": round(ratio, 2),
                                         "cpu_ratio": round(cpu_ratio, 2),
                                         "peak_rss_mb": round(rss), "engine_peak_rss_mb": round(engine_rss)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
