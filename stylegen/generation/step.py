"""One step of the run loop, and the loop that repeats it over a run's lanes.

:func:`advance` is the run loop's one step, for any number of lanes: render each job's
request, make them all in one engine call, parse and validate every candidate as whole
records (slot ``k`` holds the ``k``-th candidate of each field the call made for a row,
beside the best value so far of its other fields), apply the rules' deterministic fixes,
file each candidate under its field, settle the fields whose best candidate passes or whose
last round is spent, schedule the next round of the others, and turn every settled row into
its outcome (accepted, or quarantined with every finding). It writes nothing: it returns the
attempts and finished rows, and the caller commits them (the run directory locally, the
driver of a Ray job from what its actors hand back).

:func:`drain` repeats it until every lane's rows are finished. The local runner drains the
whole run; each Ray actor drains its batch of rows.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from stylegen.generation.engine import complete, derive_seed, GenRequest, prompt_hash
from stylegen.generation.ledger import FinishedRow
from stylegen.generation.lanes import Lane, take_mixed
from stylegen.generation.pool import Candidate, Job, level_counts, quality_score, RowState
from stylegen.generation.slots import SLOT_RULES
from stylegen.kit.prompts import parse_completion
from stylegen.kit.roles import facts_by_role
from stylegen.validation.findings import Finding
from stylegen.validation.fixes import fix_records, FixOutcome
from stylegen.validation.records import field_text, Record, task_of
from stylegen.validation.validator import Validator

FEEDBACK_MAX_CHARS = 300
INTERNAL_RULE = "Stylegen.Internal"  # a check crashed on a candidate: never accepted unchecked


@dataclass
class StepResult:
    """What one step made: the attempts to record, the rows it finished, new tokens."""

    attempts: list[dict] = field(default_factory=list)
    finished: list[FinishedRow] = field(default_factory=list)
    tokens: int = 0


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


def _note(state: RowState, job: Job) -> str | None:
    """The corrective note for a retry: the findings of the field's best candidate so far."""
    best = state.fields[job.task].best()
    return feedback_note(best.findings) if best is not None and job.round > 1 else None


# --- the loop --------------------------------------------------------------------------


def drain(lanes: list[Lane], capacity: int, engine, commit: Callable[[StepResult], None],
          progress: bool = True) -> None:
    """Step every lane's rows through ``engine`` until all are finished.

    Args:
        lanes: the lanes, each with the rows still to do in ``todo``.
        capacity: jobs per engine call.
        engine: the engine (each request names its lane's adapter).
        commit: takes each step's result as soon as it is made (each finished row is
            committed right away).
        progress: show a progress bar.
    """
    from tqdm import tqdm  # the progress bar is for the terminal; a library import stays light

    for lane in lanes:
        lane.start(capacity)
    passed = finished = tokens = 0
    started = time.perf_counter()
    with tqdm(total=sum(len(lane.todo) for lane in lanes), unit="row", desc="generate", disable=not progress,
              mininterval=1.0, dynamic_ncols=True) as bar:
        while taken := take_mixed(lanes, capacity):
            step = advance(taken, engine)
            commit(step)
            finished += len(step.finished)
            passed += sum(1 for f in step.finished if f.status == "accepted")
            tokens += step.tokens
            elapsed = max(1e-9, time.perf_counter() - started)
            bar.set_postfix(accepted=f"{passed / max(1, finished):.0%}", tok_s=f"{tokens / elapsed:.0f}",
                            refresh=False)
            bar.update(len(step.finished))


def advance(taken: list[tuple[Lane, list[Job]]], engine) -> StepResult:
    """One engine call for every lane's jobs, then each lane's own validation and outcomes."""
    parts = [(lane, jobs, *_requests(lane, jobs, engine)) for lane, jobs in taken]
    results = complete(engine, [req for part in parts for req in part[2]])
    step = StepResult(tokens=sum(r.new_tokens for r in results))
    start = 0
    for lane, jobs, requests, notes in parts:
        mine = results[start:start + len(requests)]
        start += len(requests)
        _absorb(lane, jobs, requests, notes, mine, step)
    return step


def _absorb(lane: Lane, jobs: list[Job], requests: list, notes: list, results: list, step: StepResult) -> None:
    """Validate and fix one lane's completions, file them, settle fields, schedule retries."""
    settings, pool = lane.inputs.settings, lane.pool
    candidates, validate_s = _candidates(lane, jobs, results)
    for job, req, res, note, cand in zip(jobs, requests, results, notes, candidates):
        pool.add(job, cand)
        row = _ledger_row(settings, job, req, res, note, cand, validate_s / max(1, len(jobs)))
        step.attempts.append(lane.tag_attempt(row))
    touched = list(dict.fromkeys(job.row_id for job in jobs))
    settled = pool.pop_settled(touched, settings.max_attempts)
    pool.schedule_retries([rid for rid in touched if rid in pool.states], settings.max_attempts)
    step.finished += [lane.tag(row) for row in _outcomes(lane, settled)]


def _requests(lane: Lane, jobs: list[Job], engine) -> tuple[list, list]:
    """The engine requests for ``jobs`` (and the corrective note each carries, if any)."""
    inputs, settings = lane.inputs, lane.inputs.settings
    requests, notes, words, grammars = [], [], {}, {}
    for job in jobs:
        state = lane.pool.states[job.row_id]
        scope = (job.row_id, job.task in settings.slots)
        if scope not in words:  # one set per row (and slotted or not): the engine caches its token ids by it
            words[scope] = inputs.words_for(state.row, job.task)
            grammars[scope] = inputs.slot_grammar(job.task, state.row, getattr(engine, "tokenizer", None))
        note = _note(state, job) if settings.feedback else None
        attempt = job.attempt(settings.candidates)
        prompt = engine.render(inputs.compose(job.task, state.row, note))
        # assembled copy is scored against the same task prompt the model would answer
        text = inputs.assembled_texts(state.row, job.task)[job.index] if job.assembled else None
        requests.append(GenRequest(prompt=prompt, seed=derive_seed(settings.seed, job.row_id, job.task, attempt),
                                   max_new_tokens=settings.tasks[job.task].max_new_tokens,
                                   key=f"{job.row_id}/{job.task}", words=words[scope], adapter=lane.adapter,
                                   text=text, grammar=None if job.assembled else grammars[scope],
                                   **settings.sampling.as_kwargs()))
        notes.append(note)
    return requests, notes


# --- candidates ------------------------------------------------------------------------


def _candidates(lane: Lane, jobs: list[Job], results) -> tuple[list, float]:
    """Parse, validate and fix every job's completion; one :class:`Candidate` per job.

    A row's candidates are validated as whole records: slot ``k`` holds the ``k``-th
    candidate of each field this call generated for the row, and the best value so far of
    the row's other fields (so record-level rules see a complete product).
    """
    brand, settings, states = lane.inputs.brand, lane.inputs.settings, lane.pool.states
    fills = [None if job.assembled else lane.inputs.slot_fill(job.task, states[job.row_id].row, res.text)
             for job, res in zip(jobs, results)]
    values = [parse_completion(brand, job.task, res.text if fill is None else fill.text)
              for job, res, fill in zip(jobs, results, fills)]
    slots, placement = _slots(jobs)
    keys = list(slots)
    records = [_slot_record(states[rid], slots[(rid, k)], values, settings.tasks) for rid, k in keys]
    started = time.perf_counter()
    checked = dict(zip(keys, _check_and_fix(lane.validator, records, settings.fixes)))
    seconds = time.perf_counter() - started
    out = []
    for job, res, slot, fill in zip(jobs, results, placement, fills):
        outcome = checked[slot]
        value = outcome.record.fields.get(job.task)
        # a slot the row cannot fill, or a number written outside a slot, keeps it from shipping
        slot_findings = fill.findings(states[job.row_id].row.id, job.task) if fill is not None else []
        out.append(Candidate(
            attempt=job.attempt(settings.candidates), round=job.round, value=value, text=res.text,
            findings=slot_findings + [f for f in outcome.findings if task_of(f.field, settings.tasks) == job.task],
            fixes=[fx for fx in outcome.fixes if task_of(fx.field, settings.tasks) == job.task],
            quality=quality_score(field_text(value), facts_by_role(states[job.row_id].row.facts, brand.catalog),
                                  getattr(res, "mean_logprob", None))))
    return out, seconds


def _slots(jobs: list[Job]) -> tuple[dict, list]:
    """Slot ``(row, k)`` -> {task: job index}, and each job's slot."""
    slots: dict[tuple[str, int], dict] = {}
    seen: dict[tuple[str, str], int] = {}
    placement = []
    for i, job in enumerate(jobs):
        k = seen.get((job.row_id, job.task), 0)
        seen[(job.row_id, job.task)] = k + 1
        slots.setdefault((job.row_id, k), {})[job.task] = i
        placement.append((job.row_id, k))
    return slots, placement


def _slot_record(state: RowState, slot: dict, values: list, tasks) -> Record:
    fields = {}
    for task in tasks:
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
    findings = check_isolated(validator, records)
    if not fixes:
        return [FixOutcome(r, f) for r, f in zip(records, findings)]
    try:
        return fix_records(validator, records, findings)
    except Exception:  # noqa: BLE001 - isolate the failing record below
        return [_fix_one(validator, r, f) for r, f in zip(records, findings)]


def check_isolated(validator: Validator, records: list[Record]) -> list[list]:
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
                        " the candidate cannot be accepted unchecked", id=record.id, field=name)
                for name in record.fields]


def _fix_one(validator: Validator, record: Record, findings: list):
    import warnings

    try:
        return fix_records(validator, [record], [findings])[0]
    except Exception as exc:  # noqa: BLE001 - the unfixed candidate is still a valid result
        warnings.warn(f"{record.id}: the fixer failed ({exc.__class__.__name__}: {exc}); kept the unfixed text",
                      stacklevel=2)
        return FixOutcome(record, findings)


def _ledger_row(settings, job: Job, req, res, note, cand: Candidate, validate_s: float) -> dict:
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


# --- outcomes --------------------------------------------------------------------------


def _outcomes(lane: Lane, states: list[RowState]) -> list[FinishedRow]:
    """Assemble the best candidate per field, validate the final records, accept or reject each."""
    if not states:
        return []
    tasks = lane.inputs.settings.tasks
    best = [{task: s.fields[task].best() for task in tasks} for s in states]
    records = [Record(id=s.row.id, fields={t: c.value for t, c in b.items() if c.value is not None},
                      facts=s.row.facts) for s, b in zip(states, best)]
    checked = check_isolated(lane.validator, records)
    return [_outcome(s, b, findings + _carried(b)) for s, b, findings in zip(states, best, checked)]


def _carried(best: dict) -> list:
    """The best candidates' findings that no validator can re-check on the final record: a
    slotted completion's (the slots are filled by then), which must still stop the row."""
    return [f for cand in best.values() if cand is not None for f in cand.findings if f.rule in SLOT_RULES]


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


def catalog_reject(reject) -> FinishedRow:
    """The quarantined outcome of a catalog row that cannot be generated (bad or instruction-like)."""
    payload = {"id": reject.id, "line": reject.line, "reason": reject.reason, "source": "catalog",
               "findings": [{"rule": "Stylegen.Input", "level": "error", "message": reject.reason,
                             "line": reject.line, **({"id": reject.id} if reject.id else {})}]}
    return FinishedRow(reject.key, reject.id, reject.line, "rejected", "catalog", 0, False, ["Stylegen.Input"],
                       json.dumps(payload, ensure_ascii=False))
