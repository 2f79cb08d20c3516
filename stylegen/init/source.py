"""Reading a file of approved copy for ``stylegen init``: CSV, JSONL or a Shopify export.

Every reader returns flat rows (column -> str or list of str) and a note on how the file
was read; :func:`guess_fields` proposes which columns are copy and which are facts when
the user names none.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from stylegen.errors import DataError
from stylegen.catalog.formats import LIST_SUFFIX, platform_rows
from stylegen.kit.brand import CatalogMap

LIST_SEP = re.compile(r"\s*(?:\n|;)\s*")
# Shopify export columns an init maps to the names the rest of stylegen uses.
_SHOPIFY_FACTS = {"Title": "name", "Type": "category", "Product Category": "product_category",
                  "Tags": "tags", "Vendor": "vendor", "Variant Grams": "weight_grams"}
COPY_NAMES = ("description", "meta_description", "bullets")
_COPY_MIN_WORDS = 15  # a column whose values average this many words reads as copy, not a fact


def read_rows(path: Path) -> tuple[list[dict], str]:
    """(flat rows, how the file was read) for a CSV, JSONL or Shopify product export.

    Raises:
        DataError: the file cannot be read, or a JSONL line is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc.__class__.__name__}: {exc}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return [_flatten(r) for r in _jsonl_rows(path, text)], "JSONL"
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    if "Handle" in header and "Body (HTML)" in header:
        return _shopify_rows(path, text), "Shopify product export"
    return list(csv.DictReader(io.StringIO(text, newline=""))), "CSV"


def _jsonl_rows(path: Path, text: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: not a JSON object")
        rows.append(row)
    return rows


def _flatten(row: dict) -> dict:
    """Records of the training format keep their facts under ``facts``."""
    if isinstance(row.get("facts"), dict):
        return {**{k: v for k, v in row.items() if k != "facts"}, **row["facts"]}
    return row


def _shopify_rows(path: Path, text: str) -> list[dict]:
    """Products of a Shopify export: the body's text is the description, its ``<li>`` items
    the bullets, SEO Description the meta description; Title, Type, Tags and the options
    (Size, Color, ...) are facts. Variants are folded by the catalog reader's own code."""
    cmap = CatalogMap(id="Handle", format="shopify-csv", html_columns=["Body (HTML)"], list_separator=",")
    rows = []
    for line, raw in platform_rows(path, text, cmap):
        if isinstance(raw, str):
            raise DataError(f"{path}:{line}: {raw}")
        rows.append(_shopify_row(raw, LIST_SUFFIX))
    return rows


def _shopify_row(raw: dict, list_suffix: str) -> dict:
    options = {raw.get(f"Option{n} Name", "").strip() for n in (1, 2, 3)} - {"", "Title"}
    row = {"id": raw["Handle"], "description": raw.get("Body (HTML)", ""),
           "bullets": raw.get("Body (HTML)" + list_suffix) or [],
           "meta_description": raw.get("SEO Description", "")}
    for column, value in raw.items():
        name = _SHOPIFY_FACTS.get(column)
        if name is None and column in options:
            name = column.lower()
        if name is None:  # prices, images, SEO title, publishing flags: not product facts
            continue
        row[name] = [v.strip() for v in value.split(",") if v.strip()] if column == "Tags" else value
    return {k: v for k, v in row.items() if v not in ("", [], None)}


def guess_fields(rows: list[dict], id_field: str) -> tuple[list[str], list[str]]:
    """(copy columns, fact columns) when the user names none.

    Copy: the usual copy names present (description, meta_description, bullets), else
    every column whose values average at least 15 words. Facts: every other column.
    """
    columns = list(dict.fromkeys(k for r in rows for k in r if k != id_field))
    copy = [c for c in COPY_NAMES if c in columns]
    if not copy:
        copy = [c for c in columns if _mean_words([r.get(c) for r in rows]) >= _COPY_MIN_WORDS]
    return copy, [c for c in columns if c not in copy and c != "note"]


def _mean_words(values: list) -> float:
    texts = [" ".join(v) if isinstance(v, list) else str(v or "") for v in values]
    return sum(len(t.split()) for t in texts) / max(1, len(texts))


def as_list(value) -> list[str]:
    """A list value, or a text split on newlines and semicolons (bullet marks stripped)."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.lstrip("-*• ").strip() for v in LIST_SEP.split(str(value or "")) if v.strip()]


def is_list_column(values: list) -> bool:
    """Most values are lists or hold several lines."""
    return sum(isinstance(v, list) or "\n" in str(v) for v in values) > len(values) / 2
