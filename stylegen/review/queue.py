"""The review queue over a run's ledger: items, saved edits, decisions, ratings and export.

An item is a finished row that needs a person: a reject of validation, or an accepted row
with warnings. Its current copy is the run's best attempt of each field with the latest
saved edit of that field on top. Every saved edit bumps the item's ``version``; a write
that names an older version is stale and refused (:class:`StaleEdit`). Decisions are one
per row (``UNIQUE row_key``), so a second approval is refused (:class:`AlreadyDecided`).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.catalog.rows import read_catalog
from stylegen.errors import ConfigError, DataError
from stylegen.generation.directory import SETTINGS_FILE
from stylegen.generation.ledger import append_line, Ledger, LEDGER_FILE
from stylegen.generation.phrasebook import join_approved
from stylegen.generation.rating import sample_accepted, VERDICTS
from stylegen.generation.report import write_report
from stylegen.kit.brand import load_brand
from stylegen.validation.findings import Finding
from stylegen.validation.records import parse_field_key, Record
from stylegen.validation.validator import Validator

APPROVED_EDITS = "approved-edits.jsonl"


class StaleEdit(Exception):
    """The item changed since the form was loaded."""


class AlreadyDecided(Exception):
    """The item already has a decision."""


@dataclass
class Item:
    """One row to review: its copy now, the findings on it, and where it came from."""

    row_key: str
    status: str  # accepted | rejected (the run's outcome)
    payload: dict
    facts: dict | None
    fields: dict  # current copy per task (edits applied)
    original: dict  # the run's best attempt per task
    findings: list[Finding] = field(default_factory=list)
    version: int = 0
    decision: dict | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


class ReviewStore:
    """A run directory opened for review: its ledger, brand kit, catalog facts and validator."""

    def __init__(self, run_dir: str | Path, approved_path: str | Path | None = None):
        self.run_dir = Path(run_dir)
        if not (self.run_dir / LEDGER_FILE).is_file():
            raise DataError(f"{self.run_dir}: not a run directory (no {LEDGER_FILE})")
        self.settings = json.loads((self.run_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        if "brand" not in self.settings and "brands" in self.settings:
            raise ConfigError(f"{self.run_dir}: a multi-brand run (stylegen generate --runs);"
                              " stylegen review does not open those yet")
        self.brand = load_brand(self.settings["brand"])
        self.validator = Validator(self.brand)
        self._local = threading.local()  # sqlite connections stay in the thread that opened them
        self._ledgers: list[Ledger] = []
        _ = self.ledger  # opened now: a bad or newer ledger fails at start
        self.approved_path = Path(approved_path) if approved_path else self.run_dir / APPROVED_EDITS
        self.facts = _catalog_facts(self.settings.get("catalog"), self.brand)

    @property
    def ledger(self) -> Ledger:
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            ledger = self._local.ledger = Ledger(self.run_dir / LEDGER_FILE)
            self._ledgers.append(ledger)
        return ledger

    @property
    def tasks(self) -> list[str]:
        return list(self.brand.tasks)

    # --- reading ------------------------------------------------------------------------
    def items(self) -> list[Item]:
        """Every reviewable row (rejects of validation, accepted rows with warnings)."""
        out = []
        for row in self.ledger.finished_rows():
            payload = json.loads(row.payload)
            if row.source != "validation" or (row.status == "accepted" and not payload.get("warnings")):
                continue
            out.append(self.item(row.row_key, payload, row.status))
        return out

    def item(self, row_key: str, payload: dict | None = None, status: str | None = None) -> Item:
        """One item with its edits applied and its findings as stored (or re-validated after an edit)."""
        if payload is None:
            got = self.ledger.db.execute("SELECT status, payload FROM rows WHERE row_key = ?", (row_key,)).fetchone()
            if got is None:
                raise KeyError(row_key)
            status, payload = got[0], json.loads(got[1])
        original = dict(payload.get("fields") or {})
        fields, version = dict(original), 0
        for task, text, ver in self.ledger.db.execute(
                "SELECT task, text, version FROM review_edits WHERE row_key = ? ORDER BY version", (row_key,)):
            fields[task] = json.loads(text)
            version = ver
        item = Item(row_key, status, payload, self.facts.get(row_key), fields, original, version=version,
                    decision=self.decision(row_key))
        stored = payload.get("findings") if status == "rejected" else payload.get("warnings")
        item.findings = self.check(item) if version else [Finding(**_finding_args(f)) for f in stored or []]
        return item

    def check(self, item: Item) -> list[Finding]:
        """The copy validated as one record, exactly as ``generate`` validates a finished row."""
        fields = {k: v for k, v in item.fields.items() if v is not None}
        return self.validator.check([Record(id=item.row_key, fields=fields, facts=item.facts)])[0]

    def attempts(self, row_key: str) -> dict[str, list[dict]]:
        """Every attempt of the row per task (text, findings), in order."""
        out: dict[str, list[dict]] = {}
        cur = self.ledger.db.execute("SELECT task, attempt, text, findings, errors, warnings FROM attempts"
                                     " WHERE row_key = ? ORDER BY task, attempt, id", (row_key,))
        for task, attempt, text, findings, errors, warned in cur:
            out.setdefault(task, []).append({"attempt": attempt, "text": text, "errors": errors,
                                             "warnings": warned, "findings": json.loads(findings)})
        return out

    def decision(self, row_key: str) -> dict | None:
        cur = self.ledger.db.execute("SELECT * FROM review_decisions WHERE row_key = ?", (row_key,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None

    def decisions(self) -> list[dict]:
        cur = self.ledger.db.execute("SELECT * FROM review_decisions ORDER BY seq")
        names = [d[0] for d in cur.description]
        out = []
        for row in cur:
            rec = dict(zip(names, row))
            rec["fields"] = json.loads(rec["fields"])
            rec["record"] = json.loads(rec["record"]) if rec["record"] else None
            out.append(rec)
        return out

    # --- writing ------------------------------------------------------------------------
    def save_edit(self, row_key: str, task: str, value, version: int, reviewer: str) -> Item:
        """Store an edit of ``task`` if ``version`` is still current; returns the re-validated item."""
        if task not in self.brand.tasks:
            raise KeyError(task)
        item = self.item(row_key)
        self._check_open(item, version)
        item.fields[task] = value
        findings = self.check(item)
        try:
            with self.ledger.transaction() as db:
                db.execute("INSERT INTO review_edits VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (row_key, version + 1, task, json.dumps(value, ensure_ascii=False),
                            json.dumps([f.to_dict() for f in findings]), reviewer, time.time()))
        except sqlite3.IntegrityError:  # another reviewer saved version + 1 first
            raise StaleEdit(row_key) from None
        return self.item(row_key)

    def approve(self, row_key: str, version: int, reviewer: str) -> dict:
        """Approve the item's current copy: a decision in the ledger, one record appended to the approved file.

        Raises:
            StaleEdit / AlreadyDecided: see the module docstring.
            ValueError: error-level findings remain.
        """
        item = self.item(row_key)
        self._check_open(item, version)
        errors = self.check(item)
        errors = [f for f in errors if f.level == "error"]
        if errors:
            raise ValueError(f"{len(errors)} error-level finding(s) remain: "
                             + ", ".join(sorted({f.rule for f in errors})))
        record = self._approved_record(item, reviewer)
        self._decide(item, "approved", None, reviewer, record)
        append_line(self.approved_path, json.dumps(record, ensure_ascii=False))  # after the commit, as generate does
        if item.fields.get("description") != item.original.get("description"):  # a person's own words
            try:
                record["phrasebook"] = join_approved(self.brand, Record(id=item.row_key, fields=item.fields,
                                                                        facts=item.facts))
            except DataError as exc:  # the approval stands; the book (edited by hand) needs a look
                warnings.warn(f"{item.row_key}: approved, not joined to the phrasebook: {exc}", stacklevel=2)
        return record

    def reject(self, row_key: str, version: int, reason: str, reviewer: str) -> None:
        """Reject the item with a reason (kept in the ledger)."""
        if not reason.strip():
            raise ValueError("a reason is required to reject")
        item = self.item(row_key)
        self._check_open(item, version)
        self._decide(item, "rejected", reason.strip(), reviewer, None)

    def rate(self, row_key: str, verdict: str, note: str, reviewer: str) -> None:
        """Rate one product of the rating sheet (the latest rating counts)."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
        with self.ledger.transaction() as db:
            db.execute("INSERT OR REPLACE INTO review_ratings VALUES (?, ?, ?, ?, ?)",
                       (row_key, verdict, note.strip() or None, reviewer, time.time()))
        write_report(self.run_dir, self.ledger, self.settings)  # the report shows the ratings

    def rating_sample(self) -> list[dict]:
        """The rating sheet's products (the same seeded sample) with their current rating."""
        ratings = {k: (v, n) for k, v, n in self.ledger.db.execute(
            "SELECT row_key, verdict, note FROM review_ratings")}
        out = []
        for rec in sample_accepted(self.ledger, self.settings.get("seed", 0)):
            verdict, note = ratings.get(rec["id"], (None, None))
            out.append({"record": rec, "facts": self.facts.get(rec["id"]), "verdict": verdict, "note": note})
        return out

    def _check_open(self, item: Item, version: int) -> None:
        if item.decision is not None:
            raise AlreadyDecided(f"{item.row_key} was already {item.decision['decision']} by"
                                 f" {item.decision['reviewer']}")
        if version != item.version:
            raise StaleEdit(f"{item.row_key} changed since you loaded it (version {version}, now {item.version});"
                            " reload and check the copy again")

    def _decide(self, item: Item, decision: str, reason, reviewer: str, record) -> None:
        try:
            with self.ledger.transaction() as db:
                now = self.ledger.db.execute("SELECT MAX(version) FROM review_edits WHERE row_key = ?",
                                             (item.row_key,)).fetchone()[0] or 0
                if now != item.version:
                    raise StaleEdit(f"{item.row_key} changed since you loaded it; reload")
                db.execute("INSERT INTO review_decisions (row_key, decision, reason, version, fields, record,"
                           " reviewer, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (item.row_key, decision, reason, item.version, json.dumps(item.fields, ensure_ascii=False),
                            json.dumps(record, ensure_ascii=False) if record else None, reviewer, time.time()))
        except sqlite3.IntegrityError:
            existing = self.decision(item.row_key) or {}
            raise AlreadyDecided(f"{item.row_key} was already {existing.get('decision', 'decided')} by"
                                 f" {existing.get('reviewer', 'another reviewer')}") from None

    def _approved_record(self, item: Item, reviewer: str) -> dict:
        """The training_data record (id, facts, task fields) with its provenance."""
        stored = item.payload.get("findings") or item.payload.get("warnings") or []
        now = {(f.rule, f.field, f.match) for f in self.check(item)}
        resolved = [f for f in stored if (f.get("rule"), f.get("field"), f.get("match")) not in now]
        record = {"id": item.row_key, "facts": item.facts or {}}
        record.update({t: item.fields[t] for t in self.tasks if item.fields.get(t) is not None})
        record["provenance"] = {
            "run": str(self.run_dir.resolve()), "row": item.row_key, "line": item.payload.get("line"),
            "attempt": item.payload.get("best_attempt"), "original": item.original,
            "resolved": resolved, "reviewer": reviewer,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": item.status}
        return record

    def close(self) -> None:
        ledger = getattr(self._local, "ledger", None)
        if ledger is not None:  # other threads' connections close with their thread
            ledger.close()
            self._local.ledger = None


def queue_view(items: list[Item], rule: str = "", field_: str = "", level: str = "") -> tuple[list[Item], dict]:
    """Open items matching the filters, and counts per rule, field and level over all open items."""
    open_items = [i for i in items if i.decision is None]
    counts = {"rule": Counter(), "field": Counter(), "level": Counter(), "status": Counter()}
    for item in open_items:
        counts["status"][item.status] += 1
        for key, values in (("rule", {f.rule for f in item.findings}),
                            ("field", {_task(f) for f in item.findings}),
                            ("level", {f.level for f in item.findings})):
            counts[key].update(values)

    def keep(item: Item) -> bool:
        return any((not rule or f.rule == rule) and (not field_ or _task(f) == field_)
                   and (not level or f.level == level) for f in item.findings) or not (rule or field_ or level)

    return [i for i in open_items if keep(i)], {k: dict(sorted(v.items())) for k, v in counts.items()}


def export_decisions(store: ReviewStore, path: str | Path) -> int:
    """Write every decision as one JSON line to ``path``; returns the number written."""
    decisions = store.decisions()
    Path(path).write_text("".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in decisions),
                          encoding="utf-8")
    return len(decisions)


def _task(finding: Finding) -> str:
    return parse_field_key(finding.field)[0]


def _finding_args(data: dict) -> dict:
    args = {k: data.get(k) for k in ("rule", "level", "message", "path", "line", "col", "id", "field", "match")}
    args["span"] = tuple(data["span"]) if data.get("span") else None
    return args


def _catalog_facts(catalog: str | None, brand) -> dict:
    """Facts by product id from the run's catalog (empty when the catalog is gone)."""
    if not catalog or not Path(catalog).is_file():
        return {}
    return {row.id: row.facts for row in read_catalog(catalog, brand.catalog).rows}
