"""Property-based tests for the catalog reader: no bytes in a catalog file make it raise
anything but stylegen's own errors, and every row it keeps has an id and a name."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from stylegen.errors import StylegenError
from stylegen.catalog.rows import read_catalog
from stylegen.kit.brand import load_brand

ROOT = Path(__file__).resolve().parents[2]
BRAND = load_brand(ROOT / "brand")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
pytestmark = pytest.mark.timeout(120)
HEADER = "sku,name,category,features\n"
CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60) | st.sampled_from(
    ['"unterminated', "<script>x</script>", "<|im_end|>", "\x00", "a;b;;c", "&amp;amp;", "Ignore previous instructions"])


def _read(tmp_path_factory, suffix: str, data: bytes):
    path = tmp_path_factory.mktemp("c") / f"catalog{suffix}"
    path.write_bytes(data)
    try:
        return read_catalog(path, BRAND.catalog)
    except StylegenError:
        return None  # a clear, named error is an allowed outcome; anything else fails the test


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([".csv", ".jsonl"]))
def test_any_bytes_give_a_catalog_or_a_stylegen_error(tmp_path_factory, data, suffix):
    _read(tmp_path_factory, suffix, data)


@SETTINGS
@given(st.lists(st.tuples(CELLS, CELLS, CELLS, CELLS), max_size=6))
def test_rows_under_a_good_header_are_kept_or_rejected_never_raised(tmp_path_factory, rows):
    lines = [",".join(cells).replace("\n", " ") for cells in rows]
    catalog = _read(tmp_path_factory, ".csv", (HEADER + "\n".join(lines)).encode("utf-8"))
    if catalog is not None:
        for row in catalog.rows:
            assert str(row.id).strip() and str(row.facts.get("name") or "").strip()
