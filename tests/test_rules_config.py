"""Configuration errors in rule files and the brand kit: exit 2, every problem at once,
each naming the file, line and key. Driven through the real CLI on a copy of the kit."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from kit_support import copy_validators

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kit(tmp_path) -> Path:
    """A copy of brand/ and validators/ side by side (brand.yaml points at ../validators)."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    (tmp_path / "copy.txt").write_text("It boils water.", encoding="utf-8")
    return tmp_path


def validate(kit: Path, *extra):
    return CliRunner().invoke(cli, ["validate", str(kit / "copy.txt"), "--brand", str(kit / "brand"), *extra])


def check(kit: Path):
    return CliRunner().invoke(cli, ["brand", "check", str(kit / "brand")])


def rule(kit: Path, name: str) -> Path:
    return kit / "validators" / name


def test_sample_brand_kit_checks_clean():
    result = CliRunner().invoke(cli, ["brand", "check", str(ROOT / "brand")])
    assert result.exit_code == 0, result.output
    assert "Default: 9 rules" in result.output
    assert "Default.Passive                  tone          suggestion  [built-in]" in result.output
    assert "KettleCairn.Hype" in result.output and str(ROOT / "validators" / "KettleCairn" / "Hype.yml") in result.output


def _bare_kit(tmp_path: Path, validators: str | None = None) -> Path:
    """The sample kit with only the built-in suite (and no validators folder unless given)."""
    kit = tmp_path / "bare"
    shutil.copytree(ROOT / "brand", kit)
    text = (kit / "brand.yaml").read_text(encoding="utf-8")
    text = text.replace("  path: ../validators\n", f"  path: {validators}\n" if validators else "")
    text = text.replace("suites: [Default, Sense, KettleCairn]", "suites: [Default]")
    text = "\n".join(ln for ln in text.splitlines() if "KettleCairn." not in ln) + "\n"
    (kit / "brand.yaml").write_text(text, encoding="utf-8")
    return kit


def test_builtin_suite_loads_without_a_validators_folder(tmp_path):
    kit = _bare_kit(tmp_path)
    assert not (tmp_path / "validators").exists()
    result = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert result.exit_code == 0, result.output
    assert "Default: 9 rules" in result.output and "[built-in]" in result.output
    copy = tmp_path / "copy.jsonl"
    copy.write_text('{"id": "x", "description": "Visit https://example.com today."}\n', encoding="utf-8")
    found = CliRunner().invoke(cli, ["validate", str(copy), "--brand", str(kit)])
    assert found.exit_code == 1 and "Default.URL" in found.output, found.output


def test_a_kit_file_overrides_the_builtin_rule_of_the_same_name_and_may_add_rules(tmp_path):
    own = tmp_path / "rules" / "Default"
    own.mkdir(parents=True)
    (own / "URL.yml").write_text("extends: pattern\nlevel: warning\nmessage: own URL rule\npattern: 'https?://'\n")
    (own / "Shout.yml").write_text("extends: pattern\nlevel: error\nmessage: no shouting\npattern: '[A-Z]{5,}'\n")
    kit = _bare_kit(tmp_path, validators="../rules")
    result = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert result.exit_code == 0, result.output
    assert "Default: 10 rules" in result.output
    assert f"Default.URL                      pattern       warning  [{own / 'URL.yml'}]" in result.output
    assert f"[{own / 'Shout.yml'}]" in result.output and "Default.Passive" in result.output


def test_a_validators_path_the_kit_sets_must_exist(tmp_path):
    kit = _bare_kit(tmp_path, validators="../nowhere")
    result = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert result.exit_code == 2 and "validators.path" in result.output and "folder not found" in result.output


def test_broken_yaml(kit):
    rule(kit, "KettleCairn/Hype.yml").write_text("extends: existence\nmessage: [unclosed\n", encoding="utf-8")
    for result in (validate(kit), check(kit)):
        assert result.exit_code == 2
        assert f"{rule(kit, 'KettleCairn/Hype.yml')}:3: invalid YAML" in result.output


def test_unknown_key_lists_the_valid_ones(kit):
    path = rule(kit, "KettleCairn/Hype.yml")
    path.write_text(path.read_text() + "colour: red\n", encoding="utf-8")
    line = len(path.read_text().splitlines())
    result = validate(kit)
    assert result.exit_code == 2
    assert (f"error: {path}:{line}: colour: unknown key for extends: existence (valid keys: extends, message, "
            "level, fields, description, fix, tokens, ignorecase, lemma)") in result.output


def test_unknown_extends_lists_the_check_types(kit):
    path = rule(kit, "Default/HTML.yml")
    text = path.read_text()
    path.write_text(text.replace("extends: pattern", "extends: regex"), encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("extends:"))
    result = validate(kit)
    assert result.exit_code == 2
    from stylegen.validation.checks import check_types

    valid = sorted(check_types())
    assert {"schema", "existence", "substitution", "occurrence", "readability", "tone", "pattern"} <= set(valid)
    assert f"{path}:{line}: extends: unknown check type 'regex' (valid: {', '.join(valid)})" in result.output


def test_every_problem_of_every_rule_file_at_once(kit):
    rule(kit, "Default/Emoji.yml").write_text("extends: pattern\nlevel: fatal\nmessage: x\npattern: '(['\n")
    rule(kit, "KettleCairn/Person.yml").write_text(
        "extends: tone\ncheck: shouting\nmessage: x\nfields: [title]\n")
    rule(kit, "KettleCairn/Reject.yml").write_text("extends: existence\nmessage: x\ntokens: brand.nope\n")
    result = check(kit)
    assert result.exit_code == 2
    out = result.output
    emoji, person, reject = (str(rule(kit, n)) for n in ("Default/Emoji.yml", "KettleCairn/Person.yml",
                                                          "KettleCairn/Reject.yml"))
    assert f"{emoji}:2: level: must be one of suggestion, warning, error (got 'fatal')" in out
    assert f"{emoji}:4: pattern: not a valid regular expression" in out
    assert f"{person}:2: check: must be one of passive, person, hedging, superlatives, competitors (got 'shouting')" in out
    assert f"{person}:4: fields[0]: unknown field 'title' (valid: description, meta_description, bullets)" in out
    assert f"{reject}:3: tokens: unknown term source 'brand.nope' (valid: brand.reject, brand.swap" in out


def test_missing_required_keys(kit):
    rule(kit, "Default/URL.yml").write_text("level: error\n")
    rule(kit, "Default/HTML.yml").write_text("extends: pattern\nmessage: x\n")
    out = validate(kit).output
    assert f"{rule(kit, 'Default/URL.yml')}: extends: required key is missing (valid check types: contradiction, degenerate, echo, existence," in out
    assert f"{rule(kit, 'Default/HTML.yml')}: pattern: required key is missing" in out


def test_schema_that_is_not_json_schema(kit):
    (kit / "brand" / "schema.json").write_text(json.dumps({"type": "object", "properties": {"id": {"type": "text"}}}))
    result = validate(kit)
    assert result.exit_code == 2
    brand_file = kit / "brand" / "brand.yaml"
    line = next(i for i, ln in enumerate(brand_file.read_text().splitlines(), 1) if ln.startswith("schema:"))
    assert f"{brand_file}:{line}: schema: {(kit / 'brand' / 'schema.json').resolve()}: not a valid JSON Schema " \
           "at properties/id/type" in result.output


def test_missing_side_file(kit):
    (kit / "brand" / "claims.txt").unlink()
    result = validate(kit)
    assert result.exit_code == 2
    brand_file = kit / "brand" / "brand.yaml"
    line = next(i for i, ln in enumerate(brand_file.read_text().splitlines(), 1) if ln.startswith("claims:"))
    assert f"{brand_file}:{line}: claims: cannot read {(kit / 'brand' / 'claims.txt').resolve()}" in result.output


def test_brand_level_override_of_an_unknown_rule(kit):
    brand_file = kit / "brand" / "brand.yaml"
    brand_file.write_text(brand_file.read_text().replace("Default.Passive: suggestion",
                                                         "Default.Passive: suggestion\n    Default.Pasive: 'off'"))
    line = next(i for i, ln in enumerate(brand_file.read_text().splitlines(), 1) if "Default.Pasive" in ln)
    result = check(kit)
    assert result.exit_code == 2
    assert f"{brand_file}:{line}: validators.levels.Default.Pasive: no such rule (valid: Default.Degenerate, Default.Echo, Default.Emoji," in result.output


def test_brand_levels_override_and_turn_rules_off(kit):
    (kit / "copy.txt").write_text("It boils water, we think. Every seam is stitched twice.", encoding="utf-8")
    brand_file = kit / "brand" / "brand.yaml"
    base = validate(kit, "--format", "json")
    rules = {f["rule"]: f["level"] for f in json.loads(base.output)["findings"]}
    assert rules["KettleCairn.Hedging"] == "error" and rules["Default.Passive"] == "suggestion"
    brand_file.write_text(brand_file.read_text().replace(
        "Default.Passive: suggestion", "Default.Passive: error\n    KettleCairn.Hedging: 'off'"))
    rules = {f["rule"]: f["level"] for f in json.loads(validate(kit, "--format", "json").output)["findings"]}
    assert rules["Default.Passive"] == "error" and "KettleCairn.Hedging" not in rules
    assert "KettleCairn.Hedging              tone          off (brand override of error)" in check(kit).output


def test_bad_message_placeholder(kit):
    path = rule(kit, "KettleCairn/Hype.yml")
    path.write_text(path.read_text().replace("message: \"Cut", "message: \"{match Cut"), encoding="utf-8")
    result = validate(kit)
    assert result.exit_code == 2
    assert "message: bad placeholder syntax" in result.output


def test_unquoted_off_in_brand_levels_turns_a_rule_off(kit):
    """YAML 1.1 reads a bare ``off`` as false; in validators.levels it still means "off"."""
    (kit / "copy.txt").write_text("It boils water, we think.", encoding="utf-8")
    brand_file = kit / "brand" / "brand.yaml"
    before = {f["rule"] for f in json.loads(validate(kit, "--format", "json").output)["findings"]}
    assert "KettleCairn.Hedging" in before
    brand_file.write_text(brand_file.read_text().replace(
        "Default.Passive: suggestion", "Default.Passive: suggestion\n    KettleCairn.Hedging: off"))
    result = check(kit)
    assert result.exit_code == 0, result.output
    assert "KettleCairn.Hedging              tone          off (brand override of error)" in result.output
    after = {f["rule"] for f in json.loads(validate(kit, "--format", "json").output)["findings"]}
    assert after == before - {"KettleCairn.Hedging"}


def test_unquoted_on_in_brand_levels_is_not_a_level(kit):
    brand_file = kit / "brand" / "brand.yaml"
    brand_file.write_text(brand_file.read_text().replace(
        "Default.Passive: suggestion", "Default.Passive: suggestion\n    KettleCairn.Hedging: on"))
    result = check(kit)
    assert result.exit_code == 2
    assert "validators.levels" in result.output and "KettleCairn.Hedging" in result.output


def test_unless_facts_stated_needs_a_minimum(kit):
    path = rule(kit, "KettleCairn/MetaLength.yml")
    text = path.read_text().replace("min: 80\n", "") + "unless_facts_stated: true\n"
    path.write_text(text, encoding="utf-8")
    result = validate(kit)
    assert result.exit_code == 2
    assert f"{path}:" in result.output and "unless_facts_stated: only applies with min" in result.output
