"""The run directory: its lock, ledger, identity, settings, resume, outputs and summary.

A run directory holds one run, of one lane (``generate --brand``) or several (``--runs``).
:class:`RunDirectory` is the only code that writes it, whichever runner made the rows:

- the lock (a second run on the same directory at the same time is refused);
- the ledger (``ledger.sqlite``, the source of truth: attempts, then finished rows);
- the identity: the settings that decide what text a row gets, per lane. It is stored once
  the engine is ready or the first generated row is committed, and a resume with other
  settings is refused naming what changed. Identities written before lanes existed (a
  single-brand run's flat identity, a run file's ``{"brands": ...}``) read as lanes;
- ``settings.json``, resume and reconcile (each finished row exactly once in its file);
- the report, the rating sheet and the summary; the dry run's files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.generation.engine import derive_seed, prompt_hash
from stylegen.generation.ledger import append_line, FinishedRow, Ledger, LEDGER_FILE, OUTPUTS, RunLock
from stylegen.generation.lanes import Lane, RunPlan
from stylegen.generation.rating import SheetBrand, write_rating_sheet
from stylegen.generation.report import write_report
from stylegen.generation.step import catalog_reject, StepResult

SETTINGS_FILE = "settings.json"
PROMPTS_FILE = "prompts.jsonl"
DRY_RUN_REJECTS = "dry-run-rejects.jsonl"
DRY_RUN_SETTINGS = "dry-run-settings.json"


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
    brands: dict = field(default_factory=dict)  # a run file: name -> the report's row figures

    @property
    def exit_code(self) -> int:
        return 1 if not self.dry_run and self.reject_rate > self.max_reject_rate else 0

    def lines(self) -> list[str]:
        """Human summary for the CLI."""
        if self.dry_run:
            return [f"dry run: {self.prompts} prompts for {self.rows} rows written to {self.out / PROMPTS_FILE}"
                    f" ({self.rejected} rows quarantined, listed in {self.out / DRY_RUN_REJECTS})"]
        rate = f"{self.reject_rate:.1%}"
        out = [f"{self.rows} rows: {self.accepted} accepted, {self.rejected} rejected ({rate})"
               + (f"; {self.resumed} were already done" if self.resumed else "")]
        out += [f"  {name}: {b['finished']} rows, {b['accepted']} accepted, {b['rejected']} rejected"
                for name, b in self.brands.items()]
        out.append(f"run directory: {self.out} (outputs.jsonl, rejects.jsonl, report.md)")
        if self.exit_code:
            out.append(f"reject rate {rate} is above --max-reject-rate {self.max_reject_rate:.1%}")
        return out


def check_out_dir(out: Path) -> None:
    """Refuse an output path that cannot be a run directory before any work is done."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the run directory (-o/--out) is an existing file, not a folder")


class RunDirectory:
    """One run directory, held under its lock while open (a context manager).

    Args:
        out: the folder (created).
        plan: the run's lanes.
    """

    def __init__(self, out: Path, plan: RunPlan):
        self.out, self.plan = Path(out), plan
        self.ledger: Ledger | None = None
        self.engine: dict = {}  # what ran: the engine's own description, or the Ray runner's
        self._lock: RunLock | None = None

    def __enter__(self) -> "RunDirectory":
        check_out_dir(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(self.out)
        return self

    def __exit__(self, *exc) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self._lock.release()

    # --- a run --------------------------------------------------------------------------

    def start(self) -> int:
        """Open the ledger, refuse other settings, start a session, resume; rows already done."""
        self.ledger = Ledger(self.out / LEDGER_FILE)
        self._check_identity()
        self.ledger.start_session(self.plan.settings())
        self.write_settings()
        return self._resume()

    def write_settings(self, engine: dict | None = None) -> None:
        """``settings.json``: every lane's effective settings and the engine that ran."""
        self.engine = engine or self.engine
        _write_json(self.out / SETTINGS_FILE, self.plan.settings(self.engine))

    def engine_ready(self, engine: dict) -> None:
        """The engine loaded: store the identity and say in ``settings.json`` what ran."""
        self.store_identity()
        self.write_settings(engine)

    def store_identity(self) -> None:
        """Record the run's identity unless stored; a start that failed to load an engine leaves
        none behind, so the rerun after a repaired adapter is not refused as "adapter_sha256 changed"."""
        if self.ledger.get_meta("identity") is None:
            self.ledger.set_meta("identity", self.plan.identity())

    def commit(self, step: StepResult) -> None:
        """A step's attempts, then its finished rows (ledger first, then the output files)."""
        self.store_identity()
        self.ledger.record_attempts(step.attempts)
        self.finish(step.finished)

    def finish(self, finished: list[FinishedRow]) -> None:
        """Commit outcomes to the ledger first, then append each line to its file."""
        if not finished:
            return
        self.ledger.finish_rows(finished)
        for row in finished:
            append_line(self.out / OUTPUTS[row.status], row.payload)

    def end(self, resumed: int, max_rate: float) -> RunSummary:
        """Close the session; write the report and the rating sheet; the summary."""
        self.store_identity()
        self.ledger.end_session()
        report = write_report(self.out, self.ledger, self.plan.settings(self.engine))
        write_rating_sheet(self.out, self.ledger, _sheet_brand(self.plan), _facts(self.plan), seed=self.plan.seed())
        accepted, rejected = report["rows"]["accepted"], report["rows"]["rejected"]
        total = accepted + rejected
        return RunSummary(out=self.out, rows=self.plan.in_scope(), accepted=accepted, rejected=rejected,
                          resumed=resumed, reject_rate=rejected / total if total else 0.0, max_reject_rate=max_rate,
                          report=report, brands={name: b["rows"] for name, b in report.get("brands", {}).items()})

    def _resume(self) -> int:
        """Reconcile the files with the ledger, write the catalog rejects not yet written, set
        each lane's rows still to generate; return how many rows were already done."""
        self.ledger.reconcile(self.out)
        done = self.ledger.finished_keys()
        resumed, rejects = 0, []
        for lane in self.plan.lanes:
            inputs = lane.inputs
            keys = [r.id for r in inputs.rows] + [r.key for r in inputs.rejects]
            resumed += sum(1 for key in keys if lane.key(key) in done)
            rejects += [lane.tag(catalog_reject(r)) for r in inputs.rejects if lane.key(r.key) not in done]
            lane.todo = [r for r in inputs.rows if lane.key(r.id) not in done]
        self.finish(rejects)
        return resumed

    def _check_identity(self) -> None:
        """Refuse to resume with other lanes or other settings, naming them (all at once)."""
        stored = self.ledger.get_meta("identity")
        if stored is None:
            return  # a new run directory: the identity is stored once the engine is ready
        if "brands" in stored and not self.plan.multi:
            raise ConfigError(f"{self.out}: this run directory holds a multi-brand run; resume it with the same"
                              " `stylegen generate --runs FILE`, or use a new --out")
        if "brands" not in stored and self.plan.multi:
            raise ConfigError(f"{self.out}: this run directory holds a single-brand run (stylegen generate"
                              " --brand); use a new --out for the run file")
        problems = _identity_problems(self.out, self.plan, stored)
        if problems:
            raise ConfigError(problems)

    # --- a dry run ----------------------------------------------------------------------

    def dry_run(self, render) -> RunSummary:
        """Every lane's first-attempt prompts in ``prompts.jsonl``; nothing is generated."""
        lines, rejects = [], []
        for lane in self.plan.lanes:
            lines += _first_prompts(lane, render)
            rejects += [lane.tag(catalog_reject(r)).payload for r in lane.inputs.rejects]
        (self.out / PROMPTS_FILE).write_text("".join(json.dumps(ln, ensure_ascii=False) + "\n" for ln in lines),
                                             encoding="utf-8")
        (self.out / DRY_RUN_REJECTS).write_text("".join(r + "\n" for r in rejects), encoding="utf-8")
        _write_json(self.out / DRY_RUN_SETTINGS, self.plan.settings())
        return RunSummary(out=self.out, rows=self.plan.in_scope(), rejected=len(rejects), dry_run=True,
                          prompts=len(lines))


def _identity_problems(out: Path, plan: RunPlan, stored: dict) -> list[str]:
    """What changed since the run directory was started: lanes, then each lane's settings."""
    if not plan.multi:
        changed = plan.lanes[0].inputs.settings.changed_from(stored)
        return [f"{out}: this run directory was started with different settings ({', '.join(changed)} changed);"
                " resume it with the same brand kit, catalog, adapter and flags, or use a new --out"] if changed else []
    before, now = list(stored["brands"]), [lane.name for lane in plan.lanes]
    problems = []
    if sorted(before) != sorted(now):
        problems.append(f"{out}: this run directory was started with the brands {', '.join(before)}; the run file"
                        f" now lists {', '.join(now)}")
    for lane in plan.lanes:
        changed = lane.inputs.settings.changed_from(stored["brands"][lane.name]) \
            if lane.name in stored["brands"] else []
        if changed:
            problems.append(f"{out}: brand {lane.name}: started with different settings ({', '.join(changed)}"
                            " changed)")
    return problems + ["resume it with the same run file, brand kits, catalogs, adapters and flags, or use a"
                       " new --out"] if problems else []


def _first_prompts(lane: Lane, render) -> list[dict]:
    inputs, settings = lane.inputs, lane.inputs.settings
    lines = []
    for row in inputs.rows:
        for task in settings.tasks:
            prompt = render(inputs.compose(task, row, None))
            lines.append({**({"brand": lane.name} if lane.name else {}), "id": row.id, "task": task,
                          "seed": derive_seed(settings.seed, row.id, task, 1), "prompt_hash": prompt_hash(prompt),
                          "prompt": prompt})
    return lines


def _sheet_brand(plan: RunPlan) -> SheetBrand:
    brands = [lane.inputs.brand for lane in plan.lanes]
    return SheetBrand(name=" + ".join(b.name for b in brands),
                      tasks=list(dict.fromkeys(t for b in brands for t in b.tasks)))


def _facts(plan: RunPlan) -> dict:
    return {lane.key(r.id): r.facts for lane in plan.lanes for r in lane.inputs.rows}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
