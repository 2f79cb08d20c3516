"""``stylegen init``: draft a brand kit from a file of approved copy (CSV, JSONL, Shopify export).

Copy columns become tasks; fact columns the catalog mapping and the training records'
facts. Every drafted value comes from the corpus itself and carries a comment saying so:

* the schema holds every approved text (min/max characters and bullets per field);
* the ``Drafted`` suite warns outside the 2nd-98th percentile of words and sentences per
  field, and below the 2nd percentile of Flesch reading ease (brand.yaml ``readability``);
* the built-in ``Sense`` suite (off-topic, contradiction, identity, unit sense, name
  spelling), each rule measured on the held-out approved copy and loosened or set to
  warning when it flags more than a bound of it (:mod:`stylegen.init.sense`);
* generation: every task assembled from the facts first, ``fallback: none`` (no
  measurement of the brand's model outputs yet);
* ``claims.txt``: noun phrases of the claimable facts (materials, features, certifications)
  seen in two or more records; where the approved copy names a term its record's facts do
  not hold, the facts' phrases with the same head noun become supporters ("shoulder straps"
  <= "wide straps"), or, when there are none, the term is written commented out, for review;
* terminology: the brand name's spellings in the copy, and frequent words no English
  dictionary holds, as candidates to review;
* the approved copy converted to ``training_data/approved``.

Then the kit is checked (``brand check``) and the corpus validated against it, and the
result says, per rule, how much of the approved copy fails and what to change.

Bad input: a copy column that is empty in every row is refused, naming the column; rows
with no copy at all are left out, and repeated rows (the same id, or the same copy and
facts under another id) are kept once, each counted in the summary with the ids kept; large inputs
print progress. The kit is written into a hidden temporary folder beside the target and
renamed into place only once it is complete, so an interrupted ``init`` leaves no half-made
kit (a ``kill -9`` may leave the hidden ``.TARGET.init-*`` folder, never a kit without brand.yaml).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError, DataError
from stylegen.init.writer import KitDraft as _Draft
from stylegen.init.sense import calibrate_sense, generation_note, measure_assembly, write_validators
from stylegen.init.source import as_list, guess_fields, is_list_column, read_rows
from stylegen.kit.brand import load_brand
from stylegen.validation.rules import check_brand_kit, load_rules
from stylegen.validation.validator import validate_paths

_ADVICE = {"occurrence": "widen the rule's min/max in {file}, or fix those records",
           "readability": "lower the field's `readability` min in brand.yaml, or fix those records",
           "grounding": "add the missing facts to those records, or a supporter to claims.txt",
           "schema": "widen the bounds in schema.json, or fix those records",
           "substitution": "the copy spells a term another way: fix the records, or drop the term from brand.yaml",
           "existence": "the copy uses a listed term: fix the records, or drop it from brand.yaml"}
_DEFAULT_ADVICE = "fix those records, or set the rule's level in {file}"
PROGRESS_RECORDS = 500  # from this many records on, init says what it is doing

@dataclass
class InitOptions:
    """What ``stylegen init`` drafts from.

    Attributes:
        target: the new kit's folder (must not hold a brand.yaml).
        source: CSV, JSONL (the training format or flat) or Shopify product export.
        copy_fields: columns that are copy (tasks); none: guessed (see ``guess_fields``).
        fact_fields: columns that are facts; none: every other column but the id.
        id_field: the record id column.
        name: the brand name (default: the folder name).
    """
    target: Path
    source: Path
    copy_fields: list[str] = field(default_factory=list)
    fact_fields: list[str] = field(default_factory=list)
    id_field: str = "id"
    name: str | None = None
    progress: Callable[[str], None] | None = None  # gets a line per stage on large inputs (the CLI: stderr)


@dataclass
class InitResult:
    """What ``init`` wrote and what checking the corpus against it found."""
    brand_dir: Path
    records: int
    tasks: dict[str, str]  # task -> text | list
    read_as: str = "CSV"
    failing: dict[str, int] = field(default_factory=dict)  # "Rule (level)" -> records with a finding
    advice: dict[str, str] = field(default_factory=dict)  # "Rule (level)" -> what to change
    notes: list[str] = field(default_factory=list)  # what was drafted, for review

    def summary(self) -> str:
        """Per rule, how much of the approved copy fails and what to change."""
        lines = [f"{self.brand_dir}: drafted brand kit from a {self.read_as}, tasks {', '.join(self.tasks)},"
                 f" {self.records} approved records"]
        lines += [f"  drafted: {note}" for note in self.notes]
        for rule, count in sorted(self.failing.items()):
            lines.append(f"  {rule}: {count}/{self.records} ({count / max(1, self.records):.0%}) of the approved"
                         f" copy has a finding: {self.advice.get(rule, 'fix those records')}")
        if not self.failing:
            lines.append("  every approved record passes every rule of the drafted kit")
        return "\n".join(lines)

    @property
    def errors(self) -> int:
        """Records failing an error-level rule (summed over rules)."""
        return sum(n for rule, n in self.failing.items() if rule.endswith("(error)"))


def init_brand(options: InitOptions) -> InitResult:
    """Draft a brand kit from approved copy and check the corpus against it.

    Raises:
        ConfigError: ``target`` already holds a kit, a named field is not in the file, or a
            copy column is empty in every row.
        DataError: the source cannot be read or has no records.
    """
    target, source = Path(options.target), Path(options.source)
    if (target / "brand.yaml").exists():
        raise ConfigError(f"{target}: already holds a brand.yaml; init drafts a new kit only")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: is a file; init drafts a kit into a new folder")
    rows, read_as = read_rows(source)
    if not rows:
        raise DataError(f"{source}: no records")
    say = _progress(options.progress, len(rows))
    say(f"read {len(rows):,} rows from {source}")
    copy_fields, fact_fields = _fields(rows, options, source)
    tasks = {t: "list" if is_list_column([r.get(t) for r in rows]) else "text" for t in copy_fields}
    records, notes = _usable(_records(rows, options.id_field, tasks, fact_fields), tasks)
    if not records:
        raise DataError(f"{source}: no record has any copy in {', '.join(copy_fields)}")
    say(f"drafting the kit from {len(records):,} records (claims parse every text once)")
    with _staging(target) as folder:
        draft = _Draft(target, source, options.name or target.name.replace("-", " ").title(), tasks, fact_fields,
                       records, options.id_field, folder=folder, say=say)
        notes += draft.write()
        say("measuring the Sense checks on the held-out approved copy")
        sense = calibrate_sense(folder)
        write_validators(folder, sense)
        notes += [r.describe() for r in sense] + [generation_note(list(tasks))]
        notes += [c.describe() for c in measure_assembly(folder, tasks)]
        say(f"checking the {len(records):,} approved records against the drafted kit")
        result = _check(folder, records, tasks, read_as, notes)
    result.brand_dir = target
    return result


def _progress(echo: Callable[[str], None] | None, rows: int) -> Callable[[str], None]:
    """A ``say(line)`` that reaches ``echo`` only for large inputs (small ones finish at once)."""
    if echo is None or rows < PROGRESS_RECORDS:
        return lambda line: None
    return lambda line: echo(f"init: {line}")


class _staging:
    """A hidden temporary folder beside ``target``, renamed to ``target`` when the block succeeds.

    An existing (empty or brand.yaml-less) target gets the staged entries moved in, brand.yaml
    last; on any error or interrupt the temporary folder is removed and the target is untouched.
    """
    def __init__(self, target: Path):
        self.target = target

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.init-", dir=self.target.parent))
        return self.folder

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _publish(self) -> None:
        if not self.target.exists():
            os.rename(self.folder, self.target)
            return
        clashes = sorted(p.name for p in self.folder.iterdir() if (self.target / p.name).exists())
        if clashes:
            raise ConfigError(f"{self.target}: already holds {', '.join(clashes)}; init drafts a new kit only")
        entries = sorted(self.folder.iterdir(), key=lambda p: p.name == "brand.yaml")
        for entry in entries:  # brand.yaml last: a kit is only a kit once everything is there
            os.rename(entry, self.target / entry.name)


def _usable(records: list[dict], tasks: dict) -> tuple[list[dict], list[str]]:
    """The records with copy, each id and each (copy, facts) once; notes saying what was left out."""
    kept, notes, by_id, by_copy = [], [], {}, {}
    empty, same_id, same_copy = [], {}, {}
    for record in records:
        copy = json.dumps({k: v for k, v in record.items() if k != "id"}, sort_keys=True)  # copy and facts
        if not any(record[t] for t in tasks):
            empty.append(record["id"])
        elif record["id"] in by_id:
            same_id[record["id"]] = same_id.get(record["id"], 0) + 1
        elif copy in by_copy:
            first = by_id[record["id"]] = by_copy[copy]
            same_copy[first] = same_copy.get(first, 0) + 1
        else:
            by_id[record["id"]] = by_copy[copy] = record["id"]
            kept.append(record)
    if empty:
        notes.append(f"{len(empty)} record(s) with no copy left out: {_ids(empty)}")
    if same_id:
        notes.append(f"{sum(same_id.values())} repeated record(s) with an id seen before left out: "
                     f"{_ids(list(same_id))}")
    if same_copy:
        notes.append(f"{sum(same_copy.values())} repeated record(s) with the same copy and facts as an earlier record "
                     f"left out; kept {_ids(list(same_copy))}")
    return kept, notes


def _ids(ids: list[str], shown: int = 5) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def _fields(rows: list[dict], options: InitOptions, source: Path) -> tuple[list[str], list[str]]:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    guessed_copy, guessed_facts = guess_fields(rows, options.id_field)
    copy_fields = list(options.copy_fields or guessed_copy)
    fact_fields = list(options.fact_fields or [c for c in guessed_facts if c not in copy_fields])
    missing = [c for c in copy_fields + fact_fields if c not in columns]
    if options.id_field not in columns:
        missing.append(options.id_field)
    if missing or not copy_fields:
        raise ConfigError(f"{source}: column(s) not found: {', '.join(missing) or '(no copy field)'}"
                          f" (found: {', '.join(columns)}); use --copy-field / --fact-field / --id-field")
    empty = [c for c in copy_fields if not any(_has_text(r.get(c)) for r in rows)]
    if empty:
        raise ConfigError(f"{source}: copy column(s) {', '.join(empty)} empty in every one of {len(rows):,} rows: "
                          "nothing to learn the voice from; name the copy columns with --copy-field")
    return copy_fields, fact_fields


def _has_text(value) -> bool:
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return value is not None and bool(str(value).strip())


def _records(rows, id_field, tasks, fact_fields) -> list[dict]:
    out = []
    for number, row in enumerate(rows, 1):
        facts = {}
        for f in fact_fields:
            value = row.get(f)
            if isinstance(value, list) or (isinstance(value, str) and (";" in value or "\n" in value.strip())):
                facts[f] = as_list(value)
            elif value not in (None, ""):
                facts[f] = str(value).strip()
        record = {"id": str(row.get(id_field) or f"row-{number}"), "facts": facts}
        for task, kind in tasks.items():
            record[task] = as_list(row.get(task)) if kind == "list" else str(row.get(task) or "").strip()
        out.append(record)
    return out


def _check(target: Path, records: list[dict], tasks: dict, read_as: str, notes: list[str]) -> InitResult:

    check_brand_kit(target)
    rules = {r.id: r for r in load_rules(load_brand(target))}
    report = validate_paths([str(target / "training_data" / "approved")], target)
    failing: dict[str, set] = {}
    advice: dict[str, str] = {}
    for finding in report.findings:
        key = f"{finding.rule} ({finding.level})"
        failing.setdefault(key, set()).add(finding.id)
        rule = rules.get(finding.rule)
        if rule is not None:
            advice[key] = _ADVICE.get(rule.extends, _DEFAULT_ADVICE).format(file=_short(rule.file, target))
    return InitResult(target, len(records), tasks, read_as, {r: len(ids) for r, ids in failing.items()}, advice, notes)


def _short(path: Path, target: Path) -> str:
    try:
        return str(Path(path).relative_to(target))
    except ValueError:  # a built-in rule: its level is set in brand.yaml, its file is the package's
        return f"brand.yaml (validators.levels, built-in rule {Path(path).stem})"
