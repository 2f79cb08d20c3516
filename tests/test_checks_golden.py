"""Golden-file tests: every rule the sample brand ships, on copy that breaks it and copy
that passes it, through the real ``stylegen validate`` CLI.

Each ``tests/golden/rules/<Suite.Rule>.jsonl`` holds input copy; the matching
``<Suite.Rule>.expected.json`` holds the exact findings of that rule (every key of the
JSON output). Other rules' findings on the same file are not this test's business.
To re-create the expected files after a deliberate change, run with
``STYLEGEN_REGEN_GOLDEN=1`` and review the diff before committing it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "rules"
CASES = sorted(p.name[: -len(".jsonl")] for p in GOLDEN.glob("*.jsonl"))
REGEN = os.environ.get("STYLEGEN_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def findings_by_file(monkeypatch_module):
    """One CLI run over the whole golden folder (one spaCy load), findings grouped by file."""
    monkeypatch_module.chdir(ROOT)
    result = CliRunner().invoke(cli, ["validate", "tests/golden/rules", "--brand", "brand", "--format", "json"])
    assert result.exit_code == 1, result.output  # the folder holds failing copy
    grouped: dict[str, list] = {}
    for finding in json.loads(result.output)["findings"]:
        grouped.setdefault(Path(finding["path"]).name, []).append(finding)
    return grouped


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _shipped_rules() -> list[str]:
    from stylegen.kit.brand import load_brand
    from stylegen.validation.rules import load_rules

    brand = load_brand(ROOT / "brand")
    return sorted(r.id for r in load_rules(brand, include_off=True))


def test_every_shipped_rule_has_a_golden_case():
    missing = [rule for rule in _shipped_rules() if rule not in CASES]
    assert not missing, f"rules without tests/golden/rules/<rule>.jsonl: {missing}"


@pytest.mark.parametrize("rule", CASES)
def test_golden(rule, findings_by_file):
    found = [f for f in findings_by_file.get(f"{rule}.jsonl", []) if f["rule"] == rule]
    expected_file = GOLDEN / f"{rule}.expected.json"
    if REGEN:
        expected_file.write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert found == expected


@pytest.mark.parametrize("rule", CASES)
def test_golden_case_has_failing_and_passing_copy(rule, findings_by_file):
    lines = [i for i, line in enumerate((GOLDEN / f"{rule}.jsonl").read_text().splitlines(), 1) if line.strip()]
    failing = {f["line"] for f in findings_by_file.get(f"{rule}.jsonl", []) if f["rule"] == rule}
    assert failing, f"{rule}: no copy in the golden file breaks the rule"
    assert set(lines) - failing, f"{rule}: no copy in the golden file passes the rule"
