"""Slot tokens in the model's output (issue 21, approach 3): the training target, the fill
from a row's facts, and the night rejecting a slot the row cannot fill or a number or
material written outside a slot."""
from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from gen_support import make_brand, parse_key, product, read_jsonl, ROOT, write_csv
from stylegen.generation.engine import ScriptedEngine
from stylegen.generation.lexicon import NO_DIGITS
from stylegen.generation.phrasebook import Vocabulary
from stylegen.generation.slots import available_slots, fill_slots, slotted

VOCAB = Vocabulary(materials=frozenset({"nylon", "aluminum", "down", "poles"}), colors=frozenset(),
                   features=frozenset({"pocket", "poles"}))
ROW = {"name": "Ridge Poles", "category": "Tents", "features": ["zippered lid pocket", "two side pockets"],
       "materials": ["aluminum"], "weight": "9 oz"}


def test_slotted_training_target_golden():
    record = json.loads((ROOT / "training_data/approved/camp.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert slotted(record["description"], record["facts"]) == (
        "Two doors mean nobody crawls over anybody at night. The {name} stands on its own with a {feature:set}, "
        "so you can pitch it on a rock slab or a wooden platform and move it after. A {feature:inner} keeps bugs "
        "off and lets air move. The silicone-coated {materials} fly has {feature:seams}, and each door gets its "
        "own vestibule for boots and packs. The floor measures {dimensions}, room for two pads side by side. "
        "It weighs {weight} with {feature:stakes} in the bag. Pack the stakes last, so they come out first.")


def test_slotted_reads_facts_by_role():
    """A brand whose columns are not named like roles still gets slots (catalog roles)."""
    from stylegen.kit.brand import load_brand

    brand = load_brand(ROOT / "brand")
    text = slotted("The Ridge Poles weigh 9 oz.", {"name": "Ridge Poles", "weight": "9 oz"}, brand.catalog)
    assert text == "The {name} weigh {weight}."


def test_fill_agrees_with_a_plural_name():
    fill = fill_slots("The {name} weighs {weight}. It has a {feature:pocket} for small things.", ROW, VOCAB)
    assert fill.text == "The Ridge Poles weigh 9 oz. They have a zippered lid pocket for small things."
    assert fill.unfilled == () and fill.unslotted == ()


def test_fill_plural_feature_takes_the_plural_feature():
    fill = fill_slots("Keep snacks in the {feature:pockets}.", dict(ROW, name="Ridge Pack"), VOCAB)
    assert fill.text == "Keep snacks in the two side pockets."


@pytest.mark.parametrize("text, unfilled", [
    ("A {feature:strap} holds it.", ("{feature:strap}",)),  # no strap among the features
    ("It holds {capacity}.", ("{capacity}",)),  # no capacity fact
    ("The {feature} and {oops} and {weight", ("{feature}", "{oops}", "{weight")),  # malformed
    ("A {feature:pocket} and a {feature:pocket}.", ("{feature:pocket}",)),  # one feature, one slot
])
def test_a_slot_the_row_cannot_fill_is_reported(text, unfilled):
    fill = fill_slots(text, ROW, VOCAB)
    assert fill.unfilled == unfilled
    assert [f.rule for f in fill.findings("A", "description")] == ["Slot.Unfilled"] * len(unfilled)
    assert all(f.level == "error" for f in fill.findings("A", "description"))


def test_numbers_and_other_materials_outside_a_slot_are_reported():
    fill = fill_slots("The {name} is nylon, aluminum and down-filled, and weighs 12 oz. Tie it down.", ROW, VOCAB)
    # "aluminum" is the row's own material; "down" is a function word; "12" and "nylon" are claims
    assert fill.unslotted == ("12", "nylon")
    assert [f.rule for f in fill.findings("A", "description")] == ["Slot.Unslotted", "Slot.Unslotted"]


def test_catalog_braces_are_data_not_slots():
    """A fact value holding slot-like text is put in literally and never expanded again."""
    fill = fill_slots("The {name} weighs {weight}.", dict(ROW, name="Poles {weight}"), VOCAB)
    assert fill.text == "The Poles {weight} weighs 9 oz."


def slotted_brand(tmp_path, **generation):
    """The test kit with a slotted description, reading the sample's approved copy (the
    material vocabulary a slotted task is checked against)."""
    brand = make_brand(tmp_path, slots=["description"], **generation)
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["training"]["data"] = str(ROOT / "training_data/approved")
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return brand


def test_generate_fills_slots_and_rejects_unfillable(tmp_path, monkeypatch):
    """The night: round 1 writes a slot the row cannot fill and a number; round 2 ships filled."""
    from click.testing import CliRunner

    from stylegen.cli import cli

    brand = slotted_brand(tmp_path, lexicon="category")
    catalog = write_csv(tmp_path / "cat.csv", [product("A", name="Crag Mug")])
    answers = {"description": ["The {name} holds {capacity} and keeps 12 hours of heat.",
                               "The {name} weighs {weight}. It folds flat and packs small, so it rides in a lid."]}

    def script(req):
        _, task = parse_key(req)
        texts = answers.get(task) or ["A camp piece that folds flat and packs small, for the trail at 9 oz.",
                                      "- Folds flat\n- Packs small\n- Aluminum, 9 oz"][task == "bullets":][:1]
        seen = sum(1 for r in engine.requests if r.key == req.key)
        return texts[min(seen, len(texts)) - 1]

    engine = ScriptedEngine(script)
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda b, s: engine)
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run"), "--no-adapter"])
    assert result.exit_code == 0, result.output
    out = read_jsonl(tmp_path / "run" / "outputs.jsonl")[0]
    assert out["fields"]["description"] == ("The Crag Mug weighs 9 oz. It folds flat and packs small, so it rides "
                                            "in a lid.")
    assert out["attempts"]["description"] == 2
    db = sqlite3.connect(tmp_path / "run" / "ledger.sqlite")
    text, findings = db.execute("SELECT text, findings FROM attempts WHERE task = 'description' AND attempt = 1"
                                ).fetchone()
    assert text == answers["description"][0]  # the ledger keeps what the model wrote, slots and all
    assert {"Slot.Unfilled", "Slot.Unslotted"} <= {f["rule"] for f in json.loads(findings)}
    # the slotted task's words: slots, no digits, no material of the brand but the row's own
    words = {parse_key(r)[1]: r.words for r in engine.requests}
    assert NO_DIGITS in words["description"] and "weight" in words["description"]
    assert "aluminum" in words["description"] and "nylon" not in words["description"]
    assert NO_DIGITS not in words["meta_description"] and "nylon" in words["meta_description"]


def test_available_slots_lists_what_the_row_can_fill():
    assert available_slots(ROW) == ["{name}", "{noun}", "{weight}", "{materials}", "{feature:pocket}",
                                    "{feature:pockets}"]
    for slot in available_slots(ROW):  # every slot listed fills
        assert fill_slots(f"It has {slot}.", ROW, VOCAB).unfilled == ()


def test_vulgar_fractions_count_as_numbers():
    assert fill_slots("It weighs ½ lb and 3/4 of that.", ROW, VOCAB).unslotted == ("½", "3/4")


def test_a_row_whose_every_candidate_has_an_unfilled_slot_is_quarantined(tmp_path, monkeypatch):
    """The final record is re-validated with its slots filled; the slot findings still count."""
    from click.testing import CliRunner

    from stylegen.cli import cli

    brand = slotted_brand(tmp_path, max_attempts=2)
    catalog = write_csv(tmp_path / "cat.csv", [product("A", name="Crag Mug")])
    wrong = "The {name} weighs {weight}. Its {feature:lid} folds flat and packs small, so it rides in a lid."

    def script(req):
        task = parse_key(req)[1]
        return {"description": wrong, "meta_description": "A camp piece that folds flat and packs small, 9 oz.",
                "bullets": "- Folds flat\n- Packs small\n- Aluminum, 9 oz"}[task]

    engine = ScriptedEngine(script)
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda b, s: engine)
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run"), "--no-adapter"])
    assert result.exit_code == 0, result.output  # a quarantined row is the night working (no reject-rate cap)
    assert read_jsonl(tmp_path / "run" / "outputs.jsonl") == []
    reject = read_jsonl(tmp_path / "run" / "rejects.jsonl")[0]
    assert "Slot.Unfilled" in reject["reason"]
    assert any(f["rule"] == "Slot.Unfilled" and "{feature:lid}" in f["message"] for f in reject["findings"])


def _spelled(tokenizer, ids) -> set[str]:
    return {tokenizer.decode([i]) for i in ids}


def test_grammar_after_a_brace_allows_only_the_rows_slots(tokenizer):
    from stylegen.generation.slots import SlotGrammar

    grammar = SlotGrammar(tokenizer, ["{name}", "{weight}", "{feature:pocket}"])
    mode, ids = grammar.step(tokenizer("It has a {", add_special_tokens=False)["input_ids"])
    assert mode == "only" and ids
    for text in _spelled(tokenizer, ids):  # every allowed token is on the way to a slot of the row
        assert any(body.startswith(text) or text.startswith(body) for body in ("name}", "weight}", "feature:pocket}"))
    mode, ids = grammar.step(tokenizer("It has a {feature:pocket", add_special_tokens=False)["input_ids"])
    assert mode == "only" and "}" in _spelled(tokenizer, ids) and "s" not in _spelled(tokenizer, ids)


def test_grammar_outside_a_slot_bans_only_stray_braces(tokenizer):
    from stylegen.generation.slots import SlotGrammar

    grammar = SlotGrammar(tokenizer, ["{name}"])
    mode, banned = grammar.step(tokenizer("The {name} keeps", add_special_tokens=False)["input_ids"])
    assert mode == "ban"
    spelled = _spelled(tokenizer, banned)
    assert all("{" in t or "}" in t for t in spelled) and "}" in spelled
    assert " {" not in spelled and "{" not in spelled  # a brace that opens a slot stays writable


class _Only:
    """A grammar that allows one token (to see the sampler apply it)."""

    def __init__(self, token: int):
        self.token, self.seen = token, []

    def step(self, generated):
        self.seen.append(list(generated))
        return "only", frozenset({self.token})


def test_the_engine_holds_a_row_to_its_grammar_and_leaves_its_neighbour_alone(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stylegen.generation.engine import GenRequest, TransformersEngine

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    engine = TransformersEngine(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, batch_size=4,
                                threads=1)
    token = tokenizer(" kettle", add_special_tokens=False)["input_ids"][0]
    grammar = _Only(token)
    plain = GenRequest(prompt="Write about a kettle.", seed=3, max_new_tokens=6, min_new_tokens=6, key="plain")
    held = GenRequest(prompt="Write about a kettle.", seed=3, max_new_tokens=6, min_new_tokens=6, key="held",
                      grammar=grammar)
    alone = engine.generate([plain])[0]
    both = {r.key: r for r in engine.generate([plain, held])}
    assert both["held"].text == tokenizer.decode([token] * 6).strip()
    assert both["plain"].text == alone.text  # the neighbour's grammar does not touch it
    assert grammar.seen[:3] == [[], [token], [token, token]]  # asked with the row's own tokens so far


class _BraceFirst:
    """The real grammar after a forced opening brace (a random model rarely writes one)."""

    def __init__(self, grammar, brace: int):
        self.grammar, self.brace = grammar, brace

    def step(self, generated):
        return ("only", frozenset({self.brace})) if not generated else self.grammar.step(generated)


def test_a_slotted_row_writes_only_its_own_slots(tiny_model_dir):
    """The real grammar on the tiny model: once a brace is open, only the row's slots follow."""
    import re

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stylegen.generation.engine import GenRequest, TransformersEngine
    from stylegen.generation.slots import SlotGrammar

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    engine = TransformersEngine(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, batch_size=8,
                                threads=1)
    slots = ["{name}", "{weight}"]
    brace = tokenizer(" {", add_special_tokens=False)["input_ids"][-1]
    reqs = [GenRequest(prompt="Write.", seed=s, max_new_tokens=16, min_new_tokens=16, temperature=1.5, key=str(s),
                       grammar=_BraceFirst(SlotGrammar(tokenizer, slots), brace)) for s in range(8)]
    for text in (r.text for r in engine.generate(reqs)):
        found = re.findall(r"\{[^{}]*\}", text)
        assert found and all(m in slots for m in found), text
        assert "}" not in re.sub(r"\{(name|weight)\}", "", text), text


def test_grammar_offers_a_feature_slot_once(tokenizer):
    from stylegen.generation.slots import SlotGrammar

    grammar = SlotGrammar(tokenizer, ["{name}", "{feature:pocket}"])
    _, ids = grammar.step(tokenizer("The {feature:pocket} and the {feature:", add_special_tokens=False)["input_ids"])
    assert not any("pocket".startswith(t) and t for t in _spelled(tokenizer, ids))
    _, ids = grammar.step(tokenizer("The {name} and the {", add_special_tokens=False)["input_ids"])
    assert any("name".startswith(t) and t for t in _spelled(tokenizer, ids))  # the name may come again
