"""CSV text cut into records with the quote state followed line by line, so that one bad
quote costs its own row, never the rest of the file: the one CSV record reader of
``validate`` (validation/records.py) and of the catalog (catalog/rows.py).
"""
from __future__ import annotations

import csv
import io
from typing import Iterator

MAX_RECORD_CHARS = 5_000_000  # one record; a real one is a few KB


def csv_records(text: str, limit: int = MAX_RECORD_CHARS) -> Iterator[tuple[int, list[str] | str]]:
    """``(first line, cells)`` per CSV record, or ``(first line, problem)`` for a row that cannot be read.

    The quote state is followed line by line (a quote opens a quoted cell only at the start
    of a cell, ``""`` inside one is a quote), so a record spans lines only inside a quoted
    cell. A record whose quote never closes, that grows past ``limit`` characters, or that
    the csv module refuses (a stray quote) is reported, and reading starts again at the line
    after its first: one bad quote costs its own row, never the rest of the file. Blank
    lines are left out.
    """
    if csv.field_size_limit() < limit:  # cells over a reader's own field limit are reported per field
        csv.field_size_limit(limit)
    lines = io.StringIO(text, newline="").readlines()
    i = 0
    while i < len(lines):
        start, quoted, size = i, False, 0
        while i < len(lines) and size <= limit:
            quoted = _ends_quoted(lines[i], quoted)
            size += len(lines[i])
            i += 1
            if not quoted:
                break
        cells = _cells(lines[start:i], quoted, size, limit)
        if isinstance(cells, str):
            i = start + 1  # re-synchronise at the next line
        if cells:
            yield start + 1, cells


def _cells(lines: list[str], quoted: bool, size: int, limit: int) -> list[str] | str | None:
    """The cells of one record's lines, None for a blank line, or why the row cannot be read."""
    if quoted:
        return (f"unterminated quote: this row's quoted cell never closes (within {limit:,} characters); "
                "reading goes on at the next line; row skipped")
    if size > limit:
        return f"row too long ({size:,} characters; the limit is {limit:,}); row skipped"
    try:
        rows = list(csv.reader(io.StringIO("".join(lines), newline=""), strict=True))
    except csv.Error as exc:
        return f"not valid CSV: {exc}; reading goes on at the next line; row skipped"
    return rows[0] if rows and any(cell.strip() for cell in rows[0]) else None


def _ends_quoted(line: str, quoted: bool) -> bool:
    """Whether a quoted cell is still open at the end of ``line`` (``quoted``: open at its start)."""
    i = 0
    while True:
        j = line.find('"', i)
        if j < 0:
            return quoted
        if quoted and line.startswith('""', j):
            i = j + 2
        elif quoted:
            quoted, i = False, j + 1
        else:  # a quote opens a quoted cell only where a cell starts; elsewhere it is a character
            quoted, i = j == 0 or line[j - 1] == ",", j + 1
