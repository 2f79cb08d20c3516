"""``stylegen generate``: the nightly batch job.

For each catalog row and each task of the brand kit: render the task prompt (the same
renderer training used), generate with base model + adapter, assemble the record, and
check it with the brand's validators. A task whose output has error-level findings is
retried (new seed, and a short corrective note built from the findings) up to
``max_attempts``; the best attempt per task (fewest and mildest findings) is kept. A
product whose final record still has errors goes to ``rejects.jsonl`` with every finding;
unusable catalog rows go there too, with the reason. Everything is recorded in the run
directory's ledger first, so a re-run of the same command resumes where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from stylegen import __version__
from stylegen.errors import ConfigError
from stylegen.generation.catalog import read_catalog
from stylegen.generation.engine import derive_seed, GenRequest, load_engine, prompt_hash
from stylegen.generation.ledger import append_line, FinishedRow, Ledger, LEDGER_FILE, OUTPUTS, RunLock
from stylegen.generation.report import write_report
from stylegen.kit.brand import load_brand
from stylegen.kit.prompts import parse_completion, render_messages, render_prompt
from stylegen.models import load_tokenizer, weights_sha256
from stylegen.training.adapter import adapter_data_drift, check_adapter
from stylegen.validation.records import Record
from stylegen.validation.validator import Validator


SETTINGS_FILE = "settings.json"
PROMPTS_FILE = "prompts.jsonl"
FEEDBACK_MAX_CHARS = 300
# Settings that change what a row gets: a run directory refuses to resume with others.
_IDENTITY = ("brand_fingerprint", "catalog_sha256", "base_model", "adapter_sha256", "seed", "max_attempts",
             "tasks", "sampling")


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
    progress: bool = True
    # Builds the chat messages for (task, catalog row, feedback note); None: the brand's
    # short task prompt. `stylegen eval` passes its arms' prompts here.
    messages: Callable | None = None


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
            return [f"dry run: {self.prompts} prompts for {self.rows} rows written to {self.out / PROMPTS_FILE}"]
        rate = f"{self.reject_rate:.1%}"
        out = [f"{self.rows} rows: {self.accepted} accepted, {self.rejected} rejected ({rate})"
               + (f"; {self.resumed} were already done" if self.resumed else ""),
               f"run directory: {self.out} (outputs.jsonl, rejects.jsonl, report.md)"]
        if self.exit_code:
            out.append(f"reject rate {rate} is above --max-reject-rate {self.max_reject_rate:.1%}")
        return out


# --- the per-task attempt bookkeeping -----------------------------------------------


@dataclass
class _Attempt:
    number: int
    value: object  # parsed output (str, or list for list tasks)
    text: str
    findings: list  # Finding objects for this task's field
    ledger: dict  # the ledger columns of this attempt

    def severity(self) -> tuple:
        """Sort key: fewer errors, then fewer warnings, then fewer suggestions, then earlier."""
        counts = _counts(self.findings)
        return counts["error"], counts["warning"], counts["suggestion"], self.number


@dataclass
class _TaskState:
    attempts: list[_Attempt] = field(default_factory=list)

    def best(self) -> _Attempt:
        return min(self.attempts, key=_Attempt.severity)

    def passed(self) -> bool:
        return bool(self.attempts) and _counts(self.best().findings)["error"] == 0


def _counts(findings) -> dict:
    counts = {"error": 0, "warning": 0, "suggestion": 0}
    for f in findings:
        counts[f.level] = counts.get(f.level, 0) + 1
    return counts


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


# --- the run ---------------------------------------------------------------------


def run_generate(options: GenerateOptions, engine=None) -> RunSummary:
    """Run (or resume) the nightly job described by ``options``.

    Args:
        options: the CLI's options.
        engine: an :class:`~stylegen.generation.engine.Engine` to use instead of loading the model
            (tests pass a :class:`~stylegen.generation.engine.ScriptedEngine`).

    Raises:
        ConfigError / DataError: bad brand kit, catalog, adapter or run directory (exit 2).
        BusyError: another run holds the run directory.
    """

    brand = load_brand(options.brand)
    settings = _settings(brand, options)
    catalog = read_catalog(options.catalog, brand.catalog)
    rows, rejects = _in_scope(catalog, options.limit)
    settings.update(catalog=str(catalog.path), catalog_sha256=catalog.sha256)
    out = Path(options.out)
    if options.dry_run:  # prompts do not depend on the adapter
        return _dry_run(brand, settings, rows, rejects, out, engine, _composer(brand, options))
    adapter = _adapter_dir(brand, options)
    if adapter is not None and engine is None:
        _check_adapter(adapter, settings["base_model"])
        settings["adapter_data_drift"] = _adapter_drift(adapter, brand)
    settings.update(adapter=str(adapter) if adapter else None, adapter_sha256=_adapter_hash(adapter))

    validator = Validator(brand)  # rule problems surface before any work is done
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    try:
        return _run_locked(brand, settings, rows, rejects, out, engine, validator, options)
    finally:
        lock.release()


def _run_locked(brand, settings, rows, rejects, out: Path, engine, validator, options) -> RunSummary:
    ledger = Ledger(out / LEDGER_FILE)
    try:
        _check_identity(ledger, settings, out)
        ledger.start_session(settings)
        _write_settings(out, settings)
        ledger.reconcile(out)
        done = ledger.finished_keys()
        resumed = sum(1 for key in [r.id for r in rows] + [r.key for r in rejects] if key in done)
        _finish(ledger, out, [_catalog_reject(r) for r in rejects if r.key not in done])
        todo = [r for r in rows if r.id not in done]
        if todo:
            engine = engine or _load_engine(brand, settings)
            settings["engine"] = engine.describe()
            _write_settings(out, settings)
            _generate_rows(brand, settings, todo, ledger, out, engine, validator, options.progress,
                           _composer(brand, options))
        ledger.end_session()
        return _summarize(ledger, out, settings, len(rows) + len(rejects), resumed, options.max_reject_rate)
    finally:
        ledger.close()


def _write_settings(out: Path, settings: dict) -> None:
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _settings(brand, options: GenerateOptions) -> dict:
    """The effective settings: the brand kit's, overridden by command-line flags."""

    gen = brand.generation
    return {
        "stylegen_version": __version__,
        "brand": str(brand.file), "brand_fingerprint": brand.fingerprint(),
        "base_model": brand.model.base_model, "dtype": brand.model.dtype,
        "seed": gen.seed if options.seed is None else options.seed,
        "max_attempts": gen.max_attempts if options.max_attempts is None else options.max_attempts,
        "batch_size": gen.batch_size if options.batch_size is None else options.batch_size,
        "sampling": {"temperature": gen.temperature, "top_p": gen.top_p,
                     "repetition_penalty": gen.repetition_penalty, "do_sample": gen.do_sample},
        "feedback": gen.feedback,
        "tasks": {name: {"prompt": t.prompt, "kind": t.kind, "max_new_tokens": t.max_new_tokens}
                  for name, t in brand.tasks.items()},
        "limit": options.limit, "max_reject_rate": options.max_reject_rate,
    }


def _in_scope(catalog, limit: int | None):
    """The catalog rows this run covers: the first ``limit`` rows by line (all when None)."""
    if limit is None:
        return catalog.rows, catalog.rejects
    if limit < 0:
        raise ConfigError(f"--limit must be 0 or more (got {limit})")
    lines = sorted([r.line for r in catalog.rows] + [r.line for r in catalog.rejects])[:limit]
    last = lines[-1] if lines else 0
    return [r for r in catalog.rows if r.line <= last], [r for r in catalog.rejects if r.line <= last]


def _adapter_dir(brand, options: GenerateOptions) -> Path | None:
    """The adapter folder to use, or None for prompt-only; explains how to get a missing one."""
    if options.no_adapter:
        return None
    if options.adapter:
        path, origin = Path(options.adapter), "--adapter"
    elif brand.model.adapter:
        path, origin = brand.resolve(brand.model.adapter), f"{brand.file}: model.adapter"
    else:
        return None
    if not path.is_dir():
        raise ConfigError(f"adapter folder not found: {path} (from {origin}). Train it with "
                          f"`stylegen train --brand {brand.root}` (it writes model.adapter), point --adapter at"
                          " a trained adapter, or run prompt-only with --no-adapter")
    return path.resolve()


def _adapter_hash(adapter: Path | None) -> str | None:
    if adapter is None:
        return None

    return weights_sha256(adapter)


def _check_adapter(adapter: Path, base_model: str) -> None:
    """Refuse an adapter trained on another base model (before loading anything heavy)."""

    check_adapter(adapter, base_model)


def _adapter_drift(adapter: Path, brand) -> str | None:
    """Warn (not refuse) when the adapter was trained on older approved copy."""
    import warnings


    drift = adapter_data_drift(adapter, brand)
    if drift:
        warnings.warn(drift, stacklevel=3)
    return drift


def _check_identity(ledger: Ledger, settings: dict, out: Path) -> None:
    identity = {k: settings.get(k) for k in _IDENTITY}
    stored = ledger.get_meta("identity")
    if stored is None:
        ledger.set_meta("identity", identity)
        return
    changed = [k for k in _IDENTITY if stored.get(k) != json.loads(json.dumps(identity[k]))]
    if changed:
        raise ConfigError(f"{out}: this run directory was started with different settings ({', '.join(changed)}"
                          " changed); resume it with the same brand kit, catalog, adapter and flags, or use a"
                          " new --out")


def _load_engine(brand, settings):

    return load_engine(settings["base_model"], adapter=settings["adapter"], dtype=brand.model.dtype,
                       batch_size=settings["batch_size"], trust_remote_code=brand.model.trust_remote_code)


# --- generating ------------------------------------------------------------------


def _composer(brand, options: GenerateOptions) -> Callable:
    """The function that builds each request's messages: the options' own, or the short task prompt."""

    return options.messages or (lambda task, row, feedback: render_messages(brand, task, row.facts, feedback=feedback))


def _generate_rows(brand, settings, rows, ledger, out, engine, validator, progress: bool, compose) -> None:
    """Generate, validate and finish ``rows`` in chunks of ``batch_size`` products."""
    from tqdm import tqdm

    chunk = max(1, settings["batch_size"])
    stats = {"rows": 0, "passed": 0, "tokens": 0, "started": time.perf_counter()}
    with tqdm(total=len(rows), unit="row", desc="generate", disable=not progress, mininterval=1.0,
              dynamic_ncols=True) as bar:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            finished = _generate_chunk(brand, settings, part, ledger, engine, validator, stats, compose)
            _finish(ledger, out, finished)
            stats["rows"] += len(part)
            stats["passed"] += sum(1 for f in finished if f.status == "accepted")
            elapsed = max(1e-9, time.perf_counter() - stats["started"])
            bar.set_postfix(pass_rate=f"{stats['passed'] / stats['rows']:.0%}",
                            tok_s=f"{stats['tokens'] / elapsed:.0f}", refresh=False)
            bar.update(len(part))


def _generate_chunk(brand, settings, rows, ledger, engine, validator, stats, compose) -> list[FinishedRow]:
    """All attempts for a chunk of rows; returns their outcomes."""
    states = {(row.id, task): _TaskState() for row in rows for task in brand.tasks}
    for attempt in range(1, settings["max_attempts"] + 1):
        items = [(row, task) for row in rows for task in brand.tasks
                 if not states[(row.id, task)].attempts or not states[(row.id, task)].passed()]
        if not items:
            break
        _attempt_round(brand, settings, items, attempt, states, ledger, engine, validator, stats, compose)
    return _outcomes(brand, rows, states, validator)


def _attempt_round(brand, settings, items, attempt, states, ledger, engine, validator, stats, compose) -> None:
    """One attempt for every (row, task) in ``items``: generate, validate, record."""

    requests, notes = [], []
    for row, task in items:
        state = states[(row.id, task)]
        note = feedback_note(state.attempts[-1].findings) if state.attempts and settings["feedback"] else None
        prompt = engine.render(compose(task, row, note))
        requests.append(GenRequest(prompt=prompt, seed=derive_seed(settings["seed"], row.id, task, attempt),
                                   max_new_tokens=brand.tasks[task].max_new_tokens, key=f"{row.id}/{task}",
                                   **settings["sampling"]))
        notes.append(note)
    results = engine.generate(requests)
    stats["tokens"] += sum(r.new_tokens for r in results)
    values = {(row.id, task): parse_completion(brand, task, res.text) for (row, task), res in zip(items, results)}
    touched = list(dict.fromkeys(row.id for row, _ in items))
    by_id = {row.id: row for row, _ in items}
    records = []
    for rid in touched:
        fields = {t: values.get((rid, t), _best_value(states[(rid, t)])) for t in brand.tasks}
        records.append(Record(id=rid, fields={k: v for k, v in fields.items() if v is not None},
                              facts=by_id[rid].facts))
    started = time.perf_counter()
    found = dict(zip(touched, validator.check(records)))
    per_record = (time.perf_counter() - started) / max(1, len(records))
    rows_out = []
    for (row, task), req, res, note in zip(items, requests, results, notes):
        findings = [f for f in found[row.id] if _task_of(f, brand.tasks) == task]
        counts = _counts(findings)
        ledger_row = {
            "row_key": row.id, "task": task, "attempt": attempt, "seed": req.seed,
            "prompt_hash": prompt_hash(req.prompt), "adapter_hash": settings.get("adapter_sha256"),
            "prompt": req.prompt, "feedback": note, "text": res.text,
            "findings": json.dumps([f.to_dict() for f in findings]), "errors": counts["error"],
            "warnings": counts["warning"], "suggestions": counts["suggestion"],
            "prompt_tokens": res.prompt_tokens, "new_tokens": res.new_tokens,
            "gen_seconds": res.seconds, "validate_seconds": per_record / len(brand.tasks)}
        state = states[(row.id, task)]
        state.attempts.append(_Attempt(attempt, values[(row.id, task)], res.text, findings, ledger_row))
        rows_out.append(ledger_row)
    ledger.record_attempts(rows_out)


def _best_value(state: _TaskState):
    return state.best().value if state.attempts else None


def _outcomes(brand, rows, states, validator) -> list[FinishedRow]:
    """Assemble the best attempt per task, validate the final records, accept or reject each."""

    best = [{task: states[(row.id, task)].best() for task in brand.tasks} for row in rows]
    records = [Record(id=row.id, fields={t: a.value for t, a in b.items()}, facts=row.facts)
               for row, b in zip(rows, best)]
    return [_outcome(brand, row, b, findings, states)
            for row, b, findings in zip(rows, best, validator.check(records))]


def _outcome(brand, row, best, findings, states) -> FinishedRow:
    errors = [f for f in findings if f.level == "error"]
    attempts = {task: len(states[(row.id, task)].attempts) for task in brand.tasks}
    first_pass = all(_counts(states[(row.id, t)].attempts[0].findings)["error"] == 0 for t in brand.tasks)
    payload = {"id": row.id, "fields": {t: a.value for t, a in best.items()}, "attempts": attempts,
               "best_attempt": {task: a.number for task, a in best.items()}}
    if row.notes:
        payload["notes"] = row.notes
    if errors:
        rules = sorted({f.rule for f in errors})
        payload.update(line=row.line, source="validation", findings=[f.to_dict() for f in findings],
                       reason=f"{len(errors)} error-level finding(s) after {max(attempts.values())} attempt(s):"
                              f" {', '.join(rules)}",
                       attempt_findings=_attempt_findings(row, states, brand))
        status = "rejected"
    else:
        rules = []
        payload["warnings"] = [f.to_dict() for f in findings]
        status = "accepted"
    return FinishedRow(row.id, row.id, row.line, status, "validation", sum(attempts.values()),
                       first_pass and not errors, rules, json.dumps(payload, ensure_ascii=False))


def _attempt_findings(row, states, brand) -> dict:
    """Every attempt's findings per task, for the person reviewing a reject."""
    return {task: [{"attempt": a.number, "findings": [f.to_dict() for f in a.findings]}
                   for a in states[(row.id, task)].attempts] for task in brand.tasks}


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


def _dry_run(brand, settings, rows, rejects, out: Path, engine, compose) -> RunSummary:
    """Render every first-attempt prompt to ``prompts.jsonl``; nothing is generated."""

    render = engine.render if engine is not None else _tokenizer_renderer(settings["base_model"])
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in rows:
        for task in brand.tasks:
            prompt = render(compose(task, row, None))
            lines.append(json.dumps({"id": row.id, "task": task, "seed": derive_seed(settings["seed"], row.id, task, 1),
                                     "prompt_hash": prompt_hash(prompt), "prompt": prompt}, ensure_ascii=False))
    (out / PROMPTS_FILE).write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    (out / "dry-run-rejects.jsonl").write_text(
        "".join(_catalog_reject(r).payload + "\n" for r in rejects), encoding="utf-8")
    (out / "dry-run-settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return RunSummary(out=out, rows=len(rows) + len(rejects), rejected=len(rejects), dry_run=True, prompts=len(lines))


def _tokenizer_renderer(base_model: str):

    tokenizer = load_tokenizer(base_model)
    return lambda messages: render_prompt(tokenizer, messages)


def _summarize(ledger: Ledger, out: Path, settings: dict, in_scope: int, resumed: int, max_rate: float) -> RunSummary:

    report = write_report(out, ledger, settings)
    accepted, rejected = report["rows"]["accepted"], report["rows"]["rejected"]
    total = accepted + rejected
    return RunSummary(out=out, rows=in_scope, accepted=accepted, rejected=rejected, resumed=resumed,
                      reject_rate=rejected / total if total else 0.0, max_reject_rate=max_rate, report=report)
