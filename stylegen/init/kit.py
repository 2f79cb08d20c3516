"""``stylegen init``: draft a brand kit from a file of approved copy (CSV, JSONL, Shopify export).

Copy columns become tasks; fact columns the catalog mapping and the training records'
facts. Every drafted value comes from the corpus itself and carries a comment saying so:

* the schema holds every approved text (min/max characters and bullets per field);
* the ``Drafted`` suite warns outside the 2nd-98th percentile of words and sentences per
  field, and below the 2nd percentile of Flesch reading ease (brand.yaml ``readability``);
* ``claims.txt``: noun phrases of the claimable facts (materials, features, certifications)
  seen in two or more records; where the approved copy names a term its record's facts do
  not hold, the facts' phrases with the same head noun become supporters ("shoulder straps"
  <= "wide straps"), or, when there are none, the term is written commented out, for review;
* terminology: the brand name's spellings in the copy, and frequent words no English
  dictionary holds, as candidates to review;
* the approved copy converted to ``training_data/approved``.

Then the kit is checked (``brand check``) and the corpus validated against it, and the
result says, per rule, how much of the approved copy fails and what to change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError, DataError
from stylegen.init.writer import KitDraft as _Draft
from stylegen.init.source import as_list, guess_fields, is_list_column, read_rows

_ADVICE = {"occurrence": "widen the rule's min/max in {file}, or fix those records",
           "readability": "lower the field's `readability` min in brand.yaml, or fix those records",
           "grounding": "add the missing facts to those records, or a supporter to claims.txt",
           "schema": "widen the bounds in schema.json, or fix those records",
           "substitution": "the copy spells a term another way: fix the records, or drop the term from brand.yaml",
           "existence": "the copy uses a listed term: fix the records, or drop it from brand.yaml"}
_DEFAULT_ADVICE = "fix those records, or set the rule's level in {file}"

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
        ConfigError: ``target`` already holds a kit, or a named field is not in the file.
        DataError: the source cannot be read or has no records.
    """
    target, source = Path(options.target), Path(options.source)
    if (target / "brand.yaml").exists():
        raise ConfigError(f"{target}: already holds a brand.yaml; init drafts a new kit only")
    rows, read_as = read_rows(source)
    if not rows:
        raise DataError(f"{source}: no records")
    copy_fields, fact_fields = _fields(rows, options, source)
    tasks = {t: "list" if is_list_column([r.get(t) for r in rows]) else "text" for t in copy_fields}
    records = _records(rows, options.id_field, tasks, fact_fields)
    target.mkdir(parents=True, exist_ok=True)
    draft = _Draft(target, source, options.name or target.name.replace("-", " ").title(), tasks, fact_fields,
                   records, options.id_field)
    notes = draft.write()
    return _check(target, records, tasks, read_as, notes)


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
    return copy_fields, fact_fields


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
    from stylegen.kit.brand import load_brand
    from stylegen.validation.rules import check_brand_kit, load_rules
    from stylegen.validation.validator import validate_paths

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
