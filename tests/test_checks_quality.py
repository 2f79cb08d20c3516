"""Check types ``echo`` and ``degenerate`` (rules Default.Echo, Default.Degenerate): copy
that repeats its instructions, and copy that loops or stalls. Each sub-check on failing
and passing copy with its exact findings (real spaCy pipeline), the strict options
through the real CLI, and the calibration: approved copy raises nothing."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.kit.brand import load_brand
from stylegen.validation.records import read_records, Record
from stylegen.validation.validator import Validator
from kit_support import copy_validators

ROOT = Path(__file__).resolve().parent.parent
RULES = ("Default.Echo", "Default.Degenerate")


@pytest.fixture(scope="module")
def validator():
    return Validator(load_brand(ROOT / "brand"), ["Default"])


@pytest.fixture
def kit(tmp_path) -> Path:
    """A copy of brand/ and validators/ side by side (brand.yaml points at ../validators)."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    (tmp_path / "copy.txt").write_text("It boils water.", encoding="utf-8")
    return tmp_path


def found(validator, rule: str, fields: dict, facts: dict | None = None) -> list[tuple]:
    """``(field, span, match, message)`` of ``rule``'s findings on one record."""
    findings = validator.check([Record(id="R", fields=fields, facts=facts)])[0]
    return [(f.field, f.span, f.match, f.message) for f in findings if f.rule == rule]


def echo(validator, fields: dict) -> list[tuple]:
    return [(field, span, match, message.split(": '")[0])
            for field, span, match, message in found(validator, "Default.Echo", fields)]


def degenerate(validator, fields: dict, facts: dict | None = None) -> list[tuple]:
    return found(validator, "Default.Degenerate", fields, facts)


# --- echo ------------------------------------------------------------------------------


def test_echo_of_the_task_prompt_names_what_it_echoes(validator):
    text = "Write the product description for Dusk Lantern. It has three brightness levels."
    assert found(validator, "Default.Echo", {"description": text}) == [
        ("description", (0, 33), "Write the product description for",
         "Echo of the task prompt: 'Write the product description for'. Delete it and write only the copy.")]


def test_echo_of_prompt_fragments_and_the_system_line(validator):
    bullets = ["Feature bullets, one per line", "You write product copy for Kettle & Cairn"]
    assert echo(validator, {"bullets": bullets}) == [
        ("bullets[0]", (0, 15), "Feature bullets", "Echo of the task prompt"),
        ("bullets[0]", (17, 29), "one per line", "Echo of the task prompt"),
        ("bullets[1]", (0, 26), "You write product copy for", "Echo of the task prompt")]


def test_prompt_words_in_ordinary_copy_are_not_echoes(validator):
    text = ("Write your name on the tag. One per pack, so nobody fights over it. "
            "The description on the box is right: 3 to 5 people fit under it.")
    assert echo(validator, {"description": text}) == []


def test_echo_of_a_retry_note_and_rule_ids(validator):
    text = "Fix: drop the hype word. This pot boils fast (KettleCairn.Hype), per Default.Passive."
    assert echo(validator, {"description": text}) == [
        ("description", (0, 24), "Fix: drop the hype word.", "Echo of the retry note"),
        ("description", (45, 63), "(KettleCairn.Hype)", "Echo of the retry note"),
        ("description", (69, 84), "Default.Passive", "Echo of the retry note")]


def test_fix_inside_a_sentence_is_not_a_retry_note(validator):
    assert echo(validator, {"description": "Easy to fix: a patch kit rides in the pocket."}) == []


def test_echo_of_a_rule_message_names_the_rule(validator):
    text = "Cut the hype word and name the concrete detail. It boils a liter in four minutes."
    assert found(validator, "Default.Echo", {"description": text}) == [
        ("description", (0, 17), "Cut the hype word",
         "Echo of the rule message of KettleCairn.Hype: 'Cut the hype word'. Delete it and write only the copy."),
        ("description", (22, 46), "name the concrete detail",
         "Echo of the rule message of KettleCairn.Hype: 'name the concrete detail'. Delete it and write only the copy.")]


def test_short_overlaps_with_rule_messages_are_not_echoes(validator):
    # "the bullet", "plain text", "say it plainly" are shorter than message_words (4)
    assert echo(validator, {"description": "Say it plainly: the bullet fits. Plain text on the tag."}) == []


def test_echo_of_field_labels_at_line_or_sentence_start(validator):
    fields = {"description": "Name: Talus 2 Tent. It sleeps two.\nMaterials: ripstop nylon",
              "meta_description": "Meta description: a dome for two.",
              "bullets": ["- Features: draft collar, compression sack", "Care: hand wash"]}
    assert echo(validator, fields) == [
        ("description", (0, 5), "Name:", "Echo of the field label"),
        ("description", (35, 45), "Materials:", "Echo of the field label"),
        ("meta_description", (0, 17), "Meta description:", "Echo of the field label"),
        ("bullets[0]", (2, 11), "Features:", "Echo of the field label"),
        ("bullets[1]", (0, 5), "Care:", "Echo of the field label")]


def test_labels_inside_a_sentence_or_without_colon_pass(validator):
    text = "Name the trail you walked. The materials: nylon and mesh. Its care is simple."
    assert echo(validator, {"description": text}) == []


def test_echo_of_chat_roles_and_template_tokens(validator):
    text = "assistant: The stove lights.\nUser: it folds. System: ok.<|im_end|>"
    assert echo(validator, {"description": text}) == [
        ("description", (0, 10), "assistant:", "Echo of the chat role"),
        ("description", (29, 34), "User:", "Echo of the chat role"),
        ("description", (45, 52), "System:", "Echo of the chat role"),
        ("description", (56, 66), "<|im_end|>", "Echo of the chat role")]


def test_role_words_in_copy_pass(validator):
    assert echo(validator, {"description": "The sleep system: pad, quilt and pillow. Every user gets a cup."}) == []


def test_brand_phrases_and_labels_from_rule_keys(kit):
    path = kit / "validators" / "Default" / "Echo.yml"
    path.write_text(path.read_text() + "phrases: [as an AI, in the brand voice]\nlabels: [SKU]\n", encoding="utf-8")
    checker = Validator(load_brand(kit / "brand"), ["Default"])
    text = "In the brand voice. SKU: KC-1 is a pot. As  an AI I cannot."
    assert echo(checker, {"description": text}) == [
        ("description", (0, 18), "In the brand voice", "Echo of the listed phrase"),
        ("description", (20, 24), "SKU:", "Echo of the field label"),
        ("description", (40, 49), "As  an AI", "Echo of the listed phrase")]


def test_echo_kinds_can_be_switched_off(kit):
    path = kit / "validators" / "Default" / "Echo.yml"
    path.write_text(path.read_text() + "echoes: [role]\n", encoding="utf-8")
    checker = Validator(load_brand(kit / "brand"), ["Default"])
    assert echo(checker, {"description": "Name: Write the product description for it. user: hi"}) == [
        ("description", (44, 49), "user:", "Echo of the chat role")]


# --- degenerate --------------------------------------------------------------------------


def test_repeated_phrase_of_three_content_words(validator):
    text = "The fly has fully taped seams, and the floor has fully taped seams too."
    assert degenerate(validator, {"description": text}) == [
        ("description", (49, 66), "fully taped seams",
         "Repeated phrase 'fully taped seams': it is already said in this field; say it once.")]


def test_repeated_phrase_in_a_later_list_item(validator):
    bullets = ["Double-wall steel keeps coffee hot", "Lid clicks shut", "Steel keeps coffee hot for hours"]
    assert degenerate(validator, {"bullets": bullets}) == [
        ("bullets[2]", (0, 22), "Steel keeps coffee hot",
         "Repeated phrase 'Steel keeps coffee hot': it is already said in this field; say it once.")]


def test_phrases_with_fewer_content_words_and_the_product_name_pass(validator):
    text = ("Take the cap off. Take the cap off before it goes near heat. The Dune Snow and Sand Stakes "
            "hold; the Dune Snow and Sand Stakes stay.")
    assert degenerate(validator, {"description": text}, {"name": "Dune Snow and Sand Stakes"}) == []


def test_repeated_sentence_reported_once_not_as_its_phrases(validator):
    text = "The stove lights in the wind. It folds flat. The stove lights in the wind!"
    assert degenerate(validator, {"description": text}) == [
        ("description", (45, 74), "The stove lights in the wind!",
         "Repeated sentence 'The stove lights in the wind!': drop the second copy.")]


def test_repeated_list_item(validator):
    assert degenerate(validator, {"bullets": ["Holds 450 ml", "Lid clicks shut", "holds 450 ml"]}) == [
        ("bullets[2]", (0, 12), "holds 450 ml", "Repeated sentence 'holds 450 ml': drop the second copy.")]


def test_same_number_and_unit_twice(validator):
    text = "Its weight is 21.1 oz and it weighs 21.1 oz. It fits 2 people."
    assert degenerate(validator, {"description": text}, {"weight": "21.1 oz"}) == [
        ("description", (36, 43), "21.1 oz",
         "Fact stated twice '21.1 oz': the same number is already given in this field; give it once.")]


def test_measures_in_chains_and_ranges_are_one_statement_each(validator):
    text = ("The table is 27 x 16 in and packs to 16 x 5 in in its bag. It stretches from 7 in to 21 in "
            "and collapses back to 7 in. Dig 6 to 8 in down; depth marks sit at 6 and 8 in.")
    assert degenerate(validator, {"description": text}) == []


def test_fact_value_stated_twice(validator):
    text = "Pull the hood with a brim down low, since the hood with a brim keeps rain off."
    facts = {"name": "Col Jacket", "features": ["Hood with a brim"], "materials": ["carbon steel"]}
    assert degenerate(validator, {"description": text}, facts) == [
        ("description", (46, 62), "hood with a brim",
         "Fact stated twice 'hood with a brim': the features fact is already given in this field; give it once.")]


def test_short_fact_values_may_come_back(validator):
    text = "A carbon steel blade with a Scandi grind. Carbon steel rusts if you let it."
    assert degenerate(validator, {"description": text}, {"materials": ["carbon steel"]}) == []


def test_verbless_bare_phrase_in_a_description(validator):
    text = "A quilt for cold nights. Warm down. Light and tough! It packs small."
    assert degenerate(validator, {"description": text}) == [
        ("description", (25, 35), "Warm down.",
         "Sentence without a verb 'Warm down.': write a full sentence with a verb, or join it to the sentence before."),
        ("description", (36, 52), "Light and tough!",
         "Sentence without a verb 'Light and tough!': write a full sentence with a verb, or join it to the "
         "sentence before.")]


def test_deliberate_fragments_and_misread_verbs_pass(validator):
    text = ("One door, one vestibule, one person. Not at lunch. Good. Two zip hand pockets. Part kettle, part pot. "
            "A dull knife slips. Zippers jam. The Sidecar fixes both. Oil the top once a season.")
    assert degenerate(validator, {"description": text}) == []


def test_verbless_never_checks_bullets_and_the_shipped_rule_skips_meta(validator):
    assert degenerate(validator, {"bullets": ["Warm down.", "Light and tough."],
                                  "meta_description": "Machine washable."}) == []


def test_verbless_fields_default_includes_meta_description(kit):
    path = kit / "validators" / "Default" / "Degenerate.yml"
    path.write_text(path.read_text().replace("verbless_fields: [description]\n", ""), encoding="utf-8")
    checker = Validator(load_brand(kit / "brand"), ["Default"])
    assert [(f, m) for f, _, m, _ in degenerate(checker, {"meta_description": "Machine washable."})] == [
        ("meta_description", "Machine washable.")]


def test_word_repeated_back_to_back(validator):
    text = "The lid locks so the the pot stays shut. It packs to 5 in in its bag. It had had a dent."
    assert degenerate(validator, {"description": text}) == [
        ("description", (17, 24), "the the", "Word repeated back to back 'the the': drop the second 'the'.")]


def test_only_bare_candidates_need_the_tagger(validator):
    check = next(r.check for r in validator.rules if r.id == "Default.Degenerate")
    assert check.needs_for("A quilt for cold nights. Warm down.") == "tags"
    assert check.needs_for("It weighs 12 oz. One door, one person.") is None
    assert check.needs_for("Silicone-coated ripstop nylon fly") is None  # a list item: no sentence end


# --- strict options ------------------------------------------------------------------------


def _validate(kit: Path):
    return CliRunner().invoke(cli, ["validate", str(kit / "copy.txt"), "--brand", str(kit / "brand")])


def _append(path: Path, text: str) -> dict[str, int]:
    """Append YAML lines to a rule file; the line number of each new key."""
    before = len(path.read_text().splitlines())
    path.write_text(path.read_text() + text, encoding="utf-8")
    return {ln.split(":")[0]: before + i for i, ln in enumerate(text.splitlines(), 1)}


def test_unknown_keys_list_the_valid_ones(kit):
    echo_file, deg_file = kit / "validators/Default/Echo.yml", kit / "validators/Default/Degenerate.yml"
    e, d = _append(echo_file, "phrase: [x]\n"), _append(deg_file, "min_gram: 2\n")
    result = _validate(kit)
    assert result.exit_code == 2
    assert (f"{echo_file}:{e['phrase']}: phrase: unknown key for extends: echo (valid keys: extends, message, "
            "level, fields, description") in result.output
    assert "echoes, prompt_words, message_words, labels, phrases)" in result.output
    assert (f"{deg_file}:{d['min_gram']}: min_gram: unknown key for extends: degenerate (valid keys: extends, "
            "message, level, fields, description") in result.output
    assert "checks, min_ngram, fact_words, ignore_facts, verbless_fields, allow_doubled)" in result.output


def test_bad_option_values_all_at_once(kit):
    echo_file, deg_file = kit / "validators/Default/Echo.yml", kit / "validators/Default/Degenerate.yml"
    e = _append(echo_file, "echoes: [prompt, gossip]\nprompt_words: 1\nlabels: [SKU, ' ']\n")
    deg_file.write_text(deg_file.read_text().replace("verbless_fields: [description]\n", ""), encoding="utf-8")
    d = _append(deg_file, "checks: [phrase, rhyme]\nmin_ngram: 1\nverbless_fields: [description, bullets, title]\n"
                          "ignore_facts: [name, colour]\n")
    out = _validate(kit).output
    assert f"{echo_file}:{e['echoes']}: echoes: unknown echo kind(s) 'gossip' (valid: prompt, retry, message, " \
           "label, role, phrase)" in out
    assert f"{echo_file}:{e['prompt_words']}: prompt_words: must be at least 2 (got 1)" in out
    assert f"{echo_file}:{e['labels']}: labels: entries must be non-empty strings" in out
    assert f"{deg_file}:{d['checks']}: checks: unknown check(s) 'rhyme' (valid: phrase, sentence, fact, " \
           "verbless, doubled)" in out
    assert f"{deg_file}:{d['min_ngram']}: min_ngram: must be at least 2 (got 1)" in out
    assert (f"{deg_file}:{d['verbless_fields']}: verbless_fields: 'bullets' is a list field, whose items are "
            "fragments by design (valid: description, meta_description)") in out
    assert f"{deg_file}:{d['verbless_fields']}: verbless_fields: 'title' is not a task field" in out
    assert f"{deg_file}:{d['ignore_facts']}: ignore_facts: unknown fact(s) 'colour' (valid: name, category," in out


def test_wrong_option_types(kit):
    echo_file, deg_file = kit / "validators/Default/Echo.yml", kit / "validators/Default/Degenerate.yml"
    e, d = _append(echo_file, "message_words: four\n"), _append(deg_file, "min_ngram: [3]\n")
    out = _validate(kit).output
    assert f"{echo_file}:{e['message_words']}: message_words: must be int, got str 'four'" in out
    assert f"{deg_file}:{d['min_ngram']}: min_ngram: must be int, got a list [3]" in out


# --- calibration -----------------------------------------------------------------------------


def test_approved_copy_raises_nothing(validator):
    brand = load_brand(ROOT / "brand")
    records = [r for p in sorted((ROOT / "training_data" / "approved").glob("*.jsonl"))
               for r in read_records(p, brand)[0]]
    assert len(records) >= 300
    flagged = [(f.rule, f.id, f.field, f.match) for fs in validator.check(records) for f in fs if f.rule in RULES]
    assert flagged == []
