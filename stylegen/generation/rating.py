"""The rating sheet: a seeded sample of what a run accepted, for a person to rate.

Validators passing is the floor, not the goal: a content lead has to read what ships.
``review-sample.html`` (and ``review-sample.csv`` for a spreadsheet) shows a seeded random
sample of accepted products, the catalog facts beside the copy, without attempt counts or
scores (they would bias the reader), and a verdict column: ship / fix / reject.
"""
from __future__ import annotations

import csv
import html
import json
import random
from dataclasses import dataclass
from pathlib import Path

from stylegen.generation.ledger import brand_row_key
from stylegen.kit.prompts import fact_text

SHEET_HTML, SHEET_CSV = "review-sample.html", "review-sample.csv"
SAMPLE_SIZE = 20
VERDICTS = ("ship", "fix", "reject")


@dataclass(frozen=True)
class SheetBrand:
    """What the sheet shows of the run's brands: a title and the task columns, in order.

    A :class:`~stylegen.kit.brand.BrandKit` has both; a run of several brands joins them.
    """

    name: str
    tasks: list[str]


def sample_accepted(ledger, seed: int, size: int = SAMPLE_SIZE) -> list[dict]:
    """A seeded random sample of the accepted products' output records (finish order kept)."""
    accepted = [json.loads(r.payload) for r in ledger.finished_rows() if r.status == "accepted"]
    if len(accepted) <= size:
        return accepted
    picked = sorted(random.Random(seed).sample(range(len(accepted)), size))
    return [accepted[i] for i in picked]


def write_rating_sheet(run_dir: Path, ledger, brand, facts: dict[str, dict], seed: int,
                       size: int = SAMPLE_SIZE) -> list[dict]:
    """Write ``review-sample.html`` and ``review-sample.csv`` into ``run_dir``.

    Args:
        run_dir: the run directory.
        ledger: its ledger (the accepted rows are read from it).
        brand: the brand kit, or a :class:`SheetBrand` (title and task order).
        facts: catalog facts by product id (by ``<brand>:<id>`` in a multi-brand run, whose
            output records carry a ``brand``).
        seed: the run seed (the same run always samples the same products).
        size: products in the sample.

    Returns:
        The sampled output records.
    """
    sample = sample_accepted(ledger, seed, size)
    tasks = list(brand.tasks)
    (Path(run_dir) / SHEET_HTML).write_text(_html(brand.name, sample, tasks, facts), encoding="utf-8")
    _write_csv(Path(run_dir) / SHEET_CSV, sample, tasks, facts)
    return sample


def _facts_of(facts: dict, rec: dict) -> dict | None:
    return facts.get(brand_row_key(rec.get("brand"), rec["id"]))


def _shown_id(rec: dict) -> str:
    return f"{rec['brand']}: {rec['id']}" if rec.get("brand") else str(rec["id"])


def _copy_text(value) -> str:
    return "\n".join(f"- {v}" for v in value) if isinstance(value, list) else str(value or "")


def _facts_text(facts: dict | None) -> str:
    shown = [(key, value) for key, value in (facts or {}).items() if value not in (None, "", [])]
    return "\n".join(f"{key}: {fact_text(value)}" for key, value in shown)


def _write_csv(path: Path, sample: list[dict], tasks: list[str], facts: dict) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "facts", *tasks, "verdict (ship/fix/reject)", "comment"])
        for rec in sample:
            writer.writerow([_shown_id(rec), _facts_text(_facts_of(facts, rec)),
                             *(_copy_text(rec["fields"].get(t)) for t in tasks), "", ""])


def _html(brand_name: str, sample: list[dict], tasks: list[str], facts: dict) -> str:
    esc = html.escape
    rows = []
    for rec in sample:
        copy = "".join(f"<h4>{esc(t)}</h4>{_field_html(rec['fields'].get(t))}" for t in tasks)
        radio = esc(brand_row_key(rec.get("brand"), rec["id"]))
        choices = "".join(f'<label><input type="radio" name="v-{radio}" value="{v}"> {v}</label> ' for v in VERDICTS)
        listed = esc(_facts_text(_facts_of(facts, rec)))
        rows.append(f"<tr><td class=id>{esc(_shown_id(rec))}</td><td class=facts><pre>{listed}</pre></td>"
                    f"<td class=copy>{copy}</td><td class=verdict>{choices}</td></tr>")
    body = "\n".join(rows) or "<tr><td colspan=4>No accepted products in this run.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(brand_name)}: rating sheet</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse}}
td{{border-top:1px solid #ccc;padding:.6em;vertical-align:top}}.facts pre{{white-space:pre-wrap;font-size:13px;
margin:0;color:#444}}h4{{margin:.2em 0;font-size:12px;text-transform:uppercase;color:#777}}
.id{{font-family:monospace}}.verdict label{{display:block}}</style></head><body>
<h1>{esc(brand_name)}: would you publish this?</h1>
<p>{len(sample)} accepted products, sampled at random (seeded) from this run. Read each as a customer
would, against its facts, and mark it: <b>ship</b> as it stands, <b>fix</b> (small edit), or
<b>reject</b>. The same sample is in review-sample.csv for a spreadsheet.</p>
<table><tr><th>id</th><th>facts</th><th>copy</th><th>verdict</th></tr>
{body}
</table></body></html>
"""


def _field_html(value) -> str:
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{html.escape(str(v))}</li>" for v in value) + "</ul>"
    return f"<p>{html.escape(str(value or ''))}</p>"
