"""The request pool and the per-field candidate bookkeeping of the run loop.

Each (row, task) is a *field*. A field gets ``candidates`` samples per round; all of a
round's candidates are validated (and fixed), and the field is settled as soon as its best
candidate has no error-level finding, or when its last round is spent. A product is
finished the moment all its fields are settled, so it is committed right away instead of
when a whole chunk ends.

:class:`RequestPool` keeps the engine's batches full: every call takes up to ``capacity``
pending jobs, retries of rows already in flight first (so they finish and are committed
soon), then the first round of new rows, read lazily from the catalog. Later rounds
therefore never run in shrinking batches.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from stylegen.validation.coverage import COVERAGE_FACTS, covered_facts, fact_coverage, fact_precision  # noqa: F401
from stylegen.validation.findings import Finding

_LEVEL_ORDER = ("error", "warning", "suggestion")


def level_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """``{"error": n, "warning": n, "suggestion": n}`` of a list of findings."""
    counts = dict.fromkeys(_LEVEL_ORDER, 0)
    for f in findings:
        counts[f.level] = counts.get(f.level, 0) + 1
    return counts


# How much the model's own fluency counts beside fact coverage: a mean log-probability
# 1 nat higher is worth half of the row's facts.
FLUENCY_WEIGHT = 0.5
# Fact precision beside them: a text made only of fact words is worth all the row's facts.
PRECISION_WEIGHT = 1.0


def quality_score(text: str, facts: dict | None, mean_logprob: float | None) -> float:
    """The tie-breaker between candidates with the same findings: facts covered, then fluency.

    ``fact_coverage`` rewards copy about this product; the model's mean log-probability
    of its own tokens (``GenResult.mean_logprob``) rewards copy it found natural to write,
    which at this model size goes with sentences that hang together. Engines that do not
    report it (scripted ones) score on coverage alone.
    """
    return (fact_coverage(text, facts) + PRECISION_WEIGHT * fact_precision(text, facts)
            + FLUENCY_WEIGHT * (mean_logprob or 0.0))


@dataclass
class Candidate:
    """One generated candidate of a field, after validation and fixes."""

    attempt: int  # 1-based, over all rounds: (round - 1) * candidates + index + 1
    round: int
    value: Any  # parsed output (str, or list for list tasks), after fixes
    text: str  # the raw completion
    findings: list[Finding]
    fixes: list = field(default_factory=list)  # AppliedFix objects kept for this field
    quality: float = 0.0

    def rank(self) -> tuple:
        """Sort key, best first: fewer errors, fewer warnings, higher quality, fewer suggestions, earlier."""
        counts = level_counts(self.findings)
        return counts["error"], counts["warning"], -round(self.quality, 6), counts["suggestion"], self.attempt

    @property
    def passed(self) -> bool:
        return level_counts(self.findings)["error"] == 0


@dataclass
class FieldState:
    """Every candidate of one (row, task) so far."""

    candidates: list[Candidate] = field(default_factory=list)
    rounds: int = 0  # rounds completed
    outstanding: int = 0  # candidates of the current round not back yet
    extra_rounds: int = 0  # 1 where round 1 is assembled copy: the model still gets its rounds
    last_round: int | None = None  # 1 where assembled copy has no model rounds after it

    def _limit(self, max_rounds: int) -> int:
        limit = max_rounds + self.extra_rounds
        return limit if self.last_round is None else min(limit, self.last_round)

    def best(self) -> Candidate | None:
        return min(self.candidates, key=Candidate.rank) if self.candidates else None

    def passed(self) -> bool:
        best = self.best()
        return best is not None and best.passed

    def settled(self, max_rounds: int) -> bool:
        return self.outstanding == 0 and (self.passed() or self.rounds >= self._limit(max_rounds))

    def more_rounds(self, max_rounds: int) -> bool:
        """The current round is over and failed, and another round is allowed."""
        return self.outstanding == 0 and not self.passed() and self.rounds < self._limit(max_rounds)


@dataclass
class RowState:
    """A product in flight: its catalog row and one :class:`FieldState` per task."""

    row: Any  # CatalogRow
    fields: dict[str, FieldState]

    def settled(self, max_rounds: int) -> bool:
        return all(f.settled(max_rounds) for f in self.fields.values())


@dataclass(frozen=True)
class Job:
    """One request to make: candidate ``index`` of ``round`` for (row, task)."""

    row_id: str
    task: str
    round: int
    index: int
    assembled: bool = False  # copy assembled from the facts, not sampled (generation.assemble)

    def attempt(self, candidates: int) -> int:
        return (self.round - 1) * candidates + self.index + 1


class RequestPool:
    """Pending jobs, topped up from new rows so every engine call is full.

    Args:
        rows: the catalog rows to generate, consumed lazily.
        tasks: task names, in order.
        candidates: jobs per field per round.
        capacity: jobs per engine call.
        assembled: tasks whose round 1 is assembled copy; their model rounds follow as
            rounds 2 and up.
        variants: ``(row, task) -> n``: how many distinct assembled texts the row has for
            the task (at most ``candidates`` are used; default: ``candidates``).
        fallback: ``model``: a field whose assembled candidates all fail gets the model's
            rounds; ``none``: it is settled with its best assembled candidate (a product
            with a failing field is quarantined for a person).
    """

    def __init__(self, rows: Iterable, tasks: list[str], candidates: int, capacity: int,
                 assembled: Iterable[str] = (), variants=None, fallback: str = "model"):
        self._rows: Iterator = iter(rows)
        self.tasks, self.candidates, self.capacity = list(tasks), candidates, max(1, capacity)
        self.assembled = frozenset(assembled)
        self._variants = variants
        self._last = 1 if fallback == "none" else None
        self.states: dict[str, RowState] = {}
        self._retries: deque[Job] = deque()
        self._fresh: deque[Job] = deque()
        self._exhausted = False

    def take(self) -> list[Job]:
        """Up to ``capacity`` jobs: retries first, then first rounds of new rows."""
        while not self._exhausted and len(self._retries) + len(self._fresh) < self.capacity:
            self._admit_next_row()
        jobs = []
        for queue in (self._retries, self._fresh):
            while queue and len(jobs) < self.capacity:
                jobs.append(queue.popleft())
        return jobs

    def _admit_next_row(self) -> None:
        row = next(self._rows, None)
        if row is None:
            self._exhausted = True
            return
        self.states[row.id] = RowState(row, {task: self._field(task) for task in self.tasks})
        for task in self.tasks:
            self._enqueue(self._fresh, row.id, task, 1)

    def _field(self, task: str) -> FieldState:
        if task not in self.assembled:
            return FieldState()
        return FieldState(extra_rounds=1, last_round=self._last)

    def _enqueue(self, queue: deque, row_id: str, task: str, round_: int) -> None:
        assembled = round_ == 1 and task in self.assembled
        count = self.candidates
        if assembled and self._variants is not None:  # identical texts would only be validated again
            count = max(1, min(count, self._variants(self.states[row_id].row, task)))
        self.states[row_id].fields[task].outstanding += count
        queue.extend(Job(row_id, task, round_, i, assembled) for i in range(count))

    def add(self, job: Job, candidate: Candidate) -> None:
        """File a job's candidate under its field."""
        state = self.states[job.row_id].fields[job.task]
        state.candidates.append(candidate)
        state.outstanding -= 1
        if state.outstanding == 0:
            state.rounds = job.round

    def schedule_retries(self, row_ids: Iterable[str], max_rounds: int) -> None:
        """Queue the next round of every field of ``row_ids`` whose round is over and failed."""
        for rid in row_ids:
            for task, state in self.states[rid].fields.items():
                if state.more_rounds(max_rounds):
                    self._enqueue(self._retries, rid, task, state.rounds + 1)

    def pop_settled(self, row_ids: Iterable[str], max_rounds: int) -> list[RowState]:
        """Remove and return the rows among ``row_ids`` whose fields are all settled."""
        done = [rid for rid in dict.fromkeys(row_ids) if self.states[rid].settled(max_rounds)]
        return [self.states.pop(rid) for rid in done]

    def __bool__(self) -> bool:
        return bool(self._retries or self._fresh or self.states or not self._exhausted)
