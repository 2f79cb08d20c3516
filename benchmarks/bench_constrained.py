"""Decode-time constraints on this CPU: what each costs per generated token, and what it holds.

    PYTHONPATH=$PWD python benchmarks/bench_constrained.py --rows 8 --json /tmp/constrained.json
    PYTHONPATH=$PWD:/path/to/xgrammar python benchmarks/bench_constrained.py   # libraries on a side path

The same bullet-list requests (the sample brand's ``bullets`` task on the first N catalog
rows, base model + shipped adapter, greedy, one batch) are generated:

* ``plain``: Hugging Face ``generate`` with no logits processor;
* ``stylegen``: stylegen's engine (per-row sampler) without a lexicon;
* ``lexicon``: stylegen's engine with each row's lexicon (``generation.lexicon: category``,
  :mod:`stylegen.generation.lexicon`): a per-row token mask;
* ``xgrammar``: ``xgrammar.contrib.hf.LogitsProcessor`` with a regex of the list shape
  (3 to 5 lines starting with "- "), one compiled grammar per row;
* ``lm-format-enforcer``: its transformers integration with the same regex.

A library that is not importable is reported as such (stylegen does not depend on one:
``pip install --no-deps --target DIR`` and put DIR on PYTHONPATH). Prints, and with
``--json`` writes, per configuration: wall seconds, new tokens, tokens/s, the overhead
against ``plain``, and the share of outputs that parse as 3 to 5 bullets.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BULLETS = r"(- [A-Za-z0-9][^\n]{2,70}\n){2,4}- [A-Za-z0-9][^\n]{2,70}"
SHAPE = re.compile(r"^(- [^\n]{3,80}\n?){3,5}$")


def requests(engine, brand, rows: int, max_new_tokens: int):
    """GenRequests for the bullets task of the first ``rows`` catalog rows, with their lexicons."""
    from stylegen.catalog.rows import read_catalog
    from stylegen.generation.engine import GenRequest
    from stylegen.generation.lexicon import build_lexicon
    from stylegen.kit.prompts import render_messages

    lexicon = build_lexicon(brand)
    catalog = read_catalog(ROOT / "catalog" / "sample_catalog.csv", brand.catalog).rows[:rows]
    return [GenRequest(prompt=engine.render(render_messages(brand, "bullets", row.facts)), seed=i,
                       max_new_tokens=max_new_tokens, do_sample=False, key=row.id,
                       words=lexicon.words_for(row.facts)) for i, row in enumerate(catalog)]


def timed(label: str, fn) -> dict:
    started = time.perf_counter()
    try:
        texts, tokens = fn()
    except ImportError as exc:
        cause = f" (caused by {exc.__context__.__class__.__name__}: {exc.__context__})" if exc.__context__ else ""
        return {"config": label, "available": False, "error": f"{exc.__class__.__name__}: {exc}{cause}"}
    seconds = time.perf_counter() - started
    shaped = sum(bool(SHAPE.match(t.strip() + "\n")) for t in texts) / max(1, len(texts))
    return {"config": label, "available": True, "seconds": round(seconds, 2), "new_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1), "shape_share": round(shaped, 3), "sample": texts[0][:200]}


def hf_generate(engine, reqs, processors_for=None):
    """Plain ``model.generate`` on the batch (left padded), optionally with processors."""
    import torch

    tok = engine.tokenizer
    batch = tok([r.prompt for r in reqs], return_tensors="pt", padding=True, add_special_tokens=False)
    kwargs = {"logits_processor": processors_for(reqs)} if processors_for else {}
    with torch.inference_mode():
        out = engine.model.generate(**batch, max_new_tokens=reqs[0].max_new_tokens, do_sample=False,
                                    eos_token_id=engine.stop_ids, pad_token_id=tok.pad_token_id, **kwargs)
    new = out[:, batch["input_ids"].shape[1]:]
    texts = tok.batch_decode(new, skip_special_tokens=True)
    tokens = int((~torch.isin(new, torch.tensor(engine.stop_ids + [tok.pad_token_id]))).sum())
    return texts, tokens


def xgrammar_processors(engine):
    def build(reqs):
        import xgrammar as xgr
        from xgrammar.contrib.hf import LogitsProcessor

        info = xgr.TokenizerInfo.from_huggingface(engine.tokenizer, vocab_size=engine.model.config.vocab_size)
        compiled = xgr.GrammarCompiler(info).compile_regex(BULLETS)
        return [LogitsProcessor([compiled] * len(reqs))]
    return build


def lmfe_processors(engine):
    def build(reqs):
        from lmformatenforcer import RegexParser
        from lmformatenforcer.integrations.transformers import build_transformers_prefix_allowed_tokens_fn
        from transformers import PrefixConstrainedLogitsProcessor

        fn = build_transformers_prefix_allowed_tokens_fn(engine.tokenizer, RegexParser(BULLETS))
        return [PrefixConstrainedLogitsProcessor(fn, 1)]
    return build


def engine_run(engine, reqs, lexicon: bool):
    from dataclasses import replace

    batch = [r if lexicon else replace(r, words=None) for r in reqs]
    results = engine.generate(batch)
    return [r.text for r in results], sum(r.new_tokens for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--json")
    args = parser.parse_args()
    from stylegen.generation.engine import load_engine
    from stylegen.generation.run import adapter_dir
    from stylegen.kit.brand import load_brand

    brand = load_brand(ROOT / "brand")
    adapter = adapter_dir(brand)
    engine = load_engine(brand.model.base_model, adapter=str(adapter) if adapter else None, dtype="float32",
                         batch_size=args.rows, workers=1)
    reqs = requests(engine, brand, args.rows, args.max_new_tokens)
    engine_run(engine, reqs[:1], lexicon=True)  # warm up: lexicon token ids, first forward
    figures = [timed("plain", lambda: hf_generate(engine, reqs)),
               timed("stylegen", lambda: engine_run(engine, reqs, lexicon=False)),
               timed("lexicon", lambda: engine_run(engine, reqs, lexicon=True)),
               timed("xgrammar", lambda: hf_generate(engine, reqs, xgrammar_processors(engine))),
               timed("lm-format-enforcer", lambda: hf_generate(engine, reqs, lmfe_processors(engine)))]
    base = next(f for f in figures if f["config"] == "plain")
    for f in figures:
        if f["available"]:
            f["overhead_vs_plain"] = round(f["seconds"] / base["seconds"], 2)
            print(f"{f['config']:>20}: {f['seconds']:6.1f} s  {f['tokens_per_s']:6.1f} tok/s  "
                  f"x{f['overhead_vs_plain']:.2f}  shape {f['shape_share']:.0%}")
        else:
            print(f"{f['config']:>20}: not available ({f['error'][:240]})")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "max_new_tokens": args.max_new_tokens,
                                               "figures": figures}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
