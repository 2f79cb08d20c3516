"""Property-based tests: no input makes the record readers or the brand-kit loader raise
anything but stylegen's own errors (stylegen.errors)."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from stylegen.errors import StylegenError
from stylegen.kit.brand import load_brand
from stylegen.validation.records import read_csv, read_jsonl, read_records

ROOT = Path(__file__).resolve().parents[2]
BRAND = load_brand(ROOT / "brand")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
pytestmark = pytest.mark.timeout(120)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300) | st.sampled_from(
    ['{"id": "a", "description": [[[[', '{"id": 1}', '"x"\n{"id": "a"}', 'id,description\n"a,b', "\x00", "[" * 3000])


@SETTINGS
@given(TEXT)
def test_read_jsonl_never_raises(text):
    records, findings = read_jsonl(text, "x.jsonl", BRAND)
    assert isinstance(records, list) and isinstance(findings, list)


@SETTINGS
@given(TEXT)
def test_read_csv_never_raises(text):
    records, findings = read_csv(text, "x.csv", BRAND)
    assert isinstance(records, list) and isinstance(findings, list)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv", ".txt"]))
def test_read_records_never_raises(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("r") / f"in{suffix}"
    path.write_bytes(data)
    try:
        read_records(path, BRAND)
    except StylegenError:
        pass


@SETTINGS
@given(TEXT)
def test_brand_loader_raises_only_stylegen_errors(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("b")
    (folder / "brand.yaml").write_text(text, encoding="utf-8")
    try:
        load_brand(folder)
    except StylegenError:
        pass


# Issue 23: one damaged row anywhere in a CSV never hides another row's findings.
HYPE_WORDS = ["amazing", "awesome", "incredible", "unbeatable"]
CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp"],
                                      exclude_characters='"'), max_size=40)
DAMAGE = st.sampled_from(['X,"stray" quote', 'X,"never closed', 'X,"' + "w " * 70_000 + '"', 'X,"a""b"c',
                          '"', 'X,"multi\nline" "oops'])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(CELL, st.sampled_from(HYPE_WORDS)), min_size=1, max_size=8), DAMAGE, st.data())
def test_a_damaged_csv_row_never_hides_the_other_rows(rows, damage, data):
    lines = ["id,description"] + [f'R{i},"{prefix.replace(chr(10), " ")} This {word} pot."'
                                  for i, (prefix, word) in enumerate(rows)]
    at = data.draw(st.integers(min_value=1, max_value=len(lines)))
    lines.insert(at, damage)
    records, findings = read_csv("\n".join(lines) + "\n", "x.csv", BRAND)
    assert any(f.rule == "Stylegen.Input" for f in findings)
    hype = {(f.id, f.match.lower()) for per_record in _validator().check(records) for f in per_record
            if f.rule == "KettleCairn.Hype"}
    for i, (_prefix, word) in enumerate(rows):
        assert (f"R{i}", word) in hype, (lines, findings)


@functools.cache
def _validator():
    from stylegen.validation.validator import Validator

    return Validator(BRAND)
