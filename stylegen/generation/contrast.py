"""Contrast text for the brand-voice score: the base model's outputs for the approved
records' task prompts (``stylegen voice contrast``), written beside the brand kit.

Both classes of the voice model then talk about the same products, so it has to learn how
the brand writes, not what it writes about (:mod:`stylegen.validation.voice`).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stylegen.generation.engine import derive_seed, Engine, GenRequest, load_engine
from stylegen.kit.brand import BrandKit, load_brand
from stylegen.kit.prompts import parse_completion, render_messages
from stylegen.training.voice_fit import held_out_ids
from stylegen.validation.corpus import task_records
from stylegen.validation.voice import CONTRAST_FILE

def generate_contrast(brand_dir: str | Path, out: str | Path | None = None, data: str | Path | None = None,
                      limit: int | None = None, seed: int | None = None, batch_size: int | None = None,
                      adapter: str | Path | None = None, threads: int | None = None, engine=None,
                      echo=print) -> dict:
    """Write the base model's outputs for the task prompts of the approved records.

    One output per record and task, from the short task prompt, with the brand's sampling
    settings and a seed per record and task. Appends to ``out`` and skips records already
    there, so an interrupted run resumes.

    Args:
        brand_dir: the brand kit.
        out: the JSONL file (default ``voice-model.contrast.jsonl`` in the brand folder).
        data: approved copy (default: brand.yaml ``training.data``).
        limit: only N approved records, held-out records first (see :func:`held_out_ids`).
        seed: sampling seed (default: brand.yaml ``generation.seed``).
        batch_size: prompts per batch (default: brand.yaml ``generation.batch_size``).
        adapter: take the held-out split from this adapter's manifest.
        threads: torch threads (default: the engine's choice, every usable CPU).
        engine: an Engine to use instead of loading the base model (tests).
        echo: progress messages.

    Returns:
        ``{"path", "records", "written", "seconds", "new_tokens"}``.
    """

    brand = load_brand(brand_dir)
    path = Path(out) if out is not None else brand.root / CONTRAST_FILE
    records = _contrast_records(brand, data, adapter, limit)
    done = _ids_in(path)
    todo = [r for r in records if r.id not in done]
    gen = brand.generation
    if todo and engine is None:

        engine = load_engine(brand.model.base_model, dtype=brand.model.dtype, batch_size=batch_size or gen.batch_size,
                             trust_remote_code=brand.model.trust_remote_code, threads=threads)
    run = _ContrastRun(brand=brand, path=path, engine=engine, seed=gen.seed if seed is None else seed,
                       chunk=max(1, (batch_size or gen.batch_size)), echo=echo)
    tokens, seconds = _write_contrast(run, todo)
    return {"path": str(path), "records": len(records), "written": len(todo), "seconds": round(seconds, 1),
            "new_tokens": tokens}


@dataclass
class _ContrastRun:
    """What every chunk of one :func:`generate_contrast` call writes with."""

    brand: BrandKit
    """The loaded brand kit (tasks, sampling settings)."""
    path: Path
    """The contrast JSONL file, appended to."""
    engine: Engine | None
    """The Engine that writes the outputs (None when there is nothing to write)."""
    seed: int
    """Sampling seed; each record and task derives its own from it."""
    chunk: int
    """Records per batch of requests (and per append to ``path``)."""
    echo: Callable[[str], object]
    """Where progress messages go."""


def _contrast_records(brand: BrandKit, data: str | Path | None, adapter: str | Path | None,
                      limit: int | None) -> list:
    """The approved records to write contrast for, held-out records first, up to ``limit``."""
    records, _ = task_records(brand, data)
    held, _ = held_out_ids(brand, [r.id for r in records], adapter)
    # Held-out records first: calibration needs their contrast most when --limit cuts the list.
    records = sorted(records, key=lambda r: r.id not in held)
    return records[:limit] if limit is not None else records


def _write_contrast(run: _ContrastRun, todo: list) -> tuple[int, float]:
    """Generate and append the contrast of ``todo`` chunk by chunk; returns ``(new tokens, seconds)``."""
    started, tokens = time.perf_counter(), 0
    for start in range(0, len(todo), run.chunk):
        part = todo[start:start + run.chunk]
        lines, new = _contrast_chunk(run.brand, part, run.engine, run.seed)
        tokens += new
        with open(run.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
        run.echo(f"contrast: {start + len(part)}/{len(todo)} records,"
                 f" {tokens / (time.perf_counter() - started):.0f} new tokens/s")
    return tokens, time.perf_counter() - started


def _ids_in(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by an interrupted run: that record is generated again
    return ids


def _contrast_chunk(brand, records, engine, seed: int) -> tuple[list[str], int]:

    gen = brand.generation
    keys, requests = [], []
    for rec in records:
        for task in brand.tasks:
            if task in rec.fields:
                prompt = engine.render(render_messages(brand, task, rec.facts or {}))
                requests.append(GenRequest(prompt=prompt, seed=derive_seed(seed, rec.id, task, "contrast"),
                                           max_new_tokens=brand.tasks[task].max_new_tokens, temperature=gen.temperature,
                                           top_p=gen.top_p, repetition_penalty=gen.repetition_penalty,
                                           do_sample=gen.do_sample, key=f"{rec.id}/{task}"))
                keys.append((rec.id, task))
    results = engine.generate(requests)
    out: dict = {}
    for (rid, task), res in zip(keys, results):
        out.setdefault(rid, {"id": rid})[task] = parse_completion(brand, task, res.text)
    lines = [json.dumps({**out[r.id], "note": "contrast: base model, short task prompt, no adapter"},
                        ensure_ascii=False) + "\n" for r in records if r.id in out]
    return lines, sum(r.new_tokens for r in results)
