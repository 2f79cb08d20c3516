"""Records: copy to validate, and the readers that turn files into records.

Inputs ``stylegen validate`` accepts:

* **JSONL**: one JSON object per line, ``{"id": ..., "description": ..., "bullets": [...],
  "facts": {...}, "note": "..."}``. Output fields are the brand's task fields; ``facts``
  (optional) are the product facts that grounding checks compare the copy with; ``note``
  (optional) says why a record may break a rule. A finding's ``line`` is the record's line
  and ``col`` the 1-based offset inside the field.
* **CSV**: a header row; columns ``id``, the task fields, optional ``facts`` (a JSON object)
  and ``note``. A list field is a JSON array (``["a", "b"]``), one item per line inside
  the cell, or items separated by the catalog's ``list_separator`` (``;``).
* **.txt / .md**: the whole file is one text, checked as field ``description`` (or the
  field given with ``--field``); positions are the file's real ``line:col``. When that
  field is a list field, each non-empty line is one item (a leading ``-`` or ``*`` is
  dropped).
* ``-``: standard input, read as JSONL when its first character is ``{``, else as text.
* a **directory**: every ``*.jsonl``, ``*.csv``, ``*.txt`` and ``*.md`` below it, sorted. A
  broken link is an error and a ``.json``/``.ndjson``/``.tsv`` file a warning (neither is
  passed over silently); other files are not inputs and are left alone.

A malformed record (bad JSON, not an object, missing id, a field of the wrong type) is
reported as a :class:`~stylegen.validation.findings.Finding` of rule ``Stylegen.Input`` (level
error) with its line; the rest of the file is still read. The same holds for hostile input:
a line that is not UTF-8, a line over :data:`MAX_LINE_CHARS`, JSON nested deeper than
:data:`MAX_DEPTH`, a field over :data:`MAX_FIELD_CHARS` (reported as too long and left out of
the checks), NUL bytes, a CSV cell over ``csv.field_size_limit()``, an unterminated CSV
quote (with the line it opens on), a CSV whose first row is data rather than a header, a
repeated record id, and an input with no records at all.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from stylegen.catalog.csvfile import csv_records, MAX_RECORD_CHARS
from stylegen.errors import DataError
from stylegen.kit.yaml_lines import short as _cut
from stylegen.validation.findings import INPUT_RULE, Finding

SUFFIXES = (".jsonl", ".csv", ".txt", ".md")
_NEAR_SUFFIXES = (".json", ".ndjson", ".tsv", ".markdown", ".text")  # look like inputs: reported when skipped
_META_KEYS = ("id", "facts", "note", "provenance")  # provenance: where a reviewed record came from
MAX_LINE_CHARS = MAX_RECORD_CHARS  # one JSONL line or CSV record; a real one is a few KB
MAX_FIELD_CHARS = 100_000  # one field's text; spaCy refuses texts over 1,000,000 (E088)
MAX_DEPTH = 50  # JSON nesting of one record (real records nest 2-3 levels)
EMPTY_INPUT = "empty input: no records to check"
NO_RECORDS = "no records in the input"


@dataclass
class Record:
    """One piece of copy: its output fields, the facts it was written from, and its origin.

    ``positions`` maps a field key (``"description"``, ``"bullets[1]"``) to the
    ``(line, col)`` where its text starts in a text file; when it is set, findings get
    real line:col positions. Without it, ``line`` is the record's line and ``col`` the
    1-based offset inside the field. ``invalid`` names the keys the reader reported as
    malformed (``Stylegen.Input``), so the schema check does not report them again.
    """

    id: str | None
    fields: dict
    facts: dict | None = None
    path: str | None = None
    line: int | None = None
    note: str | None = None
    raw: dict | None = None
    positions: dict | None = None
    invalid: tuple = ()
    offsets: dict | None = None  # normalised field key -> original offsets (validation.normalize)
    original: dict | None = None  # the fields as written, when ``fields`` holds normalised texts

    def as_document(self) -> dict:
        """The record as a JSON document (what the brand's JSON Schema validates)."""
        if self.raw is not None:
            return self.raw
        doc = {"id": self.id, **self.fields}
        if self.facts is not None:
            doc["facts"] = self.facts
        return doc

    def locate(self, key: str, offset: int, text: str) -> tuple[int | None, int]:
        """File ``(line, col)`` of character ``offset`` of the text of field ``key``."""
        start = (self.positions or {}).get(key)
        if start is None:
            return self.line, offset + 1
        line, col = start
        before = text[:offset]
        newlines = before.count("\n")
        if newlines:
            return line + newlines, offset - before.rfind("\n")
        return line, col + offset


def field_texts(record: Record, names: list[str] | None = None) -> Iterator[tuple[str, str, str]]:
    """``(key, name, text)`` for every text of the record's fields; list items one by one.

    ``key`` is ``name`` for a text field and ``name[i]`` (0-based) for a list item.
    """
    for name, value in record.fields.items():
        if names is not None and name not in names:
            continue
        if isinstance(value, str):
            yield name, name, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{name}[{i}]", name, item


def parse_field_key(key: str | None) -> tuple[str, int | None]:
    """A finding's or fix's field key as (field name, list index or None).

    ``description`` -> ``("description", None)``; ``bullets[2]`` -> ``("bullets", 2)``; a
    nested key (``facts.name``) is named by its first part. The one parser of the keys
    :func:`field_texts` makes.
    """
    name, _, rest = (key or "").partition("[")
    index = rest[:-1] if rest.endswith("]") else ""
    return name.split(".", 1)[0], int(index) if index.isdigit() else None


def task_of(key: str | None, tasks) -> str | None:
    """The task a field key belongs to (``bullets[2]`` -> ``bullets``), or None if it is no task."""
    name = parse_field_key(key)[0]
    return name if name in tasks else None


def field_text(value) -> str:
    """One field's value as one text: list items one per line, strings as they are."""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v).strip() for v in value if str(v).strip())
    return str(value or "").strip()


def read_records(path: str | Path, brand, field_name: str | None = None) -> tuple[list[Record], list[Finding]]:
    """Read records from a file, a directory (recursively) or ``-`` (stdin).

    Args:
        path: the input.
        brand: the BrandKit (its task fields say which keys are copy, and their kinds).
        field_name: the field a .txt/.md text is checked as (default ``description``).

    Returns:
        The records and the ``Stylegen.Input`` findings for malformed ones.

    Raises:
        DataError: the path does not exist or has a type stylegen cannot read.
    """
    if str(path) == "-":
        return _read_stdin(brand, field_name)
    path = Path(path)
    if path.is_dir():
        return _read_dir(path, brand, field_name)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: cannot read {path.suffix or 'files without a suffix'} "
                        f"(valid: {', '.join(SUFFIXES)}, a directory, or - for stdin)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    return _read_bytes_as(path.suffix.lower(), data, str(path), brand, field_name)


def _read_bytes_as(suffix: str, data: bytes, name: str, brand, field_name):
    """Decode and read; undecodable lines become findings with their line number."""
    text, findings = _decode(data, name)
    records, more = _read_text_as(suffix, text, name, brand, field_name)
    return records, findings + more


def _decode(data: bytes, name: str) -> tuple[str, list[Finding]]:
    """UTF-8 text of ``data``; each line that is not UTF-8 is reported and blanked (the rest kept)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lines, findings = [], []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            findings.append(_input(name, lineno, f"not UTF-8 text: {exc.reason} at column {exc.start + 1}; "
                                                 "line skipped", col=exc.start + 1))
            lines.append("")
    return "\n".join(lines), findings


def _read_dir(folder: Path, brand, field_name):
    """Every readable file below ``folder``; a broken link or a ``.json`` file is reported, not passed over."""
    records, findings = [], []
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.exists():
            findings.append(_input(str(path), None, "broken link (its target does not exist); file skipped"))
        elif path.is_file() and path.suffix.lower() in SUFFIXES:
            files.append(path)
        elif path.is_file() and path.suffix.lower() in _NEAR_SUFFIXES:
            findings.append(Finding(rule=INPUT_RULE, level="warning", path=str(path), line=None,
                                    message=f"not read: {path.suffix} is not an input format (valid: "
                                            f"{', '.join(SUFFIXES)}; one JSON object a line is .jsonl); file "
                                            "skipped"))
    for file in files:
        recs, finds = read_records(file, brand, field_name)
        records += recs
        findings += finds
    return records, findings


def _read_stdin(brand, field_name):
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        data = buffer.read()
    else:  # a text-only stream (tests, embedding): re-encode what it decoded
        data = sys.stdin.read().encode("utf-8", "surrogateescape")
    suffix = ".jsonl" if data.lstrip().startswith(b"{") else ".txt"
    return _read_bytes_as(suffix, data, "-", brand, field_name)


def _read_text_as(suffix: str, text: str, name: str, brand, field_name):
    if not text.strip():
        return [], [_input(name, 1, EMPTY_INPUT)]
    if "\x00" in text and suffix not in (".jsonl", ".csv"):
        return [], [_input(name, text[:text.index("\x00")].count("\n") + 1,
                           "contains a NUL byte: binary data, not text")]
    if suffix == ".jsonl":
        return read_jsonl(text, name, brand)
    if suffix == ".csv":
        return read_csv(text, name, brand)
    if len(text) > MAX_FIELD_CHARS:
        return [], [_input(name, 1, f"too long ({len(text):,} characters; the limit for one text is "
                                    f"{MAX_FIELD_CHARS:,}); not checked", field=field_name or "description")]
    return [read_text(text, name, brand, field_name)], []


def read_jsonl(text: str, path: str, brand) -> tuple[list[Record], list[Finding]]:
    """Records from JSONL text; each bad line becomes a finding and reading goes on."""
    records, findings = [], []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        data = _parse_line(line, path, lineno, findings)
        if data is None:
            continue
        record = _record_from(data, path, lineno, brand, findings)
        if record is not None:
            records.append(record)
    return _finish(records, findings, path)


def _parse_line(line: str, path: str, lineno: int, findings: list):
    """The JSON value of one line, or None after reporting why it cannot be read."""
    if len(line) > MAX_LINE_CHARS:
        findings.append(_input(path, lineno, f"line too long ({len(line):,} characters; the limit is "
                                             f"{MAX_LINE_CHARS:,}); record skipped"))
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        findings.append(_input(path, lineno, f"not valid JSON: {exc.msg} (column {exc.colno})", col=exc.colno))
        return None
    except RecursionError:
        data = None
    if data is None or _depth(data) > MAX_DEPTH:
        if data is None and line.strip() == "null":
            findings.append(_input(path, lineno, "a record must be a JSON object, got NoneType"))
        else:
            findings.append(_input(path, lineno, f"nested deeper than {MAX_DEPTH} levels; record skipped"))
        return None
    return data


def _depth(value, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value, counted iteratively (no recursion) and stopping past ``limit``."""
    stack, deepest = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _finish(records: list, findings: list, path: str):
    """Report repeated ids (each after the first, naming the first's line) and an input without records."""
    first: dict[str, int] = {}
    for rec in records:
        if rec.id is None:
            continue
        if rec.id in first:
            findings.append(_input(path, rec.line, f"duplicate record id {_cut(rec.id)} (first at line "
                                                   f"{first[rec.id]})", rid=rec.id, field="id"))
        else:
            first[rec.id] = rec.line
    if not records and not findings:
        findings.append(_input(path, 1, NO_RECORDS))
    findings.sort(key=lambda f: f.line or 0)
    return records, findings


def read_csv(text: str, path: str, brand) -> tuple[list[Record], list[Finding]]:
    """Records from CSV text with a header row; list cells are parsed (see module doc).

    The text is cut into records by :func:`csv_records` (which knows the quote state), so a
    bad row (a stray quote, an unterminated quote, a row over :data:`MAX_LINE_CHARS`) is
    reported with its line and reading goes on at the next line; a cell over
    :data:`MAX_FIELD_CHARS` is reported with its field and the row's other fields are checked.
    """
    records, findings = [], []
    rows = csv_records(text, MAX_LINE_CHARS)
    header = _csv_header(next(rows, None), path, brand, findings)
    if header is None:
        return records, findings
    for lineno, row in rows:
        if isinstance(row, str):
            findings.append(_input(path, lineno, row))
            continue
        if len(row) > len(header):
            findings.append(_input(path, lineno, f"{len(row) - len(header)} more cells than header columns"))
        row = dict(zip(header, row + [""] * (len(header) - len(row))))
        data = _csv_row(row, path, lineno, brand, findings)
        record = _record_from(data, path, lineno, brand, findings, raw=False)
        if record is not None:
            records.append(record)
    return _finish(records, findings, path)


def _csv_header(first, path: str, brand, findings: list) -> list[str] | None:
    """The header's column names, or None (with a finding naming the row) when it is not usable."""
    if first is None:
        return None
    lineno, names = first
    if isinstance(names, str):
        findings.append(_input(path, lineno, f"header row: {names}"))
        return None
    known = set(_META_KEYS) | set(brand.tasks)
    if not known & {str(n).strip() for n in names}:
        findings.append(_input(path, lineno, f"the first row {_cut(', '.join(names))} looks like data, not a "
                                             f"header: a CSV needs a header row with columns such as id, "
                                             f"{', '.join(brand.tasks)}"))
        return None
    return names


def _csv_row(row: dict, path: str, lineno: int, brand, findings: list) -> dict:
    """Turn CSV strings into the JSON shape: list fields split, facts parsed, empties dropped."""
    data = {}
    for key, value in row.items():
        if value is None or value == "":
            continue
        if key == "facts":
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                findings.append(_input(path, lineno, f"facts: not a JSON object: {exc.msg}", field="facts"))
                continue
        elif _is_list_task(brand, key):
            value = _split_cell(value, brand.catalog.list_separator)
        data[key] = value
    return data


def _split_cell(value: str, separator: str) -> list:
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list):
                return parsed
        except json.JSONDecodeError:
            pass  # not JSON after all: fall through to the plain splits
    parts = value.splitlines() if "\n" in value else value.split(separator)
    return [p.strip() for p in parts if p.strip()]


def _record_from(data, path, lineno, brand, findings, raw: bool = True) -> Record | None:
    """Build a Record, reporting shape problems; wrongly typed fields are left out of checks."""
    if not isinstance(data, dict):
        findings.append(_input(path, lineno, f"a record must be a JSON object, got {type(data).__name__}"))
        return None
    invalid = []
    rid = data.get("id")
    if not isinstance(rid, str) or not rid.strip():
        what = "missing" if rid is None else f"not a non-empty string ({_cut(rid)})"
        findings.append(_input(path, lineno, f"record id is {what}", field="id"))
        invalid.append("id")
        rid = rid if isinstance(rid, str) else (None if rid is None else _cut(rid))
    fields = {}
    for key, value in data.items():
        if key in _META_KEYS:
            continue
        problem = _type_problem(brand, key, value)
        if problem:
            findings.append(_input(path, lineno, f"{key}: {problem}", rid=rid, field=key))
            invalid.append(key)
        else:
            fields[key] = value
    facts = data.get("facts")
    if facts is not None and not isinstance(facts, dict):
        findings.append(_input(path, lineno, f"facts: must be an object, got {type(facts).__name__}", rid=rid,
                               field="facts"))
        invalid.append("facts")
        facts = None
    note = data.get("note") if isinstance(data.get("note"), str) else None
    return Record(id=rid, fields=fields, facts=facts, path=path, line=lineno, note=note,
                  raw=data if raw else None, invalid=tuple(invalid))


def _type_problem(brand, key: str, value) -> str | None:
    """Why a value cannot be checked as the field ``key`` (None when it can)."""
    texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
        if isinstance(value, list) else []
    if sum(len(t) for t in texts) > MAX_FIELD_CHARS:
        return (f"too long ({sum(len(t) for t in texts):,} characters; the limit is {MAX_FIELD_CHARS:,}); "
                "not checked")
    if any("\x00" in t for t in texts):
        return "contains a NUL byte (binary data); not checked"
    if _is_list_task(brand, key):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"must be a list of strings, got {_kind(value)}"
    elif key in brand.tasks and not isinstance(value, str):
        return f"must be a string, got {_kind(value)}"
    return None


def read_text(text: str, path: str, brand, field_name: str | None = None) -> Record:
    """A whole .txt/.md text as one record with real line:col positions."""
    name = field_name or "description"
    stem = Path(path).stem if path != "-" else "stdin"
    if len(text) > MAX_FIELD_CHARS:  # read_records reports it; keep the checks (and spaCy) off it
        text = ""
    if not _is_list_task(brand, name):
        return Record(id=stem, fields={name: text}, path=path, line=1, positions={name: (1, 1)})
    items, positions = [], {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        body = line.lstrip()
        if body[:2] in ("- ", "* "):
            body = body[2:].lstrip()
        if body.strip():
            positions[f"{name}[{len(items)}]"] = (lineno, len(line) - len(body) + 1)
            items.append(body.rstrip())
    return Record(id=stem, fields={name: items}, path=path, line=1, positions=positions)


def _is_list_task(brand, key: str) -> bool:
    task = brand.tasks.get(key)
    return task is not None and task.kind == "list"


def skipped_rows(records: list[Record], findings: list[Finding]) -> list[str]:
    """``path:line`` of each input row reported as malformed that gave no record (so was not checked).

    An input with no rows at all (:data:`EMPTY_INPUT`, :data:`NO_RECORDS`) skipped nothing.
    """
    read = {(r.path, r.line) for r in records}
    places = dict.fromkeys((f.path, f.line) for f in findings if f.rule == INPUT_RULE
                           and f.message not in (EMPTY_INPUT, NO_RECORDS))
    return [f"{path}:{line}" if line is not None else str(path) for path, line in places if (path, line) not in read]


def _input(path, line, message, col=None, rid=None, field=None) -> Finding:
    return Finding(rule=INPUT_RULE, level="error", message=message, path=path, line=line, col=col,
                   id=rid, field=field)


def _kind(value) -> str:
    return {dict: "an object", list: "a list with a non-string item", type(None): "null"}.get(
        type(value), type(value).__name__)
