"""`stylegen export`: a Shopify export -> generate (scripted engine) -> export --format shopify-csv."""
from __future__ import annotations

import csv
import html
import io
import json

import pytest
from click.testing import CliRunner

from gen_support import good, make_shopify_brand, parse_key
from stylegen.cli import cli
from stylegen.generation.engine import ScriptedEngine
from stylegen.generation.export import shopify_body

HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Name", "Option1 Value",
          "Variant SKU", "Variant Grams", "Variant Price", "SEO Title", "SEO Description"]
ROWS = [
    ["trail-pot-1-5l", "Trail Pot", "<p>Old copy.</p><ul><li>folds flat</li><li>packs small</li></ul>",
     "Kettle & Cairn", "Camp", "", "Size", "1.5 L", "TP-15", "280", "39.00", "", ""],
    ["trail-pot-1-5l", "", "", "", "", "", "", "2 L", "TP-20", "310", "44.00", "", ""],
    ["ridge-mug", "Ridge Mug", "<ul><li>folds flat</li></ul>", "Kettle & Cairn", "Camp", "", "Title",
     "Default Title", "RM-1", "120", "19.00", "", ""],
    ["best-stove", "Best Stove", "<ul><li>packs small</li></ul>", "Kettle & Cairn", "Camp", "", "Title",
     "Default Title", "BS-1", "400", "89.00", "", ""],
]
DESCRIPTION = "It folds flat & packs small <so> it rides in the lid pocket."


@pytest.fixture
def shopify_run(tmp_path, monkeypatch):
    brand = make_shopify_brand(tmp_path, capacity={"column": "Size"})
    catalog = tmp_path / "products_export.csv"
    with open(catalog, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *ROWS])

    def script(req):
        rid, task = parse_key(req)
        if rid == "best-stove" and task == "bullets":
            return "- best stove\n- best lid"  # always fails T.Hype: the row is rejected
        return DESCRIPTION if task == "description" else good(task)

    engine = ScriptedEngine(script)
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda brand, settings: engine)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out),
                                      "--no-adapter", "--max-reject-rate", "1.0"])
    assert result.exit_code == 0, result.output
    return out, engine


def test_round_trip_shopify_export(shopify_run, tmp_path):
    out, engine = shopify_run
    assert any("1.5 L, 2 L" in r.prompt for r in engine.requests)  # variants folded into one product's facts
    target = tmp_path / "import.csv"
    result = CliRunner().invoke(cli, ["export", str(out), "--format", "shopify-csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    with open(target, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == ["Handle", "Body (HTML)", "SEO Description"]
    assert [r["Handle"] for r in rows] == ["trail-pot-1-5l", "ridge-mug"]  # each accepted product once, no reject
    accepted = {json.loads(line)["id"]: json.loads(line) for line in (out / "outputs.jsonl").read_text().splitlines()}
    for row in rows:
        fields = accepted[row["Handle"]]["fields"]
        assert row["SEO Description"] == fields["meta_description"]
        assert row["Body (HTML)"] == (f"<p>{html.escape(DESCRIPTION)}</p><ul>"
                                      + "".join(f"<li>{html.escape(b)}</li>" for b in fields["bullets"]) + "</ul>")
    assert "&amp; packs small &lt;so&gt;" in rows[0]["Body (HTML)"]


def test_export_csv_and_jsonl_to_stdout(shopify_run):
    out, _ = shopify_run
    result = CliRunner().invoke(cli, ["export", str(out), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in records] == ["trail-pot-1-5l", "ridge-mug"]
    result = CliRunner().invoke(cli, ["export", str(out), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["id"] for r in rows] == ["trail-pot-1-5l", "ridge-mug"]
    assert rows[0]["bullets"] == "; ".join(records[0]["fields"]["bullets"])
    assert rows[0]["description"] == DESCRIPTION


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_shopify_body_from_text_bullets():
    assert shopify_body({"description": "A.\n\nB", "bullets": "- x\n- y"}) == "<p>A.</p><p>B</p><ul><li>x</li><li>y</li></ul>"
