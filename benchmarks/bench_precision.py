"""Benchmark: the shipped adapter's held-out perplexity in float32 and in the int8 engine.

The adapter's held-out copy (``eval_examples.jsonl``, written by training) is scored,
completion tokens only, by the model the engine runs: the adapter merged into float32
weights, then (second arm) those weights quantised to int8
(:mod:`stylegen.generation.precision`). Target: int8 within 2% of float32.

    python benchmarks/bench_precision.py                      # adapters/kettle-cairn
    python benchmarks/bench_precision.py --adapter adapters/kettle-cairn --json /tmp/precision.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def held_out_rows(adapter: Path, tokenizer) -> list[dict]:
    """The adapter's held-out examples, tokenised as training scored them."""
    from stylegen.training.data import tokenize

    rows = []
    for line in (adapter / "eval_examples.jsonl").read_text(encoding="utf-8").splitlines():
        ex = json.loads(line)
        tokens = tokenize(tokenizer, argparse.Namespace(prompt=ex["prompt"], completion=ex["completion"]))
        rows.append({k: tokens[k] for k in ("input_ids", "labels", "attention_mask")})
    return rows


def perplexity(base_model: str, adapter: Path, dtype: str) -> dict:
    """Held-out perplexity under the engine's model in ``dtype`` (float32 or int8)."""
    from stylegen.training.scoring import completion_perplexity
    from stylegen.generation.engine import load_engine

    engine = load_engine(base_model, adapter=str(adapter), dtype=dtype, batch_size=8)
    rows = held_out_rows(adapter, engine.tokenizer)
    result = completion_perplexity(engine.model, rows, engine.tokenizer.pad_token_id, batch_size=8)
    return {**result, "examples": len(rows), "weights": engine.describe()["weights"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", type=Path, default=ROOT / "adapters" / "kettle-cairn")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    fp32 = perplexity(args.base_model, args.adapter, "float32")
    int8 = perplexity(args.base_model, args.adapter, "int8")
    change = int8["perplexity"] / fp32["perplexity"] - 1
    print(f"held-out perplexity ({fp32['examples']} examples, {fp32['tokens']} completion tokens): "
          f"float32 {fp32['perplexity']}, int8 {int8['perplexity']} ({change:+.2%}; target within 2%)")
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"float32": fp32, "int8": int8, "change": round(change, 4)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
