"""Deterministic fixes (``fix:`` in rule files), through the real Validator on the sample
brand: golden cases for every action, re-validation by every rule, strict config.

Each ``tests/golden/fixes/<action>.jsonl`` holds input records; the matching
``<action>.expected.json`` holds, per record, the exact fixes kept (AppliedFix dicts), the
final fields and the rule ids of the findings left. To re-create the expected files after
a deliberate change, run with ``STYLEGEN_REGEN_GOLDEN=1`` and review the diff.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.errors import ConfigError
from stylegen.kit.brand import load_brand
from stylegen.validation.fixes import AppliedFix, fix_records
from stylegen.validation.records import read_records, Record
from stylegen.validation.rules import FIX_ACTIONS, load_rules
from stylegen.validation.validator import Validator
from kit_support import copy_validators

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "fixes"
REGEN = os.environ.get("STYLEGEN_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def validator(brand) -> Validator:
    return Validator(brand)


def _golden(name: str, brand) -> dict[str, Record]:
    records, problems = read_records(GOLDEN / f"{name}.jsonl", brand)
    assert not problems
    return {r.id: r for r in records}


def _summary(outcome) -> dict:
    return {"id": outcome.record.id, "fixes": [f.to_dict() for f in outcome.fixes],
            "fields": outcome.record.fields, "findings": [f.rule for f in outcome.findings]}


def test_every_action_has_a_golden_case():
    assert sorted(p.name[: -len(".jsonl")] for p in GOLDEN.glob("*.jsonl")) == sorted(FIX_ACTIONS)


@pytest.mark.parametrize("action", FIX_ACTIONS)
def test_golden(action, brand, validator):
    records = list(_golden(action, brand).values())
    found = [_summary(o) for o in fix_records(validator, records)]
    expected_file = GOLDEN / f"{action}.expected.json"
    if REGEN:
        expected_file.write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert found == json.loads(expected_file.read_text(encoding="utf-8"))
    assert any(f["action"] == action for doc in found for f in doc["fixes"]), f"no {action} fix was kept"


def test_final_findings_are_a_full_revalidation(brand, validator):
    """Removing the hype word leaves "I" broken: KettleCairn.Person is still reported."""
    record = _golden("remove", brand)["M-3"]
    [outcome] = fix_records(validator, [record])
    assert [(f.rule, f.action) for f in outcome.fixes] == [("KettleCairn.Hype", "remove")]
    assert outcome.record.fields["description"].startswith("I made a kettle for the whole camp.")
    assert [f.rule for f in outcome.findings] == ["KettleCairn.Person"]
    assert outcome.findings == validator.check([outcome.record])[0]


def test_drop_that_breaks_the_minimum_is_reverted(brand, validator):
    record = _golden("drop_sentence", brand)["D-3"]
    before = validator.check([record])[0]
    assert [f.rule for f in before] == ["KettleCairn.Grounded"]
    dropped = record.fields["description"].replace(" The lid is titanium.", "")
    broken = validator.check([replace(record, fields={**record.fields, "description": dropped}, raw=None)])[0]
    assert [f.rule for f in broken if f.level == "error"] == ["KettleCairn.DescriptionWords"]  # the drop's own result
    [outcome] = fix_records(validator, [record], [before])
    assert outcome.fixes == [] and outcome.record is record and outcome.findings == before


def test_one_batched_check_per_round_and_clean_records_untouched(brand, validator, monkeypatch):
    records = [_golden("replace", brand)["R-3"], _golden("remove", brand)["M-1"], _golden("replace", brand)["R-1"]]
    findings = validator.check(records)
    calls = []
    real = validator.check
    monkeypatch.setattr(validator, "check", lambda recs: calls.append([r.id for r in recs]) or real(recs))
    outcomes = fix_records(validator, records, findings, max_rounds=3)
    assert 1 <= len(calls) <= 3
    assert all("R-3" not in ids for ids in calls)  # nothing fixable: not validated again
    assert set(calls[0]) == {"M-1", "R-1"}
    clean = outcomes[0]
    assert clean.record is records[0] and clean.fixes == [] and clean.findings == findings[0]
    assert [o.record.id for o in outcomes] == ["R-3", "M-1", "R-1"]
    assert records[2].fields["description"].count("Purchase") == 1  # inputs are not changed


def test_a_fix_that_trades_one_error_for_another_is_kept_only_with_its_follow_up(brand, validator):
    """"oz!" -> "oz." swaps Exclamation for BulletPeriod (no better): kept only when the
    next round strips the period, so one round keeps nothing and two rounds keep both."""
    clean = _golden("replace", brand)["R-3"]
    bullets = ["Holds 1.2 L and weighs 9.8 oz!"] + clean.fields["bullets"][1:]
    record = replace(clean, fields={**clean.fields, "bullets": bullets}, raw=None)
    one = fix_records(validator, [record], max_rounds=1)[0]
    assert one.fixes == [] and one.record is record and [f.rule for f in one.findings] == ["KettleCairn.Exclamation"]
    two = fix_records(validator, [record], max_rounds=2)[0]
    assert [(f.rule, f.action, f.after) for f in two.fixes] == [
        ("KettleCairn.Exclamation", "replace", "Holds 1.2 L and weighs 9.8 oz."),
        ("KettleCairn.BulletPeriod", "strip_period", "Holds 1.2 L and weighs 9.8 oz")]
    assert two.findings == []


def test_waived_findings_are_not_fixed(brand, validator):
    record = _golden("remove", brand)["M-3"]
    waived = replace(record, note="KettleCairn.Hype: the name of the product line", raw=None)
    [outcome] = fix_records(validator, [waived])
    assert outcome.fixes == []
    levels = {f.rule: f.level for f in outcome.findings}
    assert levels == {"KettleCairn.Person": "error", "KettleCairn.Hype": "suggestion"}


def test_applied_fix_to_dict():
    fix = AppliedFix("KettleCairn.Swaps", "bullets[2]", "replace", "Fits a backpack", "Fits a pack")
    assert fix.to_dict() == {"rule": "KettleCairn.Swaps", "field": "bullets[2]", "action": "replace",
                             "before": "Fits a backpack", "after": "Fits a pack"}


# --- strict config ------------------------------------------------------------------------

@pytest.fixture
def kit(tmp_path) -> Path:
    """A copy of brand/ and validators/ side by side (brand.yaml points at ../validators)."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    return tmp_path


def _set_fix(path: Path, fix: str) -> int:
    """Replace (or add) the rule's ``fix:`` line; return its line number."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("fix:")]
    lines.append(f"fix: {fix}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


BAD_FIXES = {
    "KettleCairn/Hype.yml": ("rewrite", "fix: unknown action 'rewrite' (valid: replace, remove, strip_period, "
                                        "capitalize, truncate, drop_sentence)"),
    "Default/Passive.yml": ("truncate", "fix: action 'truncate' makes no sense for extends: tone "
                                        "(valid for tone: replace, remove, drop_sentence)"),
    "KettleCairn/Readability.yml": ("{action: remove}", "fix.action: action 'remove' makes no sense for extends: "
                                                        "readability (valid for readability: none"),
    "KettleCairn/Exclamation.yml": ("{action: replace}", "fix.with: required for action replace"),
    "Default/Emoji.yml": ('{action: remove, with: "x"}', "fix.with: only used with action replace (not remove)"),
    "KettleCairn/Swaps.yml": ('{action: replace, with: "x"}', "fix.with: not used with extends: substitution"),
    "KettleCairn/BulletPeriod.yml": ("{action: strip_period, colour: red}",
                                     "fix.colour: unknown key (valid keys: action, with)"),
    "KettleCairn/BulletCapital.yml": ("[capitalize]", "fix: must be an action name or a mapping with `action`"),
    "Default/URL.yml": ('{with: "."}', "fix.action: required key is missing (valid: replace, remove,"),
    "Default/Placeholder.yml": ("{action: replace, with: 3}", "fix.with: required for action replace: a "
                                                              "non-empty string"),
    "KettleCairn/BulletWords.yml": ("replace", "fix: action 'replace' makes no sense for extends: occurrence "
                                               "(valid for occurrence: truncate)"),
}


def test_bad_fix_values_are_all_reported_with_file_line_and_key(kit):
    expected = []
    for name, (fix, message) in BAD_FIXES.items():
        path = kit / "validators" / name
        line = _set_fix(path, fix)
        expected.append(f"{path}:{line}: {message}")
    result = CliRunner().invoke(cli, ["brand", "check", str(kit / "brand")])
    assert result.exit_code == 2, result.output
    for message in expected:
        assert message in result.output


def test_truncate_needs_a_maximum_of_words_characters_or_sentences(kit):
    suite = kit / "validators" / "KettleCairn"
    (suite / "MinOnly.yml").write_text("extends: occurrence\nmessage: x\ncount: words\nmin: 3\nfix: truncate\n")
    (suite / "Items.yml").write_text("extends: occurrence\nmessage: x\ncount: items\nmax: 5\nfix: truncate\n")
    with pytest.raises(ConfigError) as err:
        load_rules(load_brand(kit / "brand"))
    problems = err.value.problems
    assert f"{suite / 'MinOnly.yml'}:5: fix: truncate cuts to the rule's max, and this rule sets none" in problems
    assert (f"{suite / 'Items.yml'}:5: fix: truncate cannot shorten count: items "
            "(only words, characters, sentences)") in problems


def test_schema_truncate_cuts_to_the_field_max_length(kit, brand):
    """``fix: truncate`` on the schema rule cuts to the schema's maxLength of the field."""
    _set_fix(kit / "validators" / "Default" / "Schema.yml", "truncate")
    schema = json.loads((kit / "brand" / "schema.json").read_text())
    schema["properties"]["meta_description"]["maxLength"] = 150
    (kit / "brand" / "schema.json").write_text(json.dumps(schema))
    kit_brand = load_brand(kit / "brand")
    record = _golden("truncate", kit_brand)["T-2"]  # a 217-character meta description
    meta = record.fields["meta_description"]
    validator = Validator(kit_brand, suites=["Default"])
    [outcome] = fix_records(validator, [record])
    assert [(f.rule, f.action) for f in outcome.fixes] == [("Default.Schema", "truncate")]
    assert outcome.record.fields["meta_description"] == meta[:meta.index("spout.") + 6]
    assert outcome.record.as_document()["meta_description"] == meta[:meta.index("spout.") + 6]
    assert outcome.findings == []


def test_brand_check_shows_each_rules_fix():
    result = CliRunner().invoke(cli, ["brand", "check", str(ROOT / "brand")])
    assert result.exit_code == 0, result.output
    # each rule line ends with its source file in brackets: compare what comes before it
    lines = {ln.split()[0]: ln.rsplit("  [", 1)[0] for ln in result.output.splitlines() if ln.startswith("  ")}
    assert lines["KettleCairn.Exclamation"].endswith("error  fix: replace with '.'")
    assert lines["KettleCairn.Grounded"].endswith("fix: drop_sentence")
    assert "fix:" not in lines["Default.HTML"]


def test_two_findings_on_one_bullet_drop_it_once(brand, validator):
    """Regression: two unsupported claims in the same bullet planned two drops of one item
    (IndexError in the nightly run); the bullet goes once and the rest stay."""
    from stylegen.validation.records import Record

    facts = {"name": "Ember Kettle", "category": "Cookware", "features": ["pour spout", "folding handle"],
             "materials": ["aluminum"], "weight": "9.8 oz"}
    bullets = ["Pour spout for a clean pour", "Folding handle packs flat", "Titanium lid and 20 pounds of waterproof",
               "Aluminum body at 9.8 oz"]
    record = Record(id="B-1", fields={"bullets": bullets}, facts=facts)
    [outcome] = fix_records(validator, [record])
    assert outcome.record.fields["bullets"] == [b for b in bullets if "Titanium" not in b]
    assert [(f.field, f.action) for f in outcome.fixes] == [("bullets[2]", "drop_sentence")]


BIVY = {"name": "Cairnfold Bivy", "category": "Tents", "features": ["six aluminum stakes", "trekking-pole pitch"],
        "materials": ["aluminum poles", "polyester mesh"], "dimensions": "17.5 x 4.9 in"}
BIVY_REST = ("pitches on one trekking pole and six aluminum stakes, so the shelter weighs what the poles you"
             " already carry weigh. The polyester mesh keeps the bugs out and lets the night air in. It packs to"
             " 17.5 x 4.9 in, small enough for the side pocket of a day pack. Pitch it in the dark once you have"
             " done it twice in the yard.")


def test_two_findings_in_one_sentence_drop_it_once(brand, validator):
    """Regression: "waterproof" and "60 pounds" in one sentence planned two equal drops, and
    the second cut the next sentence to "ut after you eat."."""
    keep = "The Cairnfold Bivy " + BIVY_REST
    text = keep + " The tent is waterproof and weighs around 60 pounds. It folds up where the stakes stay out."
    record = Record(id="D-9", fields={"description": text}, facts=BIVY)
    [outcome] = fix_records(validator, [record])
    assert outcome.record.fields["description"] == keep + " It folds up where the stakes stay out."
    assert [(f.rule, f.action) for f in outcome.fixes] == [("KettleCairn.Grounded", "drop_sentence")]


def test_a_dropped_opening_sentence_hands_the_products_name_to_the_next(brand, validator):
    """Dropping the sentence that named the product would leave copy opening with "It";
    the next sentence takes the name instead."""
    text = "The Cairnfold Bivy is waterproof and weighs around 60 pounds. It " + BIVY_REST
    record = Record(id="D-10", fields={"description": text}, facts=BIVY)
    [outcome] = fix_records(validator, [record])
    assert outcome.record.fields["description"] == "The Cairnfold Bivy " + BIVY_REST
    assert [(f.rule, f.action) for f in outcome.fixes] == [("KettleCairn.Grounded", "drop_sentence")]


def test_a_dropped_opening_sentence_names_the_products_part_or_noun_that_follows(brand, validator):
    """"Its lining ...", "The bivy ..." and "The fabric is ..." (a part as the subject) after a
    dropped opening take the name, as the assembler opens ("The Jade Yoga Jacket's fabric is
    100% polyester.": a real brand's night opened with "The fabric is" and never named the
    product); "The polyester mesh ..." (no part noun right after "The") stays as it is."""
    bad = "The Cairnfold Bivy is waterproof and weighs around 60 pounds. "
    mesh = BIVY_REST.split(". ", 1)[1]
    for rest, expected in (("Its frame " + BIVY_REST, "The Cairnfold Bivy's frame " + BIVY_REST),
                           ("The bivy " + BIVY_REST, "The Cairnfold Bivy " + BIVY_REST),
                           ("The fabric is polyester mesh. " + mesh, "The Cairnfold Bivy's fabric is polyester mesh."),
                           (mesh, mesh)):
        record = Record(id="D-11", fields={"description": bad + rest}, facts=BIVY)
        [outcome] = fix_records(validator, [record])
        assert outcome.record.fields["description"].startswith(expected)
