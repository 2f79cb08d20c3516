"""Training throughput, padding and memory of `stylegen train` on the sample data.

Prints, for the sample brand's approved copy rendered with the default model's chat
template:

* the share of padding tokens with the batching `train` uses (transformers'
  LengthGroupedSampler) versus plain random batches padded to their longest example;
* training tokens/s (non-padding tokens) and peak RSS for several precision / LoRA
  placements, each measured in a fresh process over a few optimizer steps;
* with ``--full``: the wall time of 500 examples x 2 epochs with the shipped settings
  (the issue's target: under 10 minutes on 2 cores, peak RSS under 4 GB).

    .venv/bin/python benchmarks/bench_train.py [--steps 12] [--full]

The machine may be shared: tokens/s are a lower bound when other work runs beside it.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name -> (base weights bf16, bf16 autocast, layers_to_transform)
CONFIGS = {
    "fp32": (False, False, None),
    "fp32 weights + bf16 autocast": (False, True, None),
    "bf16 weights + bf16 autocast": (True, True, None),
    "bf16, LoRA on upper 10 layers": (True, True, list(range(20, 30))),
}
SHIPPED = "brand.yaml training settings"


def _examples(n: int | None = None):
    """Tokenized training rows of the sample data (repeated to ``n`` when asked)."""
    from stylegen.kit.brand import load_brand
    from stylegen.training.data import prepare_dataset, tokenize
    from stylegen.models import load_tokenizer
    from stylegen.training.trainer import _row

    brand = load_brand(ROOT / "brand")
    tokenizer = load_tokenizer(brand.model.base_model)
    prepared = prepare_dataset(brand, tokenizer)
    rows = [_row(tokenize(tokenizer, e)) for e in prepared.train]
    if n:
        rows = (rows * (n // len(rows) + 1))[:n]
    return brand, tokenizer, rows


def _measure(name: str, steps: int | None, epochs: float, n: int | None, queue, prepared=None) -> None:
    """Train in this (fresh) process; put tokens/s, wall time and peak RSS on ``queue``."""
    import dataclasses

    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer
    from transformers.trainer_utils import SaveStrategy

    from stylegen.models import resolve_model
    from stylegen.training.collate import CompletionCollator
    from stylegen.training.trainer import _training_args, lora_config

    brand, tokenizer, rows = prepared or _examples(n)  # prepared once in the parent (validation is slow)
    if n:
        rows = (rows * (n // len(rows) + 1))[:n]
    if name == SHIPPED:  # what `stylegen train` does with the brand kit's settings
        from stylegen.models import pick_dtype

        bf16 = pick_dtype(brand.model.dtype) == torch.bfloat16
        bf16_weights, autocast, layers = bf16, bf16, brand.training.layers_to_transform
    else:
        bf16_weights, autocast, layers = CONFIGS[name]
    settings = dataclasses.replace(brand.training, layers_to_transform=layers, num_train_epochs=epochs)
    dtype = torch.bfloat16 if bf16_weights else torch.float32
    model = AutoModelForCausalLM.from_pretrained(resolve_model(brand.model.base_model), dtype=dtype)
    model.config.use_cache = False
    model = get_peft_model(model, lora_config(settings))
    with _tmpdir() as tmp:
        args = _training_args(settings, Path(tmp), autocast, steps, has_eval=False, progress=False)
        args.save_strategy = SaveStrategy.NO
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          data_collator=CompletionCollator(tokenizer.pad_token_id, settings.pad_to_multiple_of))
        start, cpu = time.time(), time.process_time()
        trainer.train()
        wall, cpu = time.time() - start, time.process_time() - cpu
    tokens = trainer.state.num_input_tokens_seen
    queue.put({"name": name, "tokens_per_s": tokens / wall, "wall_s": wall, "steps": trainer.state.global_step,
               "tokens_per_cpu_s": tokens / cpu,
               "examples": len(rows), "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20})


def _tmpdir():
    import tempfile

    return tempfile.TemporaryDirectory(prefix="bench-train-")


def _run(name: str, steps: int | None, prepared, epochs: float = 1.0, n: int | None = None) -> dict:
    ctx = mp.get_context("spawn")  # a fresh process per config: clean peak RSS
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(name, steps, epochs, n, queue, prepared))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def padding_report(rows: list[dict], batch_size: int, seed: int, multiple: int) -> str:
    from stylegen.training.collate import padding_share

    lengths = [len(r["input_ids"]) for r in rows]
    grouped = padding_share(lengths, batch_size, grouped=True, seed=seed, pad_to_multiple_of=multiple)
    plain = padding_share(lengths, batch_size, grouped=False, seed=seed)
    return (f"padding share, {len(rows)} examples, batch {batch_size}: length-grouped, widths rounded to a"
            f" multiple of {multiple} (what train does) {grouped:.1%}  vs  random batches padded to longest"
            f" {plain:.1%}")


def load_report(base_model: str) -> str:
    """Time a load of the (already converted) default model: the target is under 2 s."""
    from stylegen.models import load_model, prepare_model

    prepare_model(base_model)  # converts on the very first run only
    start = time.time()
    load_model(base_model)
    return f"load of {base_model} from the converted cache: {time.time() - start:.2f} s (target < 2 s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per configuration")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--full", action="store_true", help="also time 500 examples x 2 epochs (shipped settings)")
    opts = parser.parse_args()
    import torch

    prepared = _examples()
    brand, _, rows = prepared
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability"
          f" {torch.backends.cpu.get_cpu_capability()}")
    print(padding_report(rows, brand.training.per_device_train_batch_size, brand.training.seed,
                         brand.training.pad_to_multiple_of))
    print(load_report(brand.model.base_model))
    # tokens per CPU-second: what the process got done per second of CPU it was given, a
    # steadier figure than wall-clock tokens/s when other work shares the cores.
    print(f"\n{'configuration':<34} {'tokens/s':>9} {'tok/cpu-s':>9} {'s/step':>7} {'peak RSS':>9}")
    for name in opts.configs:
        r = _run(name, opts.steps, prepared)
        print(f"{name:<34} {r['tokens_per_s']:>9.0f} {r['tokens_per_cpu_s']:>9.0f} {r['wall_s'] / r['steps']:>7.2f}"
              f" {r['peak_rss_gb']:>7.2f} GB", flush=True)
    if opts.full:
        r = _run(SHIPPED, None, prepared, epochs=2.0, n=500)
        verdict = "OK" if r["wall_s"] < 600 and r["peak_rss_gb"] < 4 else "OVER TARGET"
        print(f"\nfull: {r['examples']} examples x 2 epochs ({SHIPPED}): {r['wall_s']:.0f} s,"
              f" {r['tokens_per_s']:.0f} tokens/s, peak RSS {r['peak_rss_gb']:.2f} GB"
              f" [target < 600 s, < 4 GB: {verdict}]")


if __name__ == "__main__":
    main()
