"""Property-based tests: no input makes the record readers or the brand-kit loader raise
anything but stylegen's own errors (stylegen.errors)."""
from __future__ import annotations

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
