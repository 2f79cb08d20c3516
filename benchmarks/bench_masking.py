"""Masked unsupported spans against excluded records (``training.on_invalid``), on one brand kit.

Trains two adapters on the kit's approved copy, identical but for ``on_invalid``:

* ``exclude``: an example with an error-level finding is left out (``max_excluded_share``
  raised to 1 so that the arm always runs);
* ``mask``: the characters such a finding marks carry no loss, the rest of the text still
  teaches the voice (findings without a span still exclude).

Then, for both arms and the base model, on the SAME held-out examples (``--heldout FILE``:
approved copy no arm trained on; default: the kit's own held-out split, which is a hash
of the record id and so the same records for both arms):

* held-out perplexity over every completion token, and over the tokens the mask arm
  would not mask (the unsupported spans left out);
* sampled outputs: ``--samples`` held-out prompts, one sample each at the kit's
  temperature / top_p / repetition penalty (seeded), validated with the kit's rules:
  grounding findings (rules that extend ``grounding``) per output, and the share of
  outputs with at least one.

    .venv/bin/python benchmarks/bench_masking.py --brand /tmp/luma-kit-m \\
        [--heldout FILE] [--max-steps N] [--samples 20] [--seed 0] [--train-seed N] \\
        [--work DIR] [--reuse] [--json OUT]

The machine may be shared: wall times are upper bounds when other work runs beside it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = ("exclude", "mask")


def train_arm(kit: Path, arm: str, out: Path, max_steps: int | None, reuse: bool, seed: int | None) -> dict:
    """Train one arm's adapter into ``out`` (or read its manifest with ``reuse``)."""
    from stylegen.training.adapter import read_manifest
    from stylegen.training.trainer import train

    if reuse and (out / "manifest.json").is_file():
        return read_manifest(out)
    return train(kit, out, max_steps=max_steps, seed=seed, overwrite=True, progress=False, echo=lambda _: None,
                 overrides={"on_invalid": arm, "max_excluded_share": 1.0})


def arm_figures(manifest: dict) -> dict:
    """What an arm trained on, from its manifest."""
    data, training = manifest["data"], manifest["training"]
    masked = data.get("masked_tokens") or {}
    return {"train_examples": data["train_examples"], "eval_examples": data["eval_examples"],
            "excluded": len(data["excluded"]), "masked_tokens": masked.get("total", 0),
            "masked_examples": len(masked.get("examples", [])), "steps": training["global_step"],
            "wall_time_s": training["wall_time_s"],
            "manifest_perplexity": manifest["eval"]["perplexity"].get("adapter", {}).get("perplexity")}


def held_out(brand, tokenizer, path: str | None) -> tuple[list, list, list]:
    """``(examples, records, excluded)`` of the held-out copy, masked as ``on_invalid: mask`` masks it."""
    from stylegen.training.data import data_files, held_out_ids, load_examples
    from stylegen.validation.records import read_records

    files = [Path(path)] if path else data_files(brand.resolve(brand.training.data))
    examples, excluded, _ = load_examples(brand, files, tokenizer, mask=True)
    records = [r for f in files for r in read_records(f, brand)[0] if r.id and r.facts]
    if not path:  # the kit's own split: the held-out side only
        held = held_out_ids([r.id for r in records], brand.training.eval_fraction)
        examples = [e for e in examples if e.record_id in held]
        records = [r for r in records if r.id in held]
        excluded = [x for x in excluded if x.get("id") in held]
    return examples, sorted(records, key=lambda r: r.id), excluded


def token_rows(tokenizer, examples: list) -> dict:
    """Rows scored on every completion token, and on the tokens the mask arm keeps."""
    from stylegen.training.data import tokenize

    keys = ("input_ids", "labels", "attention_mask")
    masked = [tokenize(tokenizer, e) for e in examples]
    whole = [tokenize(tokenizer, dataclasses.replace(e, masked=())) for e in examples]
    return {"all_tokens": [{k: r[k] for k in keys} for r in whole],
            "unmasked_tokens": [{k: r[k] for k in keys} for r in masked]}


def load_arm(info: dict, adapter: Path | None):
    """The base model in fp32, with the adapter when given."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(info["path"])
    return PeftModel.from_pretrained(model, str(adapter)) if adapter else model


def perplexities(model, rows: dict, pad_id: int) -> dict:
    """Perplexity of each row set under ``model``."""
    from stylegen.training.scoring import completion_perplexity

    return {name: completion_perplexity(model, part, pad_id, 8) for name, part in rows.items()}


def sample(model, tokenizer, brand, records: list, n: int, seed: int) -> list[dict]:
    """One sampled output per held-out record (the first ``n``), at the kit's sampling settings."""
    import torch
    from stylegen.kit import prompts

    task = "description" if "description" in brand.tasks else next(iter(brand.tasks))
    gen = brand.generation
    texts = [prompts.render_prompt(tokenizer, prompts.render_messages(brand, task, r.facts)) for r in records[:n]]
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=gen.temperature > 0, temperature=gen.temperature or None,
                             top_p=gen.top_p, repetition_penalty=gen.repetition_penalty,
                             max_new_tokens=brand.tasks[task].max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    outputs = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return [{"id": r.id, "task": task, "text": prompts.parse_completion(brand, task, o)}
            for r, o in zip(records, outputs)]


def claim_figures(brand, records: list, outputs: list[dict]) -> dict:
    """Grounding findings in sampled outputs (rules that extend ``grounding``), per output."""
    from stylegen.validation.records import Record
    from stylegen.validation.validator import Validator

    validator = Validator(brand)
    grounding = {r.id for r in validator.rules if r.extends == "grounding"}
    facts = {r.id: r.facts for r in records}
    checked = [Record(id=o["id"], fields={o["task"]: o["text"]}, facts=facts[o["id"]]) for o in outputs]
    found = [[f for f in fs if f.rule in grounding] for fs in validator.check(checked)]
    for output, findings in zip(outputs, found):
        output["unsupported"] = [f.match or f.message for f in findings]
    n, claims, with_claim = max(len(outputs), 1), sum(map(len, found)), sum(1 for f in found if f)
    return {"outputs": len(outputs), "unsupported_claims": claims, "claims_per_output": round(claims / n, 3),
            "outputs_with_claim": with_claim, "share_with_claim": round(with_claim / n, 3)}


def run(args) -> dict:
    """Train both arms, score them and the base model on the same held-out copy, sample them."""
    from stylegen.kit.brand import load_brand
    from stylegen.models import load_tokenizer, model_info

    brand = load_brand(args.brand)
    info = model_info(brand.model.base_model)
    tokenizer = load_tokenizer(info["path"])
    examples, records, excluded = held_out(brand, tokenizer, args.heldout)
    rows = token_rows(tokenizer, examples)
    result = {"brand": str(args.brand), "heldout": args.heldout or "the kit's held-out split",
              "heldout_examples": len(examples), "heldout_masked_examples": sum(1 for e in examples if e.masked),
              "heldout_left_out": len(excluded), "max_steps": args.max_steps, "samples": args.samples,
              "seed": args.seed, "train_seed": args.train_seed, "arms": {}}
    for arm in (None,) + ARMS:
        started = time.time()
        figures = {}
        if arm:
            figures = arm_figures(train_arm(Path(args.brand), arm, Path(args.work) / arm, args.max_steps, args.reuse,
                                          args.train_seed))
        model = load_arm(info, Path(args.work) / arm if arm else None)
        figures["perplexity"] = perplexities(model, rows, tokenizer.pad_token_id)
        outputs = sample(model, tokenizer, brand, records, args.samples, args.seed)
        figures["claims"] = claim_figures(brand, records, outputs)
        figures["outputs"] = outputs
        figures["bench_s"] = round(time.time() - started, 1)
        result["arms"][arm or "base"] = figures
        print(line(arm or "base", figures), flush=True)
    return result


def line(name: str, figures: dict) -> str:
    """One table row: the arm's held-out perplexities and claim rate."""
    ppl, claims = figures["perplexity"], figures["claims"]
    trained = (f"{figures['train_examples']} train ex., {figures['excluded']} excluded, {figures['masked_tokens']}"
               f" tokens masked, {figures['steps']} steps, {figures['wall_time_s']} s") if "steps" in figures else "-"
    return (f"| {name} | {trained} | {ppl['all_tokens']['perplexity']} | {ppl['unmasked_tokens']['perplexity']} |"
            f" {claims['unsupported_claims']} in {claims['outputs']} ({claims['outputs_with_claim']} outputs) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brand", required=True, help="brand kit folder")
    parser.add_argument("--heldout", help="approved copy no arm trains on [default: the kit's held-out split]")
    parser.add_argument("--max-steps", type=int, help="the same fixed step count for both arms [default: full]")
    parser.add_argument("--samples", type=int, default=20, help="held-out prompts sampled once each")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--train-seed", type=int, help="training seed for both arms [default: training.seed]")
    parser.add_argument("--work", default="/tmp/bench-masking", help="where the two adapters are written")
    parser.add_argument("--reuse", action="store_true", help="score adapters already in --work, do not train")
    parser.add_argument("--json", help="write every figure and sampled output here")
    args = parser.parse_args()
    print("| arm | trained on | held-out ppl, every token | held-out ppl, unmasked tokens |"
          " unsupported claims in samples |\n|---|---|---|---|---|")
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
