"""Worker processes must not change a single finding."""
from __future__ import annotations

import json

from stylegen.validation.records import read_records
from stylegen.validation.validator import PARALLEL_CHUNK, Validator

from conftest import ROOT


def _many_records(tmp_path, brand, n):
    """``n`` approved records (ids made unique), a few spoiled so there are findings."""
    rows = [json.loads(line) for path in sorted((ROOT / "training_data" / "approved").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    out = []
    for i in range(n):
        row = dict(rows[i % len(rows)], id=f"P-{i:05d}")
        if i % 7 == 0:
            row["description"] = row["description"] + " It is the best pack you can utilize!"
        out.append(json.dumps(row))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    records, problems = read_records(str(path), brand, None)
    assert not problems
    return records


def test_parallel_check_gives_the_same_findings_in_the_same_order(tmp_path, brand):
    records = _many_records(tmp_path, brand, 4 * PARALLEL_CHUNK + 37)
    validator = Validator(brand)
    serial = validator.check(records)
    parallel = validator.check_parallel(records, 2)
    assert len(parallel) == len(records)
    assert parallel == serial
    assert sum(map(len, serial)) > 0
