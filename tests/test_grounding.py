"""Grounding: unsupported claims in copy, checked against the row's facts.

Golden rows (tests/golden/grounding/) are hand-written: each names a facts set, a text
and the claims expected, in order, with their exact text; the span must point at that
text. The CLI tests run ``stylegen validate`` on records with facts.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.errors import ConfigError
from kit_support import copy_validators
from stylegen.validation.grounding import (
    Claim, ClaimTerm, FactIndex, load_claim_terms, parse_claim_terms, quantity_supported,
    read_quantities, unsupported_claims,
)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "grounding"
FACTS = json.loads((GOLDEN / "facts.json").read_text(encoding="utf-8"))
CASES = [json.loads(line) for line in (GOLDEN / "cases.jsonl").read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def terms():
    return load_claim_terms(ROOT / "brand" / "claims.txt")


def _expected_spans(text: str, expect: list[dict]) -> list[tuple[str, tuple[int, int], str]]:
    """(kind, span, match) for each expected claim: the next occurrence of its text."""
    out, cursor = [], 0
    for item in expect:
        start = text.index(item["match"], cursor)
        out.append((item["kind"], (start, start + len(item["match"])), item["match"]))
        cursor = start + 1
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_golden(case, terms):
    claims = unsupported_claims(case["text"], FACTS[case["facts"]], claim_terms=terms)
    got = [(c.kind, c.span, c.text) for c in claims]
    assert got == _expected_spans(case["text"], case["expect"])
    for claim in claims:
        assert case["text"][claim.span[0]:claim.span[1]] == claim.text


def test_golden_rows_cover_every_kind_and_both_outcomes():
    kinds = {e["kind"] for c in CASES for e in c["expect"]}
    assert kinds == {"number", "material", "technology", "feature", "certification", "guarantee"}
    assert sum(1 for c in CASES if not c["expect"]) >= 10


def test_doc_from_a_batched_pass_gives_the_same_claims(terms):
    from stylegen.validation.nlp import parse

    texts = [c["text"] for c in CASES]
    for case, doc in zip(CASES, parse(texts)):
        facts = FACTS[case["facts"]]
        with_doc = unsupported_claims(case["text"], facts, claim_terms=terms, doc=doc)
        assert with_doc == unsupported_claims(case["text"], facts, claim_terms=terms)


@pytest.mark.parametrize("forms", [
    ["4.5 oz", "4.5-oz", "4.5 ounces", "4.5oz", "4.5 Ounces"],
    ["100%", "100 percent", "100 per cent", "100-percent"],
    ["1.2 L", "1.2-liter", "1.2 liters", "1.2L", "1.2 litres"],
    ["2", "two", "Two"],
    ["1 1/2 in", "1\u00bd in", "1.5 in", "1-1/2 inches", "1.5\""],
    ["1 lb 2 oz", "18 oz", "1 lb and 2 oz"],
])
def test_equivalent_number_forms_read_alike(forms):
    read = [read_quantities(f) for f in forms]
    assert all(len(r) == 1 for r in read), read
    for q in read[1:]:
        assert quantity_supported(q[0], read[0]), (q[0], read[0])
        assert quantity_supported(read[0][0], q)


def test_unit_conversion_respects_stated_precision():
    fact = read_quantities("9.8 oz")
    assert quantity_supported(read_quantities("278 g")[0], fact)
    assert quantity_supported(read_quantities("0.28 kg")[0], fact)
    assert not quantity_supported(read_quantities("280 g")[0], fact)
    assert not quantity_supported(read_quantities("10 oz")[0], fact)


def test_no_facts_support_nothing(terms):
    claims = unsupported_claims("It weighs 9.8 oz in titanium.", None, claim_terms=terms)
    assert [(c.kind, c.text) for c in claims] == [("number", "9.8 oz"), ("material", "titanium")]


def test_fact_words_match_in_any_order_within_one_fact_value():
    index = FactIndex.build({"materials": ["Polyester, 100% recycled"], "features": ["Nylon hood"]})
    assert index.mentions("recycled polyester")
    assert not index.mentions("recycled nylon")  # "recycled" and "nylon" are in different facts


def test_message_tells_a_retry_which_claim_to_drop():
    claim = Claim("guarantee", (10, 27), "lifetime warranty", "not in the product facts")
    assert claim.message == 'Unsupported guarantee claim "lifetime warranty": not in the product facts. ' \
                            'Drop "lifetime warranty".'


def test_number_reason_names_the_facts_value_of_the_same_dimension(terms):
    [claim] = unsupported_claims("It weighs 10.8 oz.", FACTS["kettle"], claim_terms=terms)
    assert claim.reason == "the facts give 230 g, 9.8 oz"


def test_vocabulary_lines_parse_kinds_forms_and_supporters():
    terms = parse_claim_terms(["# comment", "", "certification: water-resistant | DWR <= waterproof", "Cordura"])
    assert terms == [ClaimTerm("certification", ("water-resistant", "DWR"), ("waterproof",)),
                     ClaimTerm("term", ("Cordura",))]


def test_comparative_of_a_property_term_is_the_same_claim():
    terms = tuple(parse_claim_terms(["term: soft", "feature: lock"]))
    text = "Softer than it looks, the softest tee."
    assert unsupported_claims(text, {"features": ["Soft hand"]}, claim_terms=terms) == []
    assert unsupported_claims("A soft tee.", {"features": ["Softer hand"]}, claim_terms=terms) == []
    invented = unsupported_claims(text, {"features": ["Crew neck"]}, claim_terms=terms)
    assert [(c.kind, c.text) for c in invented] == [("term", "Softer"), ("term", "softest")]
    # nouns do not compare: "locker" is no claim of the feature "lock"
    assert unsupported_claims("A gear locker.", {}, claim_terms=terms) == []


def test_a_form_listed_twice_is_supported_through_either_line():
    terms = tuple(parse_claim_terms(["feature: shoulder straps", "feature: shoulder straps <= wide straps"]))
    text = "Padded shoulder straps spread the load."
    assert unsupported_claims(text, {"features": ["Wide straps"]}, claim_terms=terms) == []
    [claim] = unsupported_claims(text, {"features": ["Hip belt"]}, claim_terms=terms)
    assert (claim.kind, claim.text) == ("feature", "shoulder straps")


def test_an_edited_vocabulary_file_is_read_again(tmp_path):
    path = tmp_path / "claims.txt"
    path.write_text("material: titanium\n", encoding="utf-8")
    assert [t.forms for t in load_claim_terms(path)] == [("titanium",)]
    path.write_text("material: titanium\nmaterial: walnut\n", encoding="utf-8")
    assert [t.forms for t in load_claim_terms(path)] == [("titanium",), ("walnut",)]


def test_vocabulary_reports_every_bad_line_with_its_number():
    with pytest.raises(ConfigError) as err:
        parse_claim_terms(["material: nylon", "flavor: vanilla", "feature: <= hood", "fabric: silk"], "claims.txt")
    assert [p.split(": ")[0] for p in err.value.problems] == ["claims.txt:2", "claims.txt:3", "claims.txt:4"]
    assert "valid: number" not in str(err.value) and "material" in err.value.problems[0]


# --- through the CLI ---------------------------------------------------------------


@pytest.fixture
def kit(tmp_path):
    """A copy of the sample brand kit plus a suite ``G`` holding only the grounding rule."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    (tmp_path / "validators" / "G").mkdir()
    shutil.copy(ROOT / "validators" / "KettleCairn" / "Grounded.yml", tmp_path / "validators" / "G" / "Grounded.yml")
    return tmp_path


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _record(rid: str, description: str, facts: dict | None) -> dict:
    rec = {"id": rid, "description": description, "meta_description": "Ember 1.2 L Kettle.",
           "bullets": ["Holds 1.2 L", "Weighs 9.8 oz", "Silicone sleeve"]}
    if facts is not None:
        rec["facts"] = facts
    return rec


def test_validate_reports_each_unsupported_claim_with_its_span(kit):
    text = "The Ember holds 1.5 L and has a lifetime warranty. Its titanium body weighs 9.8 oz."
    path = _write_jsonl(kit / "copy.jsonl", [_record("KC-1", text, FACTS["kettle"])])
    result = CliRunner().invoke(cli, ["validate", str(path), "--brand", str(kit / "brand"), "--suite", "G",
                                      "--format", "json"])
    assert result.exit_code == 1, result.output
    findings = [f for f in json.loads(result.output)["findings"] if f["rule"] == "G.Grounded"]
    assert [(f["match"], f["field"], f["level"]) for f in findings] == [
        ("1.5 L", "description", "error"), ("lifetime warranty", "description", "error"),
        ("titanium", "description", "error")]
    for f in findings:
        assert text[f["span"][0]:f["span"][1]] == f["match"]
        assert f["message"].endswith(f'Drop "{f["match"]}".')


def test_validate_passes_grounded_copy_and_skips_records_without_facts(kit):
    grounded = "The Ember holds 1.2 L and weighs 9.8 oz. Hard-anodized aluminum, a silicone sleeve."
    path = _write_jsonl(kit / "copy.jsonl", [_record("KC-1", grounded, FACTS["kettle"]),
                                            _record("KC-2", "Titanium, 3 L, waterproof.", None)])
    result = CliRunner().invoke(cli, ["validate", str(path), "--brand", str(kit / "brand"), "--suite", "G"])
    assert result.exit_code == 0, result.output
    assert "Grounded" not in result.output


def test_a_supporter_line_makes_a_brand_synonym_of_a_feature(kit):
    """claims.txt lists "feature: shoulder straps"; the catalog says "Wide straps". The
    copy's name is a finding until a second line names the catalog phrase as a supporter."""
    record = {"id": "P-1", "facts": {"name": "Scree Pack", "features": ["Wide straps", "Hip belt"]},
              "description": "Padded shoulder straps and a hip belt spread the load.",
              "meta_description": "The Scree Pack, with a hip belt.", "bullets": ["Hip belt"]}
    path = _write_jsonl(kit / "copy.jsonl", [record])
    args = ["validate", str(path), "--brand", str(kit / "brand"), "--suite", "G", "--format", "json"]

    def grounding_findings():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (0, 1), result.output
        found = [(f["match"], f["field"]) for f in json.loads(result.output)["findings"] if f["rule"] == "G.Grounded"]
        return found, result.exit_code

    assert grounding_findings() == ([("shoulder straps", "description")], 1)
    claims = kit / "brand" / "claims.txt"
    claims.write_text(claims.read_text(encoding="utf-8") + "feature: shoulder straps <= wide straps\n", encoding="utf-8")
    assert grounding_findings() == ([], 0)


def test_bad_rule_options_fail_brand_check_with_file_and_line(kit):
    rule = kit / "validators" / "KettleCairn" / "Grounded.yml"
    rule.write_text(rule.read_text(encoding="utf-8") + "kinds: [number, colour]\nclaims: nope.txt\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["brand", "check", str(kit / "brand")])
    assert result.exit_code == 2
    assert f"{rule}:" in result.output and "colour" in result.output and "nope.txt" in result.output


# --- the sample brand's approved copy ------------------------------------------------

# Approved copy is grounded by definition: the check must raise no error on it.


def test_approved_copy_raises_no_grounding_error(kit):
    result = CliRunner().invoke(cli, ["validate", str(ROOT / "training_data" / "approved"),
                                      "--brand", str(kit / "brand"), "--suite", "G", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    findings = json.loads(result.output)["findings"]
    flagged = sorted({f["id"] for f in findings if f["rule"] == "G.Grounded" and f["level"] == "error"})
    assert flagged == []


# --- generate: the retry is told which claim to drop ---------------------------------


def test_generate_feeds_grounding_findings_back_to_the_retry(tmp_path, monkeypatch):
    from gen_support import good, make_brand, parse_key, product, read_jsonl, write_csv
    from stylegen.generation.engine import ScriptedEngine

    brand = make_brand(tmp_path, fixes=False)  # the rule's drop_sentence fix would save the retry
    shutil.copy(ROOT / "validators" / "KettleCairn" / "Grounded.yml", tmp_path / "validators" / "T" / "Grounded.yml")
    catalog = write_csv(tmp_path / "cat.csv", [product("A"), product("B")])
    invented = "It folds flat and packs small. Titanium keeps it at 12 oz, and it is waterproof."

    def script(req):
        rid, task = parse_key(req)
        first = sum(1 for r in engine.requests if r.key == req.key) == 1
        return invented if (rid, task) == ("A", "description") and first else good(task)

    engine = ScriptedEngine(script)
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda brand, settings: engine)
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run"), "--no-adapter"])
    assert result.exit_code == 0, result.output
    retry = [r for r in engine.requests if r.key == "A/description"][1]
    for claim in ("Titanium", "12 oz", "waterproof"):
        assert f'Drop "{claim}"' in retry.prompt
    outputs = {r["id"]: r for r in read_jsonl(tmp_path / "run" / "outputs.jsonl")}
    assert outputs["A"]["fields"]["description"] == good("description")
    assert sum(1 for r in engine.requests if r.key == "B/description") == 1


def test_rule_options_choose_kinds_facts_and_ignored_claims(kit):
    rule = kit / "validators" / "G" / "Grounded.yml"
    rule.write_text(rule.read_text(encoding="utf-8") + 'kinds: [number, material]\nfacts: [weight]\nignore: ["24/7"]\n',
                    encoding="utf-8")
    text = "Open 24/7. It weighs 9.8 oz, holds 1.2 L, is titanium and waterproof."
    path = _write_jsonl(kit / "copy.jsonl", [_record("KC-1", text, FACTS["kettle"])])
    result = CliRunner().invoke(cli, ["validate", str(path), "--brand", str(kit / "brand"), "--suite", "G",
                                      "--format", "json"])
    findings = [f for f in json.loads(result.output)["findings"] if f["rule"] == "G.Grounded"]
    # only the weight fact counts, so 1.2 L is unsupported; certifications are not reported
    assert [(f["match"], f["field"]) for f in findings if f["field"] == "description"] == [
        ("1.2 L", "description"), ("titanium", "description")]


def test_vulgar_fractions_stated_as_in_the_facts_are_supported(tmp_path):
    # NFKC spells "½" with a FRACTION SLASH; the validator's normalised text must still read 1/2
    facts = {"name": "Drizzle Fleece", "category": "Jackets", "features": ["full-length zip"],
             "materials": ["\u00bd-inch rib-knit cuffs"], "weight": "11.3 oz"}
    rows = [{"id": "H-1", "description": "It weighs 11.3 oz and has \u00bd-inch rib-knit cuffs.", "facts": facts},
            {"id": "H-2", "description": "It weighs 11.3 oz and has \u00be-inch rib-knit cuffs.", "facts": facts}]
    path = tmp_path / "half.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path), "--brand", str(ROOT / "brand"), "--format", "json"])
    grounded = [f for f in json.loads(result.output)["findings"] if f["rule"] == "KettleCairn.Grounded"]
    assert [(f["id"], f["match"]) for f in grounded] == [("H-2", "\u00be-inch")]
