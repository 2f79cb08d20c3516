"""``stylegen generate``: the nightly batch job.

For each catalog row and each task of the brand kit (a *field*): render the short task
prompt (the renderer training used), sample ``candidates`` completions with base model +
adapter, validate every candidate with the brand's validators, apply the rules'
deterministic fixes (re-validated by every rule), and keep the best candidate per field
(fewest errors, then warnings, then the most of the product's own facts covered and the
model's own fluency score). A field
whose best candidate still has errors gets another round (fresh seeds; a corrective note
only when ``generation.feedback`` is on), up to ``max_attempts`` rounds. A product is
finished as soon as all its fields are settled: accepted, or quarantined in
``rejects.jsonl`` with every finding. Unusable catalog rows go there too, with the reason.
Every candidate is recorded in the run directory's ledger first, so a re-run of the same
command resumes where it stopped. The engine's batches stay full: a pool tops each call
up with retries of rows in flight and the first round of new rows (:mod:`.pool`).
"""
from __future__ import annotations

import contextlib

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from stylegen.errors import ConfigError
from stylegen.generation.catalog import CatalogReject, CatalogRow, quarantine_instructions, read_catalog
from stylegen.generation.assemble import variants
from stylegen.generation.engine import complete, derive_seed, GenRequest, load_engine, prompt_hash
from stylegen.generation.ledger import append_line, FinishedRow, Ledger, LEDGER_FILE, OUTPUTS, RunLock
from stylegen.generation.pool import Candidate, Job, level_counts, quality_score, RequestPool, RowState
from stylegen.generation.rating import write_rating_sheet
from stylegen.generation.report import write_report
from stylegen.generation.settings import RunSettings, run_settings
from stylegen.kit.brand import BrandKit, load_brand
from stylegen.kit.prompts import parse_completion, render_messages, render_prompt
from stylegen.models import load_tokenizer
from stylegen.training.adapter import adapter_data_drift, adapter_sha256, check_adapter
from stylegen.validation.findings import Finding
from stylegen.validation.fixes import fix_records, FixOutcome
from stylegen.validation.records import Record
from stylegen.validation.validator import Validator
from stylegen.validation.voice import field_text

SETTINGS_FILE = "settings.json"
PROMPTS_FILE = "prompts.jsonl"
FEEDBACK_MAX_CHARS = 300
INTERNAL_RULE = "Stylegen.Internal"  # a check crashed on a candidate: never accepted unchecked

# Builds a request's chat messages from (task, catalog row, corrective note or None).
PromptBuilder = Callable[[str, CatalogRow, "str | None"], list]


@dataclass
class GenerateOptions:
    """What ``stylegen generate`` was asked to do (None: take it from the brand kit)."""

    brand: str = "brand"
    catalog: str = "catalog/sample_catalog.csv"
    out: str = "runs/nightly"
    limit: int | None = None
    dry_run: bool = False
    adapter: str | None = None
    no_adapter: bool = False
    max_reject_rate: float = 1.0
    seed: int | None = None
    batch_size: int | None = None
    max_attempts: int | None = None
    candidates: int | None = None
    progress: bool = True
    runner: str | None = None  # local | ray (stylegen.generation.ray_runner); None: brand.yaml generation.runner
    actors: int = 2  # the Ray runner's actor pool size


@dataclass
class RunSummary:
    """The outcome of one ``generate`` invocation (the whole run so far, after resuming)."""

    out: Path
    rows: int = 0  # rows in scope (catalog rows, up to --limit)
    accepted: int = 0
    rejected: int = 0
    resumed: int = 0  # rows already finished before this invocation
    reject_rate: float = 0.0
    max_reject_rate: float = 1.0
    dry_run: bool = False
    prompts: int = 0
    report: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if not self.dry_run and self.reject_rate > self.max_reject_rate else 0

    def lines(self) -> list[str]:
        """Human summary for the CLI."""
        if self.dry_run:
            return [f"dry run: {self.prompts} prompts for {self.rows} rows written to {self.out / PROMPTS_FILE}"
                    f" ({self.rejected} rows quarantined, listed in {self.out / 'dry-run-rejects.jsonl'})"]
        rate = f"{self.reject_rate:.1%}"
        out = [f"{self.rows} rows: {self.accepted} accepted, {self.rejected} rejected ({rate})"
               + (f"; {self.resumed} were already done" if self.resumed else ""),
               f"run directory: {self.out} (outputs.jsonl, rejects.jsonl, report.md)"]
        if self.exit_code:
            out.append(f"reject rate {rate} is above --max-reject-rate {self.max_reject_rate:.1%}")
        return out


# --- corrective notes -------------------------------------------------------------


def feedback_note(findings, limit: int = FEEDBACK_MAX_CHARS) -> str | None:
    """A short corrective note from a failed attempt's findings, errors first.

    Example: ``Fix: 'best' is hype (KettleCairn.Hype); description too long (120 words, max 110) (Schema.Length)``.
    Capped at ``limit`` characters, so a bad attempt cannot blow up the next prompt.
    """
    order = {"error": 0, "warning": 1, "suggestion": 2}
    parts, seen = [], set()
    for f in sorted(findings, key=lambda f: order.get(f.level, 3)):
        part = f"{f.message.rstrip('.')} ({f.rule})"
        if part not in seen:
            seen.add(part)
            parts.append(part)
    if not parts:
        return None
    note = "Fix: " + "; ".join(parts)
    return note if len(note) <= limit else note[: limit - 3].rsplit(" ", 1)[0] + " ..."



def _task_of(finding, tasks) -> str | None:
    """The task a finding belongs to: its field without an index (``bullets[2]`` -> ``bullets``)."""
    name = (finding.field or "").split("[", 1)[0].split(".", 1)[0]
    return name if name in tasks else None


# --- what a run generates from -------------------------------------------------------


@dataclass
class RunInputs:
    """Everything a run generates from: the brand, its rows, the settings and the prompts.

    ``stylegen generate`` builds it from a catalog file; ``stylegen eval`` builds it from
    held-out approved records and an arm's prompt builder, without any catalog file.
    """

    brand: BrandKit
    settings: RunSettings
    rows: list[CatalogRow]
    rejects: list[CatalogReject] = field(default_factory=list)
    prompts: PromptBuilder | None = None  # None: the brand's short task prompt
    lexicon: object = None  # stylegen.generation.lexicon.Lexicon, built on first use

    def words_for(self, row: CatalogRow) -> frozenset[str] | None:
        """The words a completion for ``row`` may use (None: any; brand.yaml generation.lexicon)."""
        if self.settings.lexicon == "open":
            return None
        if self.lexicon is None:
            from stylegen.generation.lexicon import build_lexicon

            self.lexicon = build_lexicon(self.brand)
        return self.lexicon.words_for(row.facts)

    def compose(self, task: str, row: CatalogRow, note: str | None) -> list:
        if self.prompts is not None:
            return self.prompts(task, row, note)
        return render_messages(self.brand, task, row.facts, feedback=note)


def run_generate(options: GenerateOptions, engine=None) -> RunSummary:
    """Run (or resume) the nightly job described by ``options``.

    Args:
        options: the CLI's options.
        engine: an :class:`~stylegen.generation.engine.Engine` to use instead of loading
            the model (tests pass a :class:`~stylegen.generation.engine.ScriptedEngine`).

    Raises:
        ConfigError / DataError: bad brand kit, catalog, adapter or run directory (exit 2).
        BusyError: another run holds the run directory.
    """
    brand = load_brand(options.brand)
    settings = run_settings(brand, options)
    catalog = read_catalog(options.catalog, brand.catalog)
    rows, rejects = _in_scope(catalog, options.limit)
    settings = settings.replace(catalog=str(catalog.path), catalog_sha256=catalog.sha256)
    rows, talking = quarantine_instructions(rows)  # before the dry run too: its summary counts them
    inputs = RunInputs(brand, settings, rows, rejects + talking)
    if rows:
        inputs.words_for(rows[0])  # a lexicon without approved copy to learn from fails here, before any work
    if brand.model.engine == "vllm" and engine is None and not options.dry_run:
        from stylegen.generation.vllm_engine import import_vllm

        import_vllm()  # no vllm: exit 2 before a run directory is made
    if options.dry_run:  # prompts do not depend on the adapter; the dry run shows every prompt
        return _dry_run_locked(inputs, Path(options.out), engine)
    inputs.settings = _with_adapter(brand, settings, _adapter_dir(brand, options), check=engine is None)
    if (options.runner or brand.generation.runner) == "ray":
        return _run_ray(inputs, options, engine)
    return run_rows(inputs, Path(options.out), engine, progress=options.progress,
                    max_reject_rate=options.max_reject_rate)


def _run_ray(inputs: RunInputs, options: GenerateOptions, engine) -> RunSummary:
    """The Ray Data runner (imported lazily: Ray is an optional extra)."""
    from stylegen.generation.ray_runner import run_rows_ray

    factory = engine if callable(engine) and not hasattr(engine, "generate") else None
    return run_rows_ray(inputs, Path(options.out), factory, options.actors, options.max_reject_rate)


def _with_adapter(brand, settings: RunSettings, adapter: Path | None, check: bool) -> RunSettings:
    """The settings with the adapter's path, hash and data drift (checked before any model loads)."""
    drift = None
    if adapter is not None and check:
        check_adapter(adapter, settings.base_model)
        drift = _adapter_drift(adapter, brand)
    return settings.replace(adapter=str(adapter) if adapter else None, adapter_sha256=adapter_sha256(adapter),
                            adapter_data_drift=drift)


def run_rows(inputs: RunInputs, out: Path, engine=None, progress: bool = True,
             max_reject_rate: float = 1.0) -> RunSummary:
    """Generate, validate and finish ``inputs.rows`` into the run directory ``out`` (resumable).

    Args:
        inputs: brand, settings, rows and prompt builder.
        out: the run directory (created; a second run on it at the same time is refused).
        engine: the engine to use; None loads the settings' base model + adapter.
        progress: show a progress bar.
        max_reject_rate: the summary's exit code is 1 above this share of quarantined rows.
    """
    validator = Validator(inputs.brand)  # rule problems surface before any work is done
    with locked_run_dir(out):
        return _run_locked(inputs, out, engine, validator, progress, max_reject_rate)


def _resume(ledger, out: Path, inputs: RunInputs) -> tuple[list, int]:
    """Reconcile the ledger with the output files, write the catalog rejects not yet
    written, and return the rows still to generate and how many rows were already done."""
    ledger.reconcile(out)
    done = ledger.finished_keys()
    keys = [r.id for r in inputs.rows] + [r.key for r in inputs.rejects]
    resumed = sum(1 for key in keys if key in done)
    _finish(ledger, out, [_catalog_reject(r) for r in inputs.rejects if r.key not in done])
    return [r for r in inputs.rows if r.id not in done], resumed


@contextlib.contextmanager
def locked_run_dir(out: Path):
    """The run directory, checked, created and held under its lock (local and Ray runners)."""
    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    try:
        yield out
    finally:
        lock.release()


def _run_locked(inputs: RunInputs, out: Path, engine, validator, progress: bool, max_rate: float) -> RunSummary:
    ledger = Ledger(out / LEDGER_FILE)
    try:
        _check_identity(ledger, inputs.settings, out)
        ledger.start_session(inputs.settings.to_dict())
        _write_settings(out, inputs.settings)
        todo, resumed = _resume(ledger, out, inputs)
        if todo:
            engine = engine or _load_engine(inputs.brand, inputs.settings)
        _store_identity(ledger, inputs.settings)  # only once the model and adapter loaded
        if todo:
            inputs.settings = inputs.settings.replace(engine=engine.describe())
            _write_settings(out, inputs.settings)
            _generate(inputs, todo, _Sinks(ledger, out, engine, validator), progress)
        ledger.end_session()
        return _summarize(ledger, out, inputs, len(inputs.rows) + len(inputs.rejects), resumed, max_rate)
    finally:
        ledger.close()


def _write_settings(out: Path, settings: RunSettings) -> None:
    (out / SETTINGS_FILE).write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n",
                                     encoding="utf-8")


def _in_scope(catalog, limit: int | None):
    """The catalog rows this run covers: the first ``limit`` rows by line (all when None)."""
    if limit is None:
        return catalog.rows, catalog.rejects
    if limit < 0:
        raise ConfigError(f"--limit must be 0 or more (got {limit})")
    lines = sorted([r.line for r in catalog.rows] + [r.line for r in catalog.rejects])[:limit]
    last = lines[-1] if lines else 0
    return [r for r in catalog.rows if r.line <= last], [r for r in catalog.rejects if r.line <= last]


def adapter_dir(brand, adapter: str | None = None, no_adapter: bool = False) -> Path | None:
    """The adapter folder to use, or None for prompt-only; explains how to get a missing one.

    Args:
        brand: the brand kit (its ``model.adapter`` is the default).
        adapter: an explicit adapter folder (``--adapter``), taking precedence.
        no_adapter: prompt-only on the base model.
    """
    if no_adapter:
        return None
    if adapter:
        path, origin = Path(adapter), "--adapter"
    elif brand.model.adapter:
        path, origin = brand.resolve(brand.model.adapter), f"{brand.file}: model.adapter"
    else:
        return None
    if not path.is_dir():
        raise ConfigError(f"adapter folder not found: {path} (from {origin}). Train it with "
                          f"`stylegen train --brand {brand.root}` (it writes model.adapter), point --adapter at"
                          " a trained adapter, or run prompt-only with --no-adapter")
    return path.resolve()


def _adapter_dir(brand, options: GenerateOptions) -> Path | None:
    return adapter_dir(brand, options.adapter, options.no_adapter)


def _adapter_drift(adapter: Path, brand) -> str | None:
    """Warn (not refuse) when the adapter was trained on older approved copy."""
    import warnings

    drift = adapter_data_drift(adapter, brand)
    if drift:
        warnings.warn(drift, stacklevel=3)
    return drift


def _check_identity(ledger: Ledger, settings: RunSettings, out: Path) -> None:
    stored = ledger.get_meta("identity")
    if stored is None:
        return  # a new run directory: the identity is stored by _store_identity after the load
    if "brands" in stored:
        raise ConfigError(f"{out}: this run directory holds a multi-brand run; resume it with the same"
                          " `stylegen generate --runs FILE`, or use a new --out")
    changed = settings.changed_from(stored)
    if changed:
        raise ConfigError(f"{out}: this run directory was started with different settings ({', '.join(changed)}"
                          " changed); resume it with the same brand kit, catalog, adapter and flags, or use a"
                          " new --out")


def _store_identity(ledger: Ledger, settings: RunSettings) -> None:
    """Record a new run directory's identity; a start that failed to load leaves none behind,
    so the rerun after a repaired adapter is not refused as "adapter_sha256 changed"."""
    if ledger.get_meta("identity") is None:
        ledger.set_meta("identity", settings.identity())


def _load_engine(brand, settings: RunSettings):
    if brand.model.engine == "vllm":
        return _load_vllm_engine(brand, settings)
    return load_engine(settings.base_model, adapter=settings.adapter, dtype=brand.model.dtype,
                       batch_size=settings.batch_size, trust_remote_code=brand.model.trust_remote_code)


def _load_vllm_engine(brand, settings: RunSettings):
    """brand.yaml ``model.engine: vllm``: the GPU path, with the adapter as a LoRA request.

    Raises:
        ConfigError: vllm is not installed (exit 2, naming the extra).
    """
    from stylegen.generation.vllm_engine import import_vllm, VLLMEngine
    from stylegen.models import resolve_model

    import_vllm()  # before the model is resolved: the missing extra is the error to report
    adapters = {"brand": str(settings.adapter)} if settings.adapter else {}
    return VLLMEngine(str(resolve_model(settings.base_model)), adapters=adapters, dtype=brand.model.dtype)


# --- generating ------------------------------------------------------------------


@dataclass
class _Sinks:
    """Where a run's work goes and what it runs on: ledger, run directory, engine, validator."""

    ledger: Ledger
    out: Path
    engine: object
    validator: Validator
    tokens: int = 0


def _generate(inputs: RunInputs, rows: list[CatalogRow], sinks: _Sinks, progress: bool) -> None:
    """Run the pool until every row is finished; each row is committed as soon as it is."""
    from tqdm import tqdm

    settings = inputs.settings
    capacity = settings.batch_size * len(settings.tasks)
    pool = RequestPool(rows, list(settings.tasks), settings.candidates, capacity, assembled=settings.assemble,
                       variants=assembled_variants(settings), fallback=settings.fallback)
    passed = finished = 0
    started = time.perf_counter()
    with tqdm(total=len(rows), unit="row", desc="generate", disable=not progress, mininterval=1.0,
              dynamic_ncols=True) as bar:
        while pool:
            jobs = pool.take()
            if not jobs:
                break
            done = _step(inputs, pool, jobs, sinks)
            finished += len(done)
            passed += sum(1 for f in done if f.status == "accepted")
            elapsed = max(1e-9, time.perf_counter() - started)
            bar.set_postfix(accepted=f"{passed / max(1, finished):.0%}", tok_s=f"{sinks.tokens / elapsed:.0f}",
                            refresh=False)
            bar.update(len(done))


def _step(inputs: RunInputs, pool: RequestPool, jobs: list[Job], sinks: _Sinks) -> list[FinishedRow]:
    """One engine call: generate ``jobs``, validate and fix, record, settle and finish rows."""
    requests, notes = _requests(inputs, pool, jobs, sinks.engine)
    results = complete(sinks.engine, requests)
    finished = _absorb(inputs, pool, jobs, requests, notes, results, sinks)
    _finish(sinks.ledger, sinks.out, finished)
    return finished


def _absorb(inputs: RunInputs, pool: RequestPool, jobs: list[Job], requests: list, notes: list, results: list,
            sinks: _Sinks) -> list[FinishedRow]:
    """Validate and fix the completions of ``jobs``, record them, settle fields, schedule retries.

    Returns the rows this call finished (not yet committed: the caller passes them to
    :func:`_finish`). A multi-brand run calls it once per brand on its share of one
    mixed engine call (:mod:`.multi`).
    """
    settings = inputs.settings
    sinks.tokens += sum(r.new_tokens for r in results)
    candidates, validate_s = _candidates(inputs, pool, jobs, results, sinks.validator)
    rows_out = []
    for job, req, res, note, cand in zip(jobs, requests, results, notes, candidates):
        pool.add(job, cand)
        rows_out.append(_ledger_row(settings, job, req, res, note, cand, validate_s / max(1, len(jobs))))
    sinks.ledger.record_attempts(rows_out)
    touched = list(dict.fromkeys(job.row_id for job in jobs))
    settled = pool.pop_settled(touched, settings.max_attempts)
    pool.schedule_retries([rid for rid in touched if rid in pool.states], settings.max_attempts)
    return _outcomes(inputs.brand, settings, settled, sinks.validator)


def _requests(inputs: RunInputs, pool: RequestPool, jobs: list[Job], engine,
              adapter: str | None = None) -> tuple[list, list]:
    """The engine requests for ``jobs`` (and the corrective note each carries, if any).

    ``adapter`` names the engine's adapter for these requests (a multi-brand run; None:
    the engine's own model).
    """
    settings = inputs.settings
    requests, notes, words = [], [], {}
    for job in jobs:
        state = pool.states[job.row_id]
        if job.row_id not in words:  # one set per row: the engine caches its token ids by it
            words[job.row_id] = inputs.words_for(state.row)
        note = _note(state, job) if settings.feedback else None
        attempt = job.attempt(settings.candidates)
        prompt = engine.render(inputs.compose(job.task, state.row, note))
        # assembled copy is scored against the same task prompt the model would answer
        text = _assembled_texts(settings, state.row, job.task)[job.index] if job.assembled else None
        requests.append(GenRequest(prompt=prompt, seed=derive_seed(settings.seed, job.row_id, job.task, attempt),
                                   max_new_tokens=settings.tasks[job.task].max_new_tokens,
                                   key=f"{job.row_id}/{job.task}", words=words[job.row_id], adapter=adapter,
                                   text=text, **settings.sampling.as_kwargs()))
        notes.append(note)
    return requests, notes


def _assembled_texts(settings: RunSettings, row: CatalogRow, task: str) -> list[str]:
    """The distinct assembled texts of a (row, task): job ``index`` gets text ``index``."""
    return variants(row.facts, task, settings.tasks[task].kind, settings.candidates)


def assembled_variants(settings: RunSettings):
    """The pool's ``variants`` callback: how many distinct assembled texts a (row, task) has."""
    return lambda row, task: len(_assembled_texts(settings, row, task))


def _note(state: RowState, job: Job) -> str | None:
    """The corrective note for a retry: the findings of the field's best candidate so far."""
    best = state.fields[job.task].best()
    return feedback_note(best.findings) if best is not None and job.round > 1 else None


def _candidates(inputs: RunInputs, pool: RequestPool, jobs: list[Job], results, validator) -> tuple[list, float]:
    """Parse, validate and fix every job's completion; one :class:`Candidate` per job.

    A row's candidates are validated as whole records: slot ``k`` holds the ``k``-th
    candidate of each field this call generated for the row, and the best value so far of
    the row's other fields (so record-level rules see a complete product).
    """
    brand, settings = inputs.brand, inputs.settings
    values = [parse_completion(brand, job.task, res.text) for job, res in zip(jobs, results)]
    slots: dict[tuple[str, int], dict] = {}
    seen: dict[tuple[str, str], int] = {}
    placement = []
    for i, job in enumerate(jobs):
        k = seen.get((job.row_id, job.task), 0)
        seen[(job.row_id, job.task)] = k + 1
        slots.setdefault((job.row_id, k), {})[job.task] = i
        placement.append((job.row_id, k))
    keys = list(slots)
    records = [_slot_record(pool.states[rid], slots[(rid, k)], values, settings) for rid, k in keys]
    started = time.perf_counter()
    checked = _check_and_fix(validator, records, settings.fixes)
    seconds = time.perf_counter() - started
    by_slot = dict(zip(keys, checked))
    out = []
    for i, (job, res) in enumerate(zip(jobs, results)):
        outcome = by_slot[placement[i]]
        value = outcome.record.fields.get(job.task)
        findings = [f for f in outcome.findings if _task_of(f, settings.tasks) == job.task]
        fixes = [fx for fx in outcome.fixes if fx.field.split("[", 1)[0] == job.task]
        out.append(Candidate(attempt=job.attempt(settings.candidates), round=job.round, value=value, text=res.text,
                             findings=findings, fixes=fixes,
                             quality=quality_score(field_text(value), pool.states[job.row_id].row.facts,
                                                   getattr(res, "mean_logprob", None))))
    return out, seconds


def _slot_record(state: RowState, slot: dict, values: list, settings: RunSettings) -> Record:
    fields = {}
    for task in settings.tasks:
        if task in slot:
            fields[task] = values[slot[task]]
        else:
            best = state.fields[task].best()
            fields[task] = best.value if best is not None else None
    return Record(id=state.row.id, fields={k: v for k, v in fields.items() if v is not None}, facts=state.row.facts)


def _check_and_fix(validator: Validator, records: list[Record], fixes: bool) -> list:
    """Validate ``records`` (batched) and, when on, apply the rules' fixes and re-validate.

    A fixer failure on one record must not stop the night: the batch is retried one record
    at a time, and a record whose fixing still fails keeps its unfixed text and findings
    (a warning names it, so the bug gets reported).
    """
    findings = _check_isolated(validator, records)
    if not fixes:
        return [FixOutcome(r, f) for r, f in zip(records, findings)]
    try:
        return fix_records(validator, records, findings)
    except Exception:  # noqa: BLE001 - isolate the failing record below
        return [_fix_one(validator, r, f) for r, f in zip(records, findings)]


def _check_isolated(validator: Validator, records: list[Record]) -> list[list]:
    """``validator.check`` on the batch; when it fails, one record at a time, so a record
    that crashes a check gets an error finding (and is quarantined) instead of stopping the
    night, and every other record is still checked."""
    try:
        return validator.check(records)
    except Exception:  # noqa: BLE001 - isolate the failing record below
        return [_check_one(validator, record) for record in records]


def _check_one(validator: Validator, record: Record) -> list:
    try:
        return validator.check([record])[0]
    except Exception as exc:  # noqa: BLE001 - reported as a finding on the row
        return [Finding(INTERNAL_RULE, "error", f"a check failed on this copy ({exc.__class__.__name__}: {exc});"
                        " the candidate cannot be accepted unchecked", id=record.id, field=field)
                for field in record.fields]


def _fix_one(validator: Validator, record: Record, findings: list):
    import warnings

    try:
        return fix_records(validator, [record], [findings])[0]
    except Exception as exc:  # noqa: BLE001 - the unfixed candidate is still a valid result
        warnings.warn(f"{record.id}: the fixer failed ({exc.__class__.__name__}: {exc}); kept the unfixed text",
                      stacklevel=2)
        return FixOutcome(record, findings)


def _ledger_row(settings: RunSettings, job: Job, req, res, note, cand: Candidate, validate_s: float) -> dict:
    counts = level_counts(cand.findings)
    return {"row_key": job.row_id, "task": job.task, "attempt": cand.attempt, "seed": req.seed,
            "prompt_hash": prompt_hash(req.prompt), "adapter_hash": settings.adapter_sha256,
            "prompt": req.prompt, "feedback": note, "text": res.text,
            "findings": json.dumps([f.to_dict() for f in cand.findings]), "errors": counts["error"],
            "warnings": counts["warning"], "suggestions": counts["suggestion"],
            "prompt_tokens": res.prompt_tokens, "new_tokens": res.new_tokens,
            "gen_seconds": res.seconds, "validate_seconds": validate_s,
            "round": job.round, "candidate": job.index, "quality": round(cand.quality, 4),
            "source": "assembled" if job.assembled else "model",
            "fixes": json.dumps([fx.to_dict() for fx in cand.fixes]) if cand.fixes else None}


def _outcomes(brand, settings: RunSettings, states: list[RowState], validator) -> list[FinishedRow]:
    """Assemble the best candidate per field, validate the final records, accept or reject each."""
    if not states:
        return []
    best = [{task: s.fields[task].best() for task in settings.tasks} for s in states]
    records = [Record(id=s.row.id, fields={t: c.value for t, c in b.items() if c.value is not None},
                      facts=s.row.facts) for s, b in zip(states, best)]
    return [_outcome(s, b, findings) for s, b, findings in zip(states, best, _check_isolated(validator, records))]


def _outcome(state: RowState, best: dict, findings) -> FinishedRow:
    row = state.row
    errors = [f for f in findings if f.level == "error"]
    attempts = {task: len(f.candidates) for task, f in state.fields.items()}
    first_pass = all(any(c.passed for c in f.candidates if c.round == 1) for f in state.fields.values())
    payload = {"id": row.id, "fields": {t: c.value for t, c in best.items()}, "attempts": attempts,
               "best_attempt": {task: c.attempt for task, c in best.items()}}
    fixes = {task: [fx.to_dict() for fx in c.fixes] for task, c in best.items() if c.fixes}
    if fixes:
        payload["fixes"] = fixes
    if row.notes:
        payload["notes"] = row.notes
    if errors:
        rules = sorted({f.rule for f in errors})
        payload.update(line=row.line, source="validation", findings=[f.to_dict() for f in findings],
                       reason=f"{len(errors)} error-level finding(s) after {max(attempts.values())} attempt(s):"
                              f" {', '.join(rules)}",
                       attempt_findings=_attempt_findings(state))
        status = "rejected"
    else:
        rules = []
        payload["warnings"] = [f.to_dict() for f in findings]
        status = "accepted"
    return FinishedRow(row.id, row.id, row.line, status, "validation", sum(attempts.values()),
                       first_pass and not errors, rules, json.dumps(payload, ensure_ascii=False))


def _attempt_findings(state: RowState) -> dict:
    """Every candidate's findings per task, for the person reviewing a reject."""
    return {task: [{"attempt": c.attempt, "findings": [f.to_dict() for f in c.findings]} for c in f.candidates]
            for task, f in state.fields.items()}


def _catalog_reject(reject) -> FinishedRow:
    payload = {"id": reject.id, "line": reject.line, "reason": reject.reason, "source": "catalog",
               "findings": [{"rule": "Stylegen.Input", "level": "error", "message": reject.reason,
                             "line": reject.line, **({"id": reject.id} if reject.id else {})}]}
    return FinishedRow(reject.key, reject.id, reject.line, "rejected", "catalog", 0, False, ["Stylegen.Input"],
                       json.dumps(payload, ensure_ascii=False))


def _finish(ledger: Ledger, out: Path, finished: list[FinishedRow]) -> None:
    """Commit outcomes to the ledger first, then append each line to its file."""
    if not finished:
        return
    ledger.finish_rows(finished)
    for row in finished:
        append_line(out / OUTPUTS[row.status], row.payload)


# --- dry run and summary -----------------------------------------------------------


def _dry_run_locked(inputs: RunInputs, out: Path, engine) -> RunSummary:
    """The dry run under the run directory's lock: it refuses a directory a live run holds."""
    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    try:
        return _dry_run(inputs, out, engine)
    finally:
        lock.release()


def _check_out_dir(out: Path) -> None:
    """Refuse an output path that cannot be a run directory before any work is done."""
    from stylegen.errors import ConfigError
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the run directory (-o/--out) is an existing file, not a folder")


def _dry_run(inputs: RunInputs, out: Path, engine) -> RunSummary:
    """Render every first-attempt prompt to ``prompts.jsonl``; nothing is generated."""
    settings = inputs.settings
    render = engine.render if engine is not None else _tokenizer_renderer(settings.base_model)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in inputs.rows:
        for task in settings.tasks:
            prompt = render(inputs.compose(task, row, None))
            lines.append(json.dumps({"id": row.id, "task": task, "seed": derive_seed(settings.seed, row.id, task, 1),
                                     "prompt_hash": prompt_hash(prompt), "prompt": prompt}, ensure_ascii=False))
    (out / PROMPTS_FILE).write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    (out / "dry-run-rejects.jsonl").write_text(
        "".join(_catalog_reject(r).payload + "\n" for r in inputs.rejects), encoding="utf-8")
    (out / "dry-run-settings.json").write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
    return RunSummary(out=out, rows=len(inputs.rows) + len(inputs.rejects), rejected=len(inputs.rejects),
                      dry_run=True, prompts=len(lines))


def _tokenizer_renderer(base_model: str):
    tokenizer = load_tokenizer(base_model)
    return lambda messages: render_prompt(tokenizer, messages)


def _summarize(ledger: Ledger, out: Path, inputs: RunInputs, in_scope: int, resumed: int,
               max_rate: float) -> RunSummary:
    report = write_report(out, ledger, inputs.settings.to_dict())
    write_rating_sheet(out, ledger, inputs.brand, {r.id: r.facts for r in inputs.rows}, seed=inputs.settings.seed)
    accepted, rejected = report["rows"]["accepted"], report["rows"]["rejected"]
    total = accepted + rejected
    return RunSummary(out=out, rows=in_scope, accepted=accepted, rejected=rejected, resumed=resumed,
                      reject_rate=rejected / total if total else 0.0, max_reject_rate=max_rate, report=report)
