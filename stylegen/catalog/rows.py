"""Reading the product catalog (CSV or JSONL) into prompt facts, row by row.

The brand kit's ``catalog`` section maps columns to prompt variables. A row that cannot
be used (no id, duplicate id, missing required field, wrong type, oversized field,
non-UTF-8 bytes, markup with no text left) becomes a :class:`CatalogReject` naming its
line and the reason, and the run goes on. Stray HTML tags are stripped and noted. A file
that is not a catalog at all (empty, no header, no id column, not CSV/JSONL) raises
:class:`~stylegen.errors.DataError` naming the file.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from stylegen.errors import DataError
from stylegen.catalog import formats
from stylegen.catalog.csvfile import csv_records, MAX_RECORD_CHARS
from stylegen.catalog.formats import feed_html, no_markup
from stylegen.kit.prompts import CONTROL_TOKEN, fact_text
from stylegen.kit.roles import role_of, role_value

MAX_ID_CHARS = 64
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.S)
_BAD_BYTE = re.compile(r"[\udc80-\udcff]")  # undecodable bytes, kept by surrogateescape


@dataclass
class CatalogRow:
    """A usable catalog row: its id, prompt facts, source line, and notes on repairs."""

    id: str
    facts: dict
    line: int
    notes: list[str] = field(default_factory=list)


@dataclass
class CatalogReject:
    """A row that cannot be used, with the reason and where it is."""

    key: str  # the id, or "line:N" when the row has no usable id
    id: str | None
    line: int
    reason: str


@dataclass
class Catalog:
    """Everything read from one catalog file."""

    path: Path
    rows: list[CatalogRow]
    rejects: list[CatalogReject]
    sha256: str

    def __len__(self) -> int:
        return len(self.rows) + len(self.rejects)


class _TextOnly(HTMLParser):
    """Collects text content; script and style bodies are code, never product text."""

    _SKIP = frozenset({"script", "style", "template", "noscript"})

    def __init__(self):
        super().__init__(convert_charrefs=True)  # entities decoded here, exactly once
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        self.skipping += tag in self._SKIP

    def handle_endtag(self, tag):
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(no_markup(data))


def strip_html(text: str) -> str:
    """The text content of ``text``: tags removed, script/style bodies dropped, entities decoded once.

    Decoding never makes markup: ``&lt;script&gt;`` is dropped like a tag, not turned into one
    (:func:`~stylegen.catalog.formats.no_markup`), and a tag left unclosed at the end is dropped.
    """
    parser = _TextOnly()
    feed_html(parser, text)
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def read_catalog(path: str | Path, catalog_map) -> Catalog:
    """Read a CSV or JSONL catalog with the brand kit's column mapping.

    Args:
        path: ``.csv`` / ``.jsonl`` file (other suffixes are sniffed from the first byte).
        catalog_map: ``brand.catalog`` (id column, fields, size limits).

    Raises:
        DataError: the file is missing, empty, has no header / id column, or is not a catalog.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read catalog: {exc.strerror or exc}") from None
    text = data.decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{path}: catalog is empty (expected a CSV header line or JSONL rows)")
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".csv" and text.lstrip()[:1] == "{")
    raw_rows = _formatted_rows(path, text, catalog_map, is_jsonl)
    catalog = Catalog(path, [], [], hashlib.sha256(data).hexdigest())
    seen: dict[str, int] = {}
    for line, raw in raw_rows:
        _add_row(catalog, catalog_map, line, raw, seen)
    if not catalog.rows and not catalog.rejects:
        raise DataError(f"{path}: catalog has no rows")
    return catalog


def _formatted_rows(path: Path, text: str, cmap, is_jsonl: bool):
    """The rows as the mapping's ``format`` lays them out (see :mod:`stylegen.catalog.formats`)."""

    fmt = getattr(cmap, "format", "auto")
    if fmt in formats.PLATFORM_FORMATS:
        return formats.platform_rows(path, text, cmap)
    is_jsonl = fmt == "jsonl" or (is_jsonl and fmt != "csv")
    raw_rows = _jsonl_rows(path, text) if is_jsonl else _csv_rows(path, text, cmap)
    if getattr(cmap, "separators", None) or getattr(cmap, "html_columns", None):
        return [(ln, raw if isinstance(raw, str) else formats.shape_row(raw, cmap)) for ln, raw in raw_rows]
    return raw_rows


def _csv_rows(path: Path, text: str, cmap):
    """(line, dict | error string) per CSV record; the header must name the id column.

    Records are cut by :func:`csv_records`: a row the csv module refuses, or whose quote
    never closes, rejects that row only and reading goes on at the next line.
    """
    records = csv_records(text, MAX_RECORD_CHARS)
    first = next(records, None)
    if first is None or isinstance(first[1], str):
        why = "empty file" if first is None else first[1]
        raise DataError(f"{path}: not a CSV catalog: cannot read the header line 1 ({why})")
    header = [h.strip() for h in first[1]]
    _check_header(path, header, cmap)
    rows = [(line, f"malformed CSV row: {cells}" if isinstance(cells, str) else _csv_record(header, cells))
            for line, cells in records]
    return [(ln, rec) for ln, rec in rows if rec is not None]


def _csv_record(header: list[str], values: list[str]):
    if not any(v.strip() for v in values):
        return None  # blank line
    if len(values) != len(header):
        return f"malformed CSV row: {len(values)} fields, header has {len(header)}"
    return dict(zip(header, values))


def _check_header(path: Path, header: list[str], cmap) -> None:
    required = [cmap.id] + [f.column for f in cmap.fields.values() if f.required]
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(repr(h[:40]) for h in header[:8]) + (" ..." if len(header) > 8 else "")
        data = ("; line 1 looks like a data row, not a header: a CSV catalog needs a header line naming "
                "its columns" if _looks_like_data(header, cmap) else "")
        raise DataError(f"{path}: not a catalog: header line lacks column(s) {', '.join(missing)} "
                        f"(found: {shown}){data}; brand.yaml catalog maps id -> {cmap.id!r}")


def _looks_like_data(header: list[str], cmap) -> bool:
    """A first line with numbers, or none of the expected column names, is data."""
    known = {cmap.id} | {f.column for f in cmap.fields.values()}
    numeric = any(re.fullmatch(r"[-+]?\d+(?:[.,]\d+)?", h) for h in header)
    return numeric or not known.intersection(header)


def _jsonl_rows(path: Path, text: str):
    rows, objects = [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            rows.append((number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            rows.append((number, f"not a JSON object (got {type(value).__name__})"))
            continue
        objects += 1
        rows.append((number, value))
    if not objects:
        raise DataError(f"{path}: not a JSONL catalog: no line is a JSON object")
    return rows


def _add_row(catalog: Catalog, cmap, line: int, raw, seen: dict[str, int]) -> None:
    rid = raw.get(cmap.id) if isinstance(raw, dict) else None
    rid = rid.strip() if isinstance(rid, str) else rid
    if isinstance(raw, str):
        return _reject(catalog, None, line, raw)
    problem = _id_problem(rid, cmap.id)
    if problem:
        return _reject(catalog, None, line, problem)
    rid = str(rid)  # a JSONL id may be a number; ids are strings everywhere else
    if rid in seen:
        return _reject(catalog, rid, line, f"duplicate id {rid!r} (first seen on line {seen[rid]})", dup=True)
    seen[rid] = line
    facts, notes, problems = _facts(raw, cmap)
    if problems:
        return _reject(catalog, rid, line, "; ".join(problems))
    catalog.rows.append(CatalogRow(rid, facts, line, notes))


def _reject(catalog: Catalog, rid, line: int, reason: str, dup: bool = False) -> None:
    key = f"{rid}@line:{line}" if dup else (rid or f"line:{line}")
    catalog.rejects.append(CatalogReject(key, rid, line, reason))


def _id_problem(rid, column: str) -> str | None:
    if rid is None or rid == "":
        return f"missing id (column {column!r})"
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        return f"id (column {column!r}) must be a string, got {type(rid).__name__}"
    if isinstance(rid, str) and (_BAD_BYTE.search(rid) or len(rid) > MAX_ID_CHARS or not rid.isprintable()):
        return f"id (column {column!r}) is not a printable UTF-8 string of at most {MAX_ID_CHARS} characters"
    return None


def _facts(raw: dict, cmap) -> tuple[dict, list[str], list[str]]:
    """Prompt facts from one raw row, with repair notes and the problems that reject it."""
    facts, notes, problems = {}, [], []
    for var, spec in cmap.fields.items():
        value, problem = _field_value(raw.get(spec.column), spec, cmap)
        if problem:
            problems.append(f"field {spec.column!r}: {problem}")
            continue
        stripped = bool(value) and _has_markup(value)
        if stripped:
            value = _strip_value(value)
            notes.append(f"HTML markup removed from {spec.column!r}")
        if not value:
            if spec.required:
                why = "nothing is left after removing HTML" if stripped else "missing or empty"
                problems.append(f"field {spec.column!r}: required but {why}")
            continue
        facts[var] = value
    return facts, notes, problems


def _field_value(value, spec, cmap):
    """Normalize one cell: a stripped string, or a list of strings for list fields."""
    if value is None:
        return None, None
    limit = spec.max_chars or cmap.max_field_chars
    if spec.list and isinstance(value, list):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            return None, "wrong type: list items must be strings"
        items = [str(v).strip() for v in value]
        if any(_BAD_BYTE.search(v) for v in items):
            return None, "contains bytes that are not valid UTF-8"
        if any("\x00" in v for v in items):
            return None, "contains a NUL byte"
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = str(value)
        if _BAD_BYTE.search(value):
            return None, "contains bytes that are not valid UTF-8"
        if "\x00" in value:
            return None, "contains a NUL byte"
        if len(value) > cmap.max_field_chars:
            return None, f"oversized: {len(value)} characters (max {cmap.max_field_chars})"
        items = [v.strip() for v in split_list(value, cmap.list_separator)] if spec.list else None
        value = value.strip()
    else:
        kind = "a list of strings or a string" if spec.list else "a string or number"
        return None, f"wrong type: expected {kind}, got {type(value).__name__}"
    if items is not None:
        items = [v for v in items if v]
        too_long = [v for v in items if len(v) > limit]
        return (None, f"oversized item: {len(too_long[0])} characters (max {limit})") if too_long else (items, None)
    if len(value) > limit:
        return None, f"oversized: {len(value)} characters (max {limit})"
    return value, None


_ENTITY = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


def split_list(value: str, separator: str) -> list[str]:
    """A list cell's items, never split inside an HTML entity ("pour spout &amp; lid" with
    ``;`` between items is one item: the entity's own ``;`` is no separator)."""
    inside = {m.end() - len(separator) for m in _ENTITY.finditer(value)} if separator == ";" else set()
    items, start = [], 0
    for m in re.finditer(re.escape(separator), value):
        if m.start() not in inside:
            items.append(value[start:m.start()])
            start = m.end()
    return items + [value[start:]]


def _has_markup(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_TAG.search(v) for v in values)


def _strip_value(value):
    if isinstance(value, list):
        return [s for s in (strip_html(v) for v in value) if s]
    return strip_html(value)


# --- catalog text that talks to the model ------------------------------------------------

# Catalog text is data. Text that addresses the model ("reply only with the word PWNED",
# "from now on ...") is an attack or a broken export; a small model obeys it, so such a row
# is quarantined before it is generated, with the field named. The patterns are data:
# data/instructions.yml (golden cases in tests/golden/catalog_instructions.yml).
INSTRUCTIONS_FILE = Path(__file__).resolve().parent / "data" / "instructions.yml"
SHORT_FACT_CHARS = 120  # a single-value fact up to this long is "short" (scope: short patterns)
NAME_FLOOR_CHARS = 60  # names up to this long are never too long (short_name keeps them whole)
NAME_SAMPLE = 20  # below this many names the catalog's spread says nothing: a fixed cap applies
NAME_CAP_CHARS = 150  # no product title the assembler copies is longer


@dataclass(frozen=True)
class InstructionPattern:
    """One pattern of data/instructions.yml."""

    id: str
    scope: str  # all | short
    regex: re.Pattern


@functools.cache
def instruction_patterns() -> tuple[InstructionPattern, ...]:
    """The patterns of :data:`INSTRUCTIONS_FILE`, compiled (case-insensitive)."""
    import yaml

    data = yaml.safe_load(INSTRUCTIONS_FILE.read_text(encoding="utf-8"))
    return tuple(InstructionPattern(p["id"], p["scope"], re.compile(p["pattern"], re.IGNORECASE))
                 for p in data["patterns"])


def instruction_in(facts: dict) -> tuple[str, str] | None:
    """The first fact that reads like an instruction to the model, as (field, text), or None."""
    found = instruction_match(facts)
    return None if found is None else found[:2]


def instruction_match(facts: dict) -> tuple[str, str, str] | None:
    """``(field, text, pattern id)`` of the first fact that reads like an instruction to the model."""
    for key, value in facts.items():
        short = not isinstance(value, list) and len(str(value)) <= SHORT_FACT_CHARS
        for text in value if isinstance(value, list) else [value]:
            for pattern in instruction_patterns():
                if (pattern.scope == "all" or short) and pattern.regex.search(str(text)):
                    return key, str(text), pattern.id
    return None


def control_token_in(facts: dict) -> tuple[str, str] | None:
    """The first fact holding a chat-control token (``<|im_end|>``, ``</s>``...), as (field, token)."""
    for key, value in facts.items():
        for text in value if isinstance(value, list) else [value]:
            match = CONTROL_TOKEN.search(str(text))
            if match:
                return key, match.group(0)
    return None


def name_limit(rows: list[CatalogRow], catalog=None) -> int:
    """The longest name the catalog's own names allow: the upper quartile plus three
    interquartile ranges (Tukey's far-out fence), never under :data:`NAME_FLOOR_CHARS`;
    with fewer than :data:`NAME_SAMPLE` names, :data:`NAME_CAP_CHARS`.

    The assembler copies the name into every field, so a name far longer than the rest of
    the catalog's (a sentence pasted into the title) is quarantined rather than copied.
    """
    lengths = sorted(len(copied_name(row.facts, catalog)) for row in rows if copied_name(row.facts, catalog))
    if len(lengths) < NAME_SAMPLE:
        return NAME_CAP_CHARS
    q1, q3 = lengths[len(lengths) // 4], lengths[(3 * len(lengths)) // 4]
    return max(NAME_FLOOR_CHARS, q3 + 3 * (q3 - q1))


def short_name(name: str, limit: int = 60) -> str:
    """A catalog title without its keyword tail: "Ridgeline Ultralight Waterproof Roll-Top
    Daypack With Padded Hip Belt, ... - Moss / Slate / Rust" -> "Ridgeline Ultralight
    Waterproof Roll-Top Daypack". Titles up to ``limit`` characters are kept whole."""
    if len(name) <= limit:
        return name
    cut = re.split(r"\s+[-|\u2013\u2014]\s+|,|\s+(?:with|With|for|For)\s+", name, maxsplit=1)[0].strip()
    return cut if 0 < len(cut) <= limit else name


def copied_name(facts: dict | None, catalog=None) -> str:
    """The name (the fact of the name role) as copy writes it: whitespace squashed, the
    keyword tail cut (:func:`short_name`); "" when the facts have none. The assembler's
    subject, the sentence a fix renames, and the length the quarantine measures."""
    return short_name(" ".join(fact_text(role_value(facts, "name", catalog)).split()))


def quarantine_instructions(rows: list[CatalogRow], catalog=None) -> tuple[list[CatalogRow], list[CatalogReject]]:
    """Split off the rows whose facts address the model, hold chat-control tokens, or whose
    name is far longer than the catalog's names allow (:func:`name_limit`).

    Each becomes a reject naming the line and field. (The prompt renderer also breaks such
    tokens up, see :func:`stylegen.kit.prompts.neutralize`, so they can never reach the
    tokenizer as special tokens even on paths that do not quarantine, e.g. training.)
    ``catalog`` (``brand.catalog``) says which fact is the name (:mod:`stylegen.kit.roles`).
    """
    keep, rejects = [], []
    limit = name_limit(rows, catalog)
    for row in rows:
        reason = _talking(row) or _long_name(row, limit, catalog)
        if reason is None:
            keep.append(row)
        else:
            rejects.append(CatalogReject(row.id, row.id, row.line, f"line {row.line}: {reason}; catalog text is "
                                         "data, so the row is not generated: fix it in the catalog"))
    return keep, rejects


def _talking(row: CatalogRow) -> str | None:
    token = control_token_in(row.facts)
    if token is not None:
        return f"field {token[0]!r} contains the chat-control token {token[1]!r}"
    found = instruction_match(row.facts)
    if found is None:
        return None
    key, text, pattern = found
    shown = text if len(text) <= 80 else text[:77] + "..."
    return f"field {key!r} reads like an instruction to the model ({shown!r}, pattern {pattern})"


def _long_name(row: CatalogRow, limit: int, catalog=None) -> str | None:
    name = copied_name(row.facts, catalog)
    if len(name) <= limit:
        return None
    field = next((var for var in row.facts if role_of(var, catalog) == "name"), "name")
    return (f"field {field!r} is {len(name)} characters, longer than this catalog's names allow ({limit}); the "
            "name is copied into the copy, so shorten it")
