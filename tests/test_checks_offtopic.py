"""Check types ``offtopic`` and ``contradiction``: each sub-check failing and passing with
its exact findings (real spaCy pipeline), the vocabulary learned without the held-out
records, calibration on them, strict options, and the shipped rules on approved copy."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.kit.brand import load_brand
from stylegen.validation.calibration import approved_flag_rate
from stylegen.validation.corpus import load_corpus
from stylegen.validation.records import read_records, Record
from stylegen.validation.rules import load_rules
from stylegen.validation.validator import Validator
from stylegen.validation.corpus import held_out_ids
from stylegen.validation.vocabulary import load_vocabulary, stem
from kit_support import copy_validators

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training_data" / "approved"
CATALOG = ROOT / "catalog" / "sample_catalog.csv"
NEW_RULES = ("Sense.OffTopic", "Sense.Contradiction")
LANTERN = {"name": "Firefly Lantern", "category": "Lighting", "features": ["tilting head", "lock mode",
           "three brightness levels", "USB-C charging"], "materials": ["polycarbonate housing"], "weight": "7.2 oz"}
QUILT = {"name": "Nightjar Quilt", "category": "Sleep", "features": ["draft collar", "baffled construction"],
         "materials": ["ripstop nylon shell"], "weight": "15.0 oz"}


@pytest.fixture(scope="module")
def brand():
    return load_brand(ROOT / "brand")


@pytest.fixture(scope="module")
def shipped(brand):
    return Validator(brand, ["Sense", "KettleCairn"])


def findings(validator, rule: str, records: list[Record]) -> list[tuple]:
    """``(record id, field, match, message)`` of one rule's findings."""
    out = []
    for found in validator.check(records):
        out += [(f.id, f.field, f.match, f.message) for f in found if f.rule == rule]
    return out


def rec(rid: str, facts: dict | None, **fields) -> Record:
    return Record(id=rid, fields=fields, facts=facts)


def kit_with_rule(tmp_path: Path, name: str, text: str) -> Path:
    """A brand kit copy with one suite ``X`` holding one rule, learning from the sample data."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    (tmp_path / "validators" / "X").mkdir()
    (tmp_path / "validators" / "X" / f"{name}.yml").write_text(text + f"\ndata: {DATA}\n", encoding="utf-8")
    return tmp_path / "brand"


# --- the vocabulary ------------------------------------------------------------------


def test_vocabulary_leaves_the_held_out_records_out(brand):
    vocab = load_vocabulary(brand)
    ids = [r.id for r in load_corpus(brand).with_facts()]
    assert vocab.held_out == held_out_ids(ids, brand.training.eval_fraction) and vocab.held_out
    assert vocab.records == len(ids) - len(vocab.held_out)
    assert "KC-B0069" in vocab.held_out  # the only approved copy that says "kayak"
    assert stem("kayak") not in vocab.general()
    assert stem("kayak") in load_vocabulary(brand, held_out=frozenset()).general()
    assert load_vocabulary(brand) is vocab  # built once per data version, not per call


def test_product_kinds_come_from_names_and_catalogs(brand):
    vocab = load_vocabulary(brand, catalogs=[CATALOG, ROOT / "no-such-catalog.csv"])
    assert vocab.sources[-1] == str(CATALOG)
    assert vocab.kind_categories(stem("tent")) == ["Tents"]
    assert vocab.kind_categories(stem("sweatpants")) == []
    assert vocab.is_kind_of(stem("quilt"), "Sleep") and not vocab.is_kind_of(stem("quilt"), "Tents")
    assert vocab.related("Tents", "Shelters") and not vocab.related("Tents", "Sleep")


# --- offtopic --------------------------------------------------------------------------


def test_offtopic_names_each_unsupported_word_with_its_span(shipped):
    text = ("The Firefly Lantern tilts its head toward the table. You can charge them from the internet "
            "through the camera's webcam.")
    found = shipped.check([rec("L-1", LANTERN, description=text)])[0]
    [first, second] = [f for f in found if f.rule == "Sense.OffTopic"]
    assert (first.match, first.span, second.match, second.span) == ("internet", (82, 90), "webcam", (112, 118))
    assert first.message == ('Off-topic: "internet" is not in the product facts or in how we write about Lighting '
                             'products. Drop "internet" and say only what the facts support.')


def test_offtopic_words_the_facts_support_pass(shipped):
    text = "You can charge them from the internet through the camera's webcam."
    facts = {**LANTERN, "features": LANTERN["features"] + ["charges from the internet through a webcam"]}
    assert findings(shipped, "Sense.OffTopic", [rec("L-2", facts, description=text)]) == []


def test_offtopic_allows_one_new_word_in_a_long_text_but_not_in_a_bullet(shipped):
    long = ("The Dawn Mug keeps coffee hot on a cold morning behind double-wall insulation. The sip lid stops "
            "the splash when you walk, and the folding handles tuck flat against the side. It holds 1.2 L, so "
            "you can pour one for a friend while the sun comes up over the kennel.")
    facts = {"name": "Dawn Mug", "category": "Mugs & Cups", "features": ["sip lid", "folding handles",
             "double-wall insulation"], "capacity": "1.2 L"}
    assert findings(shipped, "Sense.OffTopic", [rec("M-1", facts, description=long)]) == []
    bullet = rec("M-2", facts, bullets=["Sip lid for the kennel", "Folding handles", "Holds 1.2 L"])
    assert [f[:3] for f in findings(shipped, "Sense.OffTopic", [bullet])] == [("M-2", "bullets[0]", "kennel")]


def test_offtopic_skips_records_without_facts(shipped):
    text = "You can charge them from the internet through the camera's webcam."
    assert findings(shipped, "Sense.OffTopic", [rec("L-3", None, description=text)]) == []


def test_offtopic_thresholds_and_familiar_words_are_options(tmp_path):
    base = ("extends: offtopic\nlevel: error\nmessage: '{match} ({count}: {words})'\n")
    brand = load_brand(kit_with_rule(tmp_path, "Strict", base + "max_share: 0.0\ncommon_words: null\n"))
    strict = Validator(brand, ["X"])
    text = "The Firefly Lantern is merry at the internet cafe."
    assert findings(strict, "X.Strict", [rec("L-4", LANTERN, description=text)]) == [
        ("L-4", "description", "merry", "merry (3: merry, internet, cafe)"),
        ("L-4", "description", "internet", "internet (3: merry, internet, cafe)"),
        ("L-4", "description", "cafe", "cafe (3: merry, internet, cafe)")]
    (tmp_path / "validators" / "X" / "Strict.yml").write_text(base + f"max_unsupported: 2\ndata: {DATA}\n")
    loose = Validator(load_brand(tmp_path / "brand"), ["X"])  # "merry" is a familiar adjective: 2 left
    assert findings(loose, "X.Strict", [rec("L-4", LANTERN, description=text)]) == []


# --- contradiction ---------------------------------------------------------------------


def test_pairs_flag_the_opposite_of_the_facts(shipped):
    facts = {"name": "Larch Tumbler", "category": "Mugs & Cups", "features": ["sip lid", "double-wall insulation"]}
    copy = rec("T-1", facts, description="It keeps tea hot behind single wall insulation, not a double wall.")
    assert findings(shipped, "Sense.Contradiction", [copy]) == [
        ("T-1", "description", "single wall", 'Says "single wall" but the facts say "double-wall". Say what '
                                              'the facts say, or drop "single wall".')]


def test_pairs_pass_negations_and_longer_forms(shipped):
    anorak = {"name": "Drizzle Anorak", "category": "Jackets", "certifications": ["Water-resistant"]}
    tent = {"name": "Hollow 1 Tent", "category": "Tents", "features": ["Non-freestanding, pitches with 1 pole"]}
    records = [rec("A-1", anorak, description="Water-resistant, not waterproof: it sheds a shower."),
               rec("A-2", tent, description="A non-freestanding shelter that weighs little."),
               rec("A-3", tent, description="A freestanding shelter that weighs little.")]
    assert [f[:3] for f in findings(shipped, "Sense.Contradiction", records)] == [
        ("A-3", "description", "freestanding")]


def test_numbers_name_the_fact_they_conflict_with(shipped):
    pot = {"name": "Hearth Pot Set", "category": "Cookware", "features": ["fits a 100 g fuel canister inside",
           "two folding handles"], "weight": "11.8 oz", "capacity": "1.2 L"}
    copy = rec("P-1", pot, description="Holds 2 L and fits a 100 g fuel canister inside.",
               meta_description="The Hearth Pot Set weighs 12 oz, with three folding handles.")
    assert [(f[1], f[2], f[3].split(". ")[0]) for f in findings(shipped, "Sense.Contradiction", [copy])] == [
        ("description", "2 L", 'Says "2 L" but the capacity is 1.2 L'),
        ("meta_description", "12 oz", 'Says "12 oz" but the weight is 11.8 oz'),
        ("meta_description", "three folding handles", 'Says "three folding handles" but the facts say two '
                                                      "folding handles")]


def test_numbers_pass_conversions_and_other_facts(shipped):
    kettle = {"name": "Ember 1.2 L Kettle", "category": "Cookware", "features": ["Holds a 230 g fuel canister"],
              "weight": "9.8 oz", "capacity": "1.2 L", "use": "Two people, or three who get along"}
    copy = rec("K-1", kettle, description="It holds 1.2 L, weighs 278 g and packs a 230 g canister. Three "
                                          "people share it.")
    assert findings(shipped, "Sense.Contradiction", [copy]) == []


def test_kind_flags_another_kind_of_product(shipped):
    copy = rec("Q-1", QUILT, description="The Nightjar Quilt is a sweatpants with a draft collar. This tent keeps "
                                         "the cold out. The lantern stays dry. The backpack stays dry.")
    assert [(f[2], f[3].split(". ")[0]) for f in findings(shipped, "Sense.Contradiction", [copy])] == [
        ("sweatpants", 'Calls the Nightjar Quilt a "sweatpants" (a Pants product), but it is a Sleep product'),
        ("tent", 'Calls the Nightjar Quilt a "tent" (a Tents product), but it is a Sleep product'),
        ("lantern", 'Calls the Nightjar Quilt a "lantern" (a Lighting product), but it is a Sleep product')]
    # "The backpack ...": Sleep copy talks about packs, so a sentence's subject may be one


MUG = {"name": "Dawn Mug", "category": "Mugs & Cups", "features": ["nests over a 110 g canister", "sip lid"],
       "materials": ["titanium", "BPA-free polypropylene lid"]}
SHIRT = {"name": "Updraft Wind Shirt", "category": "Jackets", "features": ["half-length front zip", "chest pocket"],
         "materials": ["recycled nylon", "polyester blend"]}


def test_part_flags_a_product_said_to_be_one_of_its_parts(shipped):
    records = [rec("P-1", MUG, description="Dawn Mug: a 110 g canister that holds coffee. It weighs 2.5 oz."),
               rec("P-2", SHIRT, description="The Updraft Wind Shirt is a half-length front zip with a chest pocket.")]
    assert [(f[2], f[3].split(". ")[0]) for f in findings(shipped, "Sense.Contradiction", records)] == [
        ("canister", 'Says the Dawn Mug is a "canister", one of its parts or materials'),
        ("zip", 'Says the Updraft Wind Shirt is a "zip", one of its parts or materials')]


def test_part_passes_own_nouns_kinds_materials_and_unbounded_phrases(shipped):
    records = [rec("P-3", MUG, description="The Dawn Mug is a titanium mug with a sip lid. It is a cup for camp."),
               rec("P-4", SHIRT, description="Updraft Wind Shirt: a polyester blend shell with a half-length zip."),
               rec("P-5", SHIRT, description="The Updraft Wind Shirt is a zip-front shell that packs into its "
                                             "chest pocket."),
               rec("P-6", MUG, description="The canister is a 110 g one, and the lid is a snug fit.")]
    assert findings(shipped, "Sense.Contradiction", records) == []


def test_kind_passes_parts_related_categories_and_own_kinds(shipped):
    pack = {"name": "Bothy 22 Daypack", "category": "Packs", "features": ["Top-loading main compartment"]}
    tarp = {"name": "Flatiron 8 x 10 Tarp", "category": "Shelters", "features": ["Six tie-outs"]}
    records = [rec("K-2", pack, description="The shell is 210D ripstop nylon. Pitch the tent, then hang this pack."),
               rec("K-3", tarp, description="A tarp is a tent that lets you decide where the walls go."),
               rec("K-4", QUILT, description="Lay this quilt in the tent; the set of stakes stays in the bag.")]
    assert findings(shipped, "Sense.Contradiction", records) == []


def test_contradiction_skips_records_without_facts(shipped):
    assert findings(shipped, "Sense.Contradiction",
                    [rec("N-1", None, description="This single wall mug holds 2 L and is a tent.")]) == []


# --- strict options -------------------------------------------------------------------


def test_bad_options_are_reported_together_with_file_and_line(tmp_path):
    brand = kit_with_rule(tmp_path, "Topic", "extends: offtopic\nmessage: x\npos: [NOUN, NOUNS]\nmin_general_docs: 0"
                                            "\nmax_share: 1.5\ncommon_words: nope.txt\ncolour: red")
    bad = tmp_path / "validators" / "X" / "Bad.yml"
    bad.write_text("extends: contradiction\nmessage: x\nchecks: [pairs, colours]\npairs: [[single-wall]]\n"
                   "quantities: {weight: weight}\nmin_names: 0\ndata: nowhere/\n", encoding="utf-8")
    (tmp_path / "copy.txt").write_text("It boils water.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "copy.txt"), "--brand", str(brand), "--suite", "X"])
    assert result.exit_code == 2, result.output
    topic = tmp_path / "validators" / "X" / "Topic.yml"
    for needle in (f"{topic}:3: pos: unknown part(s) of speech 'NOUNS' (valid: NOUN, VERB, ADJ, ADV, PROPN, INTJ)",
                   f"{topic}:4: min_general_docs: must be 1 or more (got 0)",
                   f"{topic}:5: max_share: must be at least 0 and below 1 (got 1.5)",
                   f"{topic}:6: common_words: {tmp_path / 'brand' / 'nope.txt'}: cannot read the familiar-words list",
                   f"{topic}:7: colour: unknown key for extends: offtopic",
                   f"{bad}:3: checks: unknown sub-check(s) 'colours' (valid: pairs, numbers, kind, part, identity)",
                   f"{bad}:4: pairs: pairs[0]: must be two non-empty attributes",
                   f"{bad}:5: quantities: unknown dimension 'weight' (valid: mass, volume, length)",
                   f"{bad}:6: min_names: must be 1 or more (got 0)",
                   f"{bad}:7: data: {tmp_path / 'brand' / 'nowhere'}: no such file or directory"):
        assert needle in result.output, needle


def test_missing_approved_copy_is_a_data_error_once_facts_need_it(tmp_path):
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    plain = tmp_path / "plain.txt"
    plain.write_text("It boils water.", encoding="utf-8")
    assert CliRunner().invoke(cli, ["validate", str(plain), "--brand", str(tmp_path / "brand")]).exit_code == 1
    copy = tmp_path / "copy.jsonl"
    copy.write_text(json.dumps({"id": "X-1", "description": "It boils water.", "facts": QUILT}) + "\n")
    result = CliRunner().invoke(cli, ["validate", str(copy), "--brand", str(tmp_path / "brand")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'training_data' / 'approved'}: no such file or directory" in result.output


# --- calibration on approved copy ------------------------------------------------------


def test_held_out_approved_copy_is_not_flagged(brand):
    rules = [r for r in load_rules(brand) if r.id in NEW_RULES]
    result = approved_flag_rate(brand, rules)
    assert result["records"] == len(load_vocabulary(brand).held_out) == 26
    assert result["rate"] <= 0.05, result["flagged_ids"]
    assert set(result["by_rule"]) == set(NEW_RULES)


def test_validate_reports_no_error_of_the_new_rules_on_held_out_ids(brand):
    result = CliRunner().invoke(cli, ["validate", str(DATA), "--brand", str(ROOT / "brand"), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    held = load_vocabulary(brand).held_out
    flagged = [f for f in json.loads(result.output)["findings"]
               if f["rule"] in NEW_RULES and f["level"] == "error" and f["id"] in held]
    assert flagged == []


def test_bad_examples_are_caught(brand, shipped):
    """The failures of the nightly job, rewritten on real catalog rows (docs/VALIDATORS.md)."""
    records, _ = read_records(ROOT / "tests" / "golden" / "offtopic_contradiction_bad.jsonl", brand)
    caught = {r.id for r, found in zip(records, shipped.check(records))
              if any(f.rule in NEW_RULES and f.level == "error" for f in found)}
    assert len(records) >= 20
    assert {r.id for r in records if r.id.startswith("BAD-CX")} <= caught
    # BAD-OT-07 ("Hearth Fry Pan: a nonstick ceramic coating ...") is caught by the part sub-check
    assert sorted(r.id for r in records if r.id not in caught) == ["BAD-OT-01", "BAD-OT-04", "BAD-OT-05"]
