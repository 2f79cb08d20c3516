"""``stylegen init``: draft a brand kit from a file of approved copy (CSV, JSONL, Shopify export).

Copy columns become tasks; fact columns the catalog mapping and the training records'
facts. Bounds come from the corpus itself: the schema holds every approved text (min/max),
the drafted ``Drafted`` suite warns outside the 2nd-98th percentile of words and sentences.
Every drafted value carries a YAML comment saying where it came from. A first version:
readability targets, spaCy noun-phrase claims and terminology candidates are not drafted yet.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError, DataError

_LIST_SEP = re.compile(r"\s*(?:\n|;)\s*")
_SENTENCE = re.compile(r"[.!?]+(?:\s|$)")


@dataclass
class InitResult:
    """What ``init`` wrote and what checking the corpus against it found."""

    brand_dir: Path
    records: int
    tasks: dict[str, str]  # task -> text | list
    failing: dict[str, int] = field(default_factory=dict)  # rule -> records with a finding

    def summary(self) -> str:
        """Per rule, how much of the approved copy fails and what to change."""
        lines = [f"{self.brand_dir}: drafted brand kit, tasks {', '.join(self.tasks)}, {self.records} approved records"]
        for rule, count in sorted(self.failing.items()):
            share = count / max(1, self.records)
            lines.append(f"  {rule}: {count}/{self.records} ({share:.0%}) of the approved copy has a finding:"
                         " widen the rule's bounds or fix those records")
        if not self.failing:
            lines.append("  every approved record passes every drafted rule")
        return "\n".join(lines)


def _read_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        return rows
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _flatten(row: dict) -> dict:
    """JSONL records of the training format keep their facts under ``facts``."""
    if isinstance(row.get("facts"), dict):
        return {**{k: v for k, v in row.items() if k != "facts"}, **row["facts"]}
    return row


def _as_list(value) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.lstrip("-*• ").strip() for v in _LIST_SEP.split(str(value or "")) if v.strip()]


def _percentile(values: list[float], q: float) -> int:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.floor(q * (len(ordered) - 1) + 0.5)))
    return int(ordered[index])


def _is_list_task(values: list) -> bool:
    return sum(isinstance(v, list) or "\n" in str(v) for v in values) > len(values) / 2


def _copy_suites(brand_dir: Path) -> None:
    """Placeholder for copying built-in suites: the drafted kit uses only its own ``Drafted`` suite."""
    (brand_dir / "validators").mkdir(exist_ok=True)


def init_brand(target: str | Path, source: str | Path, copy_fields: list[str] | None = None,
               fact_fields: list[str] | None = None, id_field: str = "id", name: str | None = None) -> InitResult:
    """Draft a brand kit in ``target`` from approved copy in ``source`` and check the corpus against it.

    Args:
        target: new brand kit folder (must not hold a brand.yaml).
        source: CSV or JSONL of approved copy (one record a row).
        copy_fields: columns that are copy (tasks); default: ``description`` if present.
        fact_fields: columns that are facts; default: every other column but the id.
        id_field: the record id column.
        name: the brand name (default: the folder name).

    Raises:
        ConfigError: ``target`` already holds a kit, or a named field is not in the file.
        DataError: the source cannot be read or has no records.
    """
    target, source = Path(target), Path(source)
    if (target / "brand.yaml").exists():
        raise ConfigError(f"{target}: already holds a brand.yaml; init drafts a new kit only")
    rows = [_flatten(r) for r in _read_rows(source)]
    if not rows:
        raise DataError(f"{source}: no records")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    copy_fields = list(copy_fields or (["description"] if "description" in columns else []))
    fact_fields = list(fact_fields or [c for c in columns if c not in copy_fields and c != id_field])
    missing = [c for c in copy_fields + fact_fields + [id_field] if c not in columns]
    if missing or not copy_fields:
        raise ConfigError(f"{source}: column(s) not found: {', '.join(missing) or '(no copy field)'}"
                          f" (found: {', '.join(columns)}); use --copy-field / --fact-field")
    tasks = {t: "list" if _is_list_task([r.get(t) for r in rows]) else "text" for t in copy_fields}
    records = _records(rows, id_field, tasks, fact_fields)
    target.mkdir(parents=True, exist_ok=True)
    _write_kit(target, source, name or target.name, tasks, fact_fields, records, id_field)
    return _check(target, records, tasks)


def _records(rows, id_field, tasks, fact_fields) -> list[dict]:
    out = []
    for number, row in enumerate(rows, 1):
        facts = {}
        for f in fact_fields:
            value = row.get(f)
            if isinstance(value, list) or (isinstance(value, str) and ";" in value):
                facts[f] = _as_list(value)
            elif value not in (None, ""):
                facts[f] = str(value).strip()
        record = {"id": str(row.get(id_field) or f"row-{number}"), "facts": facts}
        for task, kind in tasks.items():
            record[task] = _as_list(row.get(task)) if kind == "list" else str(row.get(task) or "").strip()
        out.append(record)
    return out


def _stats(records, task, kind) -> dict:
    texts = [t for r in records for t in (r[task] if kind == "list" else [r[task]]) if t]
    words = [len(t.split()) for t in texts]
    sentences = [max(1, len(_SENTENCE.findall(t))) for t in texts]
    chars = [len(t) for t in texts]
    stats = {"n": len(texts), "chars": (min(chars), max(chars)), "words": (_percentile(words, .02), _percentile(words, .98)),
             "sentences": (_percentile(sentences, .02), _percentile(sentences, .98))}
    if kind == "list":
        items = [len(r[task]) for r in records]
        stats["items"] = (min(items), max(items))
    return stats


def _write_kit(target, source, name, tasks, fact_fields, records, id_field) -> None:
    stats = {t: _stats(records, t, k) for t, k in tasks.items()}
    _write_schema(target, tasks, stats, fact_fields)
    _write_claims(target, source, records, fact_fields)
    _write_rules(target, source, tasks, stats)
    data_dir = target / "training_data" / "approved"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "approved.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                             encoding="utf-8")
    (target / "brand.yaml").write_text(_brand_yaml(source, name, tasks, fact_fields, id_field, len(records)),
                                       encoding="utf-8")


def _write_schema(target, tasks, stats, fact_fields) -> None:
    props = {"id": {"type": "string", "minLength": 1, "maxLength": 64}, "facts": {"type": "object"},
             "note": {"type": "string"}}
    for task, kind in tasks.items():
        low, high = stats[task]["chars"]
        text = {"type": "string", "minLength": low, "maxLength": high}
        if kind == "list":
            lo, hi = stats[task]["items"]
            props[task] = {"type": "array", "minItems": lo, "maxItems": hi, "items": text}
        else:
            props[task] = text
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$comment": "drafted by stylegen init: bounds are the approved corpus' min and max per field",
              "type": "object", "required": ["id", *tasks], "properties": props, "additionalProperties": False}
    (target / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def _write_claims(target, source, records, fact_fields) -> None:
    terms: dict[str, int] = {}
    for record in records:
        for value in record["facts"].values():
            for item in value if isinstance(value, list) else []:
                if len(item.split()) <= 4:
                    terms[item.lower()] = terms.get(item.lower(), 0) + 1
    lines = [f"# Drafted by stylegen init from the list facts of {source.name}: review before use.",
             "# One claim per line (see the sample brand's claims.txt for kinds and supporters)."]
    lines += [t for t, n in sorted(terms.items()) if n >= 2]  # seen in 2+ records: not a one-off
    (target / "claims.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_rules(target, source, tasks, stats) -> None:
    import yaml

    _copy_suites(target)
    suite = target / "validators" / "Drafted"
    suite.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        for unit in ("words", "sentences"):
            low, high = stats[task][unit]
            rule = {"extends": "occurrence", "count": unit, "min": low, "max": high, "level": "warning",
                    "fields": [task],
                    "message": f"{task}: {{count}} {unit} (the approved copy's 2nd-98th percentile: {low}-{high})"}
            header = (f"# Drafted by stylegen init: 2nd-98th percentile of {unit} per {task}"
                      f" over {stats[task]['n']} approved texts in {source.name}\n")
            (suite / f"{task.title().replace('_', '')}{unit.title()}.yml").write_text(
                header + yaml.safe_dump(rule, sort_keys=False), encoding="utf-8")


def _brand_yaml(source, name, tasks, fact_fields, id_field, count) -> str:
    out = [f"# Drafted by `stylegen init` from {source.name} ({count} approved records): review every value.",
           f"name: {json.dumps(name)}  # from the kit folder's name", "voice: \"Describe the brand's voice in a sentence or two.\"  # a placeholder: write it",
           "schema: schema.json  # bounds from the corpus",
           "claims: claims.txt  # list facts seen in 2+ records, for review", "", "tasks:"]
    for task, kind in tasks.items():
        out.append(f"  {task}:  # copy column {task!r}")
        out.append(f"    prompt: {json.dumps((f'Write the {task} for {{name}}.' if 'name' in fact_fields else f'Write the {task}.') + chr(10) + '{facts}')}"
                   "  # a starting prompt; edit it")
        out.append(f"    kind: {kind}  # most values {'hold several lines' if kind == 'list' else 'are one text'}")
    out += ["", "catalog:", f"  id: {id_field}  # the id column of {source.name}", "  fields:"]
    for fact in fact_fields:
        out.append(f"    {fact}: {{column: {json.dumps(fact)}}}  # a fact column of {source.name}")
    out += ["", "training:", "  data: training_data/approved  # the approved copy, converted", "",
            "validators:", "  path: validators", "  suites: [Drafted]  # percentile rules from the corpus", ""]
    return "\n".join(out)


def _check(target, records, tasks) -> InitResult:
    from stylegen.validation.rules import check_brand_kit
    from stylegen.validation.validator import validate_paths

    check_brand_kit(target)
    report = validate_paths([str(target / "training_data" / "approved")], target)
    failing: dict[str, set] = {}
    for finding in report.findings:
        failing.setdefault(f"{finding.rule} ({finding.level})", set()).add(finding.id)
    return InitResult(target, len(records), tasks, {r: len(ids) for r, ids in failing.items()})
