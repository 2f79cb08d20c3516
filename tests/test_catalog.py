"""Catalog reading: column mapping, row quarantine with reasons and lines, unusable files."""
from __future__ import annotations

import json

import pytest

from gen_support import COLUMNS, generate_bad_catalog, product, write_csv, write_jsonl
from stylegen.kit.brand import load_brand
from stylegen.catalog.rows import read_catalog, strip_html
from stylegen.errors import DataError


@pytest.fixture(scope="module")
def cmap():
    from gen_support import ROOT

    return load_brand(ROOT / "brand").catalog


def _reasons(catalog):
    return {r.key: (r.line, r.reason) for r in catalog.rejects}


def test_csv_maps_columns_and_splits_lists(tmp_path, cmap):
    cat = read_catalog(write_csv(tmp_path / "c.csv", [product("A", colors="Slate; Moss")]), cmap)
    row = cat.rows[0]
    assert row.id == "A" and row.line == 2
    assert row.facts["features"] == ["folds flat", "packs small"]
    assert row.facts["colors"] == ["Slate", "Moss"]
    assert "price" not in row.facts and "care" not in row.facts  # unmapped / empty


def test_sample_catalog_reads(cmap, repo_root):
    cat = read_catalog(repo_root / "catalog" / "sample_catalog.csv", cmap)
    assert len(cat) >= 1000 and len(cat.rows) > 0.9 * len(cat)


def test_duplicate_missing_and_oversized_rows_are_rejected_with_lines(tmp_path, cmap):
    rows = [product("A"), product("A"), product("", name="No id"), {**product("B"), "name": ""},
            product("C", care="x" * 1_000_000), product("D", weight="y" * 41), product("E")]
    cat = read_catalog(write_csv(tmp_path / "c.csv", rows), cmap)
    assert [r.id for r in cat.rows] == ["A", "E"]
    reasons = _reasons(cat)
    assert reasons["A@line:3"][0] == 3 and "duplicate id 'A' (first seen on line 2)" in reasons["A@line:3"][1]
    assert reasons["line:4"] == (4, "missing id (column 'sku')")
    assert "'name': required but missing or empty" in reasons["B"][1]
    assert "'care': oversized: 1000000 characters (max 2000)" in reasons["C"][1]
    assert "'weight': oversized: 41 characters (max 40)" in reasons["D"][1]


def test_malformed_csv_rows(tmp_path, cmap):
    header = ",".join(COLUMNS)
    good = "G,Good Pot,Cookware,folds flat,aluminum,9 oz,,,,,,,10"
    path = tmp_path / "c.csv"
    path.write_text(f"{header}\n{good}\nS,Short row,Cookware\n{good.replace('G,', 'H,', 1)}\n"
                    'Q,"Unclosed quote,Cookware,folds flat\n', encoding="utf-8")
    cat = read_catalog(path, cmap)
    assert [r.id for r in cat.rows] == ["G", "H"]
    reasons = _reasons(cat)
    assert reasons["line:3"][0] == 3 and "3 fields, header has 13" in reasons["line:3"][1]
    assert any(line == 5 and "malformed CSV" in why for line, why in reasons.values())


def test_non_utf8_bytes_reject_only_that_row(tmp_path, cmap):
    path = write_csv(tmp_path / "c.csv", [product("A"), product("B", name="Caf\u00e9 Pot"), product("C")])
    data = path.read_bytes().replace("Caf\u00e9".encode("utf-8"), b"Caf\xe9")  # latin-1 byte
    path.write_bytes(data)
    cat = read_catalog(path, cmap)
    assert [r.id for r in cat.rows] == ["A", "C"]
    assert "'name': contains bytes that are not valid UTF-8" in _reasons(cat)["B"][1]


def test_html_is_stripped_and_noted_or_rejected_when_nothing_is_left(tmp_path, cmap):
    rows = [product("A", name="<b>Ember</b> Kettle &amp; Lid"), product("B", name="<br/><img src=x>")]
    cat = read_catalog(write_csv(tmp_path / "c.csv", rows), cmap)
    assert cat.rows[0].facts["name"] == "Ember Kettle & Lid"
    assert cat.rows[0].notes == ["HTML markup removed from 'name'"]
    assert "nothing is left after removing HTML" in _reasons(cat)["B"][1]
    assert strip_html("<p>a <i>b</i></p>") == "a b"
    assert strip_html("3 < 4 and 5 > 2") == "3 < 4 and 5 > 2"


def test_jsonl_types_and_bad_lines(tmp_path, cmap):
    rows = [{"sku": "A", "name": "Pot", "category": "Cookware", "features": ["a", "b"], "weight": 12},
            "this is not json", [1, 2],
            {"sku": "B", "name": {"x": 1}, "category": "Cookware", "features": ["a"]},
            {"sku": "C", "name": "Pan", "category": "Cookware", "features": [{"no": 1}]},
            {"sku": 5, "name": "Lid", "category": "Cookware", "features": "a;b"}]
    cat = read_catalog(write_jsonl(tmp_path / "c.jsonl", rows), cmap)
    assert {r.id: r.facts.get("weight") for r in cat.rows} == {"A": "12", "5": None}
    reasons = _reasons(cat)
    assert reasons["line:2"][1].startswith("not valid JSON")
    assert reasons["line:3"][1] == "not a JSON object (got list)"
    assert "'name': wrong type: expected a string or number, got dict" in reasons["B"][1]
    assert "'features': wrong type: list items must be strings" in reasons["C"][1]


@pytest.mark.parametrize("content, message", [
    (b"", "catalog is empty"),
    (b"\n\n  \n", "catalog is empty"),
    (b"just some words, not a catalog\nmore words\n", "not a catalog: header line lacks column(s) sku, name"),
    (b"sku,name,category,features\n", "catalog has no rows"),
    (b"[1, 2, 3]\n", "not a catalog"),
])
def test_unusable_files_exit_2_naming_the_file(tmp_path, content, message):
    path, result = generate_bad_catalog(tmp_path, content)
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and message in result.output
    assert not (tmp_path / "run").exists()


def test_jsonl_without_objects_is_not_a_catalog(tmp_path, cmap):
    with pytest.raises(DataError, match="no line is a JSON object"):
        read_catalog(write_jsonl(tmp_path / "c.jsonl", ["1", json.dumps("x")]), cmap)


def test_missing_file(tmp_path, cmap):
    with pytest.raises(DataError, match="cannot read catalog"):
        read_catalog(tmp_path / "nope.csv", cmap)


def test_a_list_cell_is_never_split_inside_an_html_entity(tmp_path, cmap):
    rows = [product("A", features="<b>folding handles</b>;nesting lid;pour spout &amp; lid;x &#38; y")]
    cat = read_catalog(write_csv(tmp_path / "c.csv", rows), cmap)
    assert cat.rows[0].facts["features"] == ["folding handles", "nesting lid", "pour spout & lid", "x & y"]
