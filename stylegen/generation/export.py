"""Accepted copy of a run directory written back in a shop platform's import format.

Only accepted rows are read (the ledger's finished rows when the run has a ledger, else
``outputs.jsonl``); rejected rows are never exported. ``shopify-csv`` writes the columns as
Shopify's product import names them: ``Handle``, ``Body (HTML)`` (the description as
``<p>``, the bullets as ``<ul><li>``, every text HTML-escaped) and ``SEO Description`` (the
meta description). ``csv`` writes ``id`` plus one column per task, lists joined with "; ";
``jsonl`` one ``{"id": ..., "fields": ...}`` object a line.
"""
from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from stylegen.errors import DataError
from stylegen.generation.ledger import LEDGER_FILE, Ledger, OUTPUTS

EXPORT_FORMATS = ("shopify-csv", "csv", "jsonl")
SHOPIFY_COLUMNS = ["Handle", "Body (HTML)", "SEO Description"]


def accepted_records(run_dir: str | Path) -> list[dict]:
    """The accepted rows of a run, as ``{"id", "fields"}`` dicts in run order.

    Raises:
        DataError: ``run_dir`` is not a run directory or an output line is not JSON.
    """
    run_dir = Path(run_dir)

    if (run_dir / LEDGER_FILE).is_file():
        ledger = Ledger(run_dir / LEDGER_FILE)
        try:
            payloads = [(i, r.payload) for i, r in enumerate(ledger.finished_rows(), 1) if r.status == "accepted"]
        finally:
            ledger.close()
        where = f"{run_dir / LEDGER_FILE}: accepted row"
    elif (run_dir / OUTPUTS["accepted"]).is_file():
        text = (run_dir / OUTPUTS["accepted"]).read_text(encoding="utf-8")
        payloads = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
        where = f"{run_dir / OUTPUTS['accepted']}: line"
    else:
        raise DataError(f"{run_dir}: not a run directory (no {LEDGER_FILE} or {OUTPUTS['accepted']})")
    return [_record(where, number, payload) for number, payload in payloads]


def _record(where: str, number: int, payload: str) -> dict:
    try:
        record = json.loads(payload)
    except ValueError as exc:
        raise DataError(f"{where} {number}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("fields"), dict):
        raise DataError(f"{where} {number}: not an accepted output record (no 'fields' mapping)")
    return {"id": str(record.get("id")), "fields": record["fields"]}


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
        writer.writerow([record["id"], shopify_body(record["fields"]), meta if isinstance(meta, str) else ""])
    return buffer.getvalue()


def _plain_csv(records: list[dict]) -> str:
    tasks = list(dict.fromkeys(t for r in records for t in r["fields"]))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *tasks])
    for record in records:
        values = [record["fields"].get(t, "") for t in tasks]
        writer.writerow([record["id"], *("; ".join(map(str, v)) if isinstance(v, list) else v for v in values)])
    return buffer.getvalue()


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
