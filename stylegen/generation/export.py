"""Accepted copy of a run directory written back in a shop platform's import format.

Only accepted rows are read (the ledger's finished rows when the run has a ledger, else
``outputs.jsonl``); rejected rows are never exported. ``shopify-csv`` writes the columns as
Shopify's product import names them: ``Handle``, ``Body (HTML)`` (the description as
``<p>``, the bullets as ``<ul><li>``, every text HTML-escaped) and ``SEO Description`` (the
meta description). ``csv`` writes ``id`` plus one column per task, lists joined with "; "
(a list-valued id too); ``jsonl`` one ``{"id": ..., "fields": ...}`` object a line. In both
CSV formats a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'`` so a spreadsheet reads it as text, not a formula (OWASP CSV injection).

A run file that cannot be read (a ledger that is not SQLite or is truncated, an output line
that is not UTF-8 or JSON, a field that is not text) is a :class:`DataError` naming the file
and line: nothing is exported from a run that cannot be read whole.
"""
from __future__ import annotations

import csv
import html
import io
import json
import sqlite3
from pathlib import Path

from stylegen.errors import DataError
from stylegen.generation.ledger import LEDGER_FILE, Ledger, OUTPUTS

EXPORT_FORMATS = ("shopify-csv", "csv", "jsonl")
SHOPIFY_COLUMNS = ["Handle", "Body (HTML)", "SEO Description"]


def accepted_records(run_dir: str | Path) -> list[dict]:
    """The accepted rows of a run, as ``{"id", "fields"}`` dicts in run order.

    Every malformed row is reported at once, each with its file and line (or ledger row):
    exporting part of a run without saying so would lose products silently.

    Raises:
        DataError: ``run_dir`` is not a run directory, its ledger cannot be read, or an
            output line is not UTF-8, not JSON, or not an output record of the right shape.
    """
    run_dir = Path(run_dir)
    if (run_dir / LEDGER_FILE).is_file():
        payloads = _ledger_payloads(run_dir / LEDGER_FILE)
        where = f"{run_dir / LEDGER_FILE}: accepted row"
    elif (run_dir / OUTPUTS["accepted"]).is_file():
        payloads = _output_lines(run_dir / OUTPUTS["accepted"])
        where = f"{run_dir / OUTPUTS['accepted']}: line"
    else:
        raise DataError(f"{run_dir}: not a run directory (no {LEDGER_FILE} or {OUTPUTS['accepted']})")
    records, problems = [], []
    for number, payload in payloads:
        record = _record(payload)
        if isinstance(record, str):
            problems.append(f"{where} {number}: {record}")
        else:
            records.append(record)
    if problems:
        raise DataError("\n".join(problems))
    return records


def _ledger_payloads(path: Path) -> list[tuple[int, str]]:
    """``(n, payload)`` of the ledger's accepted rows; a file that is not a readable ledger is a DataError."""
    try:
        ledger = Ledger(path)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: not a readable run ledger ({exc}); export outputs.jsonl by moving the ledger "
                        "away, or rerun the generation") from None
    try:
        rows = ledger.finished_rows()
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise DataError(f"{path}: the ledger's finished rows cannot be read ({exc})") from None
    finally:
        ledger.close()
    return [(i, r.payload) for i, r in enumerate(rows, 1) if r.status == "accepted"]


def _output_lines(path: Path) -> list[tuple[int, str | UnicodeDecodeError]]:
    """``(line, text)`` of each non-blank line; a line that is not UTF-8 gives its decode error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            lines.append((number, exc))
            continue
        if text.strip():
            lines.append((number, text))
    return lines


def _record(payload) -> dict | str:
    """``{"id", "fields"}`` from one payload, or why it is not an accepted output record."""
    if isinstance(payload, UnicodeDecodeError):
        return f"not UTF-8 text ({payload.reason} at column {payload.start + 1})"
    try:
        record = json.loads(payload)
    except (TypeError, ValueError) as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(record, dict) or not isinstance(record.get("fields"), dict):
        return "not an accepted output record (no 'fields' mapping)"
    rid = record.get("id")
    if not _scalar(rid) and not (isinstance(rid, list) and rid and all(_scalar(v) for v in rid)):
        return f"id: must be a string or number, got {_kind(rid)}"
    for name, value in record["fields"].items():
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"field {name!r}: must be a string or a list of strings, got {_kind(value)}"
    return {"id": join_list(rid), "fields": record["fields"]}


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def join_list(value) -> str:
    """A cell's text: a list joined with "; " (as this module's doc says), anything else as ``str``."""
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


def neutralize_formula(cell: str) -> str:
    """A CSV cell a spreadsheet will not run: a leading ``= + - @``, tab or CR gets a ``'`` before it.

    OWASP's CSV-injection guidance: spreadsheets treat such cells as formulas
    (``=HYPERLINK(...)``); the quote makes the cell text. Every CSV cell export writes passes here.
    """
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def shopify_body(fields: dict) -> str:
    """``Body (HTML)``: the description as paragraphs, the bullets as a list, all escaped."""
    parts = []
    description = fields.get("description")
    if isinstance(description, str) and description.strip():
        parts += [f"<p>{html.escape(p.strip())}</p>" for p in description.split("\n\n") if p.strip()]
    bullets = fields.get("bullets")
    if isinstance(bullets, str):
        bullets = [b for b in bullets.splitlines() if b.strip()]
    if bullets:
        items = "".join(f"<li>{html.escape(str(b).strip().lstrip('-*• ').strip())}</li>" for b in bullets)
        parts.append(f"<ul>{items}</ul>")
    return "".join(parts)


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> tuple[str, int]:
    """Write a run's accepted copy as ``fmt``; returns (the text written, rows exported).

    Args:
        run_dir: a ``stylegen generate`` output directory.
        fmt: one of :data:`EXPORT_FORMATS`.
        out: file to write (None: only return the text).
    """
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    records = accepted_records(run_dir)
    text = {"shopify-csv": _shopify_csv, "csv": _plain_csv, "jsonl": _jsonl}[fmt](records)
    if out is not None:
        Path(out).write_text(text, encoding="utf-8", newline="")
    return text, len(records)


def _shopify_csv(records: list[dict]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SHOPIFY_COLUMNS)
    for record in records:
        meta = record["fields"].get("meta_description") or ""
        row = [record["id"], shopify_body(record["fields"]), join_list(meta)]
        writer.writerow([neutralize_formula(cell) for cell in row])
    return buffer.getvalue()


def _plain_csv(records: list[dict]) -> str:
    tasks = list(dict.fromkeys(t for r in records for t in r["fields"]))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *tasks])
    for record in records:
        values = [join_list(record["fields"].get(t, "")) for t in tasks]
        writer.writerow([neutralize_formula(cell) for cell in [record["id"], *values]])
    return buffer.getvalue()


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
