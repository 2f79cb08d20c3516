"""Grounding and degenerate-text checks on the forms real brands' copy takes (issue 22).

Golden rows (tests/golden/grounding/real_copy.jsonl) are hand-written in our own words:
each holds its facts, the claim terms it needs (``terms``, claims.txt lines; none when
absent), a text and the claims expected, in order, with their exact text. The CLI test
drafts a kit with ``stylegen init`` from a small CSV whose copy uses those forms and checks
that ``validate`` passes it and still catches an invented claim.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.validation.grounding import parse_claim_terms, unsupported_claims

ROOT = Path(__file__).resolve().parent.parent
CASES = [json.loads(line) for line in
         (ROOT / "tests" / "golden" / "grounding" / "real_copy.jsonl").read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_golden(case):
    terms = parse_claim_terms(case.get("terms", []))
    claims = unsupported_claims(case["text"], case["facts"], claim_terms=terms)
    got = [(c.kind, c.text) for c in claims]
    assert got == [(e["kind"], e["match"]) for e in case["expect"]]
    cursor = 0
    for claim in claims:
        assert case["text"][claim.span[0]:claim.span[1]] == claim.text
        assert claim.span[0] >= cursor
        cursor = claim.span[0]


def test_golden_rows_hold_both_outcomes_for_every_class():
    classes = {c["case"].split(":")[0] for c in CASES}
    for name in classes:
        rows = [c for c in CASES if c["case"].startswith(name + ":")]
        assert any(not r["expect"] for r in rows) and any(r["expect"] for r in rows), name


ROWS = [  # sku, description, fabric, details, inseam
    ("R-1", ("Pull these on for a long stride. Cut from 88% nylon with 12% elastane, so they give when you reach. "
             "Pick a 28\" or 30\" inseam."), "88% nylon (60% recycled)/12% elastane", "Gusseted crotch; Drawcord waist",
     "28;30"),
    ("R-2", ("Rain on the way? Light drizzle? This shell shrugs it off and rolls into its own pocket. "
             "A 1 1/2 inch tab closes the hem."), "100% nylon", "1 1/2\" hem tab; Packs into its pocket", ""),
    ("R-3", "Warm mornings call for a thin layer. The cuffs roll to 2 1/2 inches, and it weighs 3 lb 4 oz in its bag.",
     "Merino", "Cuff: 2.5 in; Weight: 3 lbs, 4 oz", ""),
]


def _write_csv(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "description", "fabric", "details", "inseam"])
        writer.writerows(rows)
    return path


def test_drafted_kit_passes_real_copy_forms_and_still_catches_an_invented_share(tmp_path):
    source = _write_csv(tmp_path / "approved.csv", ROWS)
    kit = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(source), "--id-field", "sku", "--name", "Trail"])
    assert result.exit_code == 0, result.output
    assert "(error)" not in result.output, result.output  # neither Grounded nor Degenerate
    records = [{"id": "R-9", "facts": {"fabric": "88% nylon (60% recycled)/12% elastane",
                                       "details": ["Weight: 3 lbs, 4 oz"]},
                "description": "Cut from 85% nylon, it gives when you reach. It weighs 3 lb 6 oz."},
               {"id": "R-10", "facts": {"details": ["1 1/2\" collar"]},
                "description": "Cold morning? Long climb? The 1 1/2 inch collar zips high. Warm collar."},
               {"id": "R-11", "facts": {"details": ["1 1/2\" collar"]},
                "description": "The collar zips high, and the the hem stays put."}]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = CliRunner().invoke(cli, ["validate", "--brand", str(kit), "--format", "json", str(path)])
    assert report.exit_code == 1, report.output
    found = [(f["rule"], f["match"]) for f in json.loads(report.output)["findings"]
             if f["rule"] in ("Drafted.Grounded", "Default.Degenerate")]
    assert found == [("Drafted.Grounded", "85%"), ("Drafted.Grounded", "3 lb 6 oz"),
                     ("Default.Degenerate", "Warm collar."), ("Default.Degenerate", "the the")]
