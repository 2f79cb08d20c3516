"""The per-row lexicon: which words it holds, and that the engine keeps completions to it."""
from __future__ import annotations

import re

import pytest

from stylegen.generation.engine import GenRequest, TransformersEngine, derive_seed
from stylegen.generation.lexicon import build_lexicon, fact_words, LexiconSettings, TokenLexicon, words
from stylegen.generation.pool import fact_precision, quality_score

FACTS = {"name": "Lull Pillow", "category": "Sleep", "features": ["stuff sack included", "brushed face fabric"],
         "materials": ["TPU bladder"], "weight": "3.6 oz"}


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return TransformersEngine(model, tokenizer, batch_size=4, threads=1)


def test_lexicon_holds_facts_category_copy_and_function_words(brand):
    lexicon = build_lexicon(brand)
    allowed = lexicon.words_for(FACTS)
    assert {"lull", "pillow", "tpu", "bladder", "brushed"} <= allowed  # the row's facts
    assert {"the", "and", "your", "'s"} <= allowed  # function words
    assert "sleep" in lexicon.category_words and "pillow" in allowed
    # words of the brand's copy for other kinds of product only, and words no copy uses
    assert not {"forehead", "bristles", "whiskey", "webcam"} & allowed
    cookware = lexicon.words_for({**FACTS, "category": "Cookware"})
    assert cookware != allowed and "lull" in cookware


def test_lexicon_learns_only_the_training_side(brand):
    narrow = build_lexicon(brand, LexiconSettings(min_docs=2, min_categories=10))
    wide = build_lexicon(brand, LexiconSettings(min_docs=1, min_categories=1))
    assert narrow.general < wide.general
    assert len(narrow.words_for(FACTS)) < len(wide.words_for(FACTS))


def test_fact_words_reads_nested_values():
    assert fact_words({"a": ["Two-way zip", None], "b": "3.6 oz", "c": 5}) == {"two", "way", "zip", "oz"}
    assert words("It's a TPU bladder.") == ["it's", "a", "tpu", "bladder"]


def test_token_lexicon_spells_every_form(tokenizer):
    lex = TokenLexicon(tokenizer, [tokenizer.eos_token_id])
    ids = lex.ids(frozenset({"kettle"}))
    for text in ("kettle", " kettle", " Kettle", "KETTLE", " 1.2, ", "\n- "):
        assert set(tokenizer(text, add_special_tokens=False)["input_ids"]) <= ids, text
    assert tokenizer.eos_token_id in ids
    assert not set(tokenizer(" zebra", add_special_tokens=False)["input_ids"]) <= ids


def test_engine_keeps_each_row_to_its_own_words(engine):
    prompt = engine.render([{"role": "user", "content": "Write the product description for Ember Kettle."}])
    allowed = frozenset({"kettle", "pot", "lid"})
    reqs = [GenRequest(prompt=prompt, seed=derive_seed(3, i), max_new_tokens=24, temperature=1.0,
                       key=str(i), words=allowed if i % 2 == 0 else None) for i in range(4)]
    results = engine.generate(reqs)
    restricted = "".join(r.text for req, r in zip(reqs, results) if req.words is not None).lower()
    letters = set(re.sub("[^a-z]", "", restricted))
    assert letters and letters <= set("kettlepotlid"), restricted  # spelled from the words' tokens only
    free = "".join(r.text for req, r in zip(reqs, results) if req.words is None).lower()
    assert set(re.sub("[^a-z]", "", free)) - set("kettlepotlid")  # the other rows still write freely


def test_restricted_row_matches_itself_in_any_batch(engine):
    prompt = engine.render([{"role": "user", "content": "Name: Tarn Pot\nWeight: 4.6 oz"}])
    req = GenRequest(prompt=prompt, seed=11, max_new_tokens=16, temperature=0.9, key="a",
                     words=frozenset({"tarn", "pot", "weighs"}))
    other = GenRequest(prompt=engine.render([{"role": "user", "content": "Hi"}]), seed=5, max_new_tokens=20, key="b")
    alone = engine.generate([req])[0].text
    assert engine.generate([other, req, other])[1].text == alone


def test_fact_precision_prefers_copy_made_of_the_facts():
    faithful = "The Lull Pillow has a brushed face fabric and a TPU bladder. It weighs 3.6 oz."
    invented = "The Lull Pillow has bristles on its forehead and keeps your feet cool."
    assert fact_precision(faithful, FACTS) > 0.8  # "weighs" is the one word not in the facts
    assert fact_precision(invented, FACTS) < 0.5
    assert quality_score(faithful, FACTS, -1.0) > quality_score(invented, FACTS, -1.0)
    assert fact_precision("", FACTS) == 0.0


def test_generate_with_a_lexicon_needs_approved_copy(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from gen_support import make_brand, product, write_csv
    from stylegen.cli import cli
    from stylegen.generation.engine import ScriptedEngine

    brand = make_brand(tmp_path, lexicon="category")  # the copy has no training_data/ beside it
    catalog = write_csv(tmp_path / "cat.csv", [product("A")])
    engine = ScriptedEngine(lambda req: "unused")
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda brand, settings: engine)
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "training data" in result.output and "approved" in result.output
    assert engine.requests == [] and not (tmp_path / "run" / "outputs.jsonl").exists()


def test_no_digits_marker_takes_the_digits_away(tokenizer):
    """A slotted completion's word set (generation.slots) spells no number outside a slot."""
    from stylegen.generation.lexicon import NO_DIGITS

    lex = TokenLexicon(tokenizer, [tokenizer.eos_token_id])
    digits = set(tokenizer(" 12 oz", add_special_tokens=False)["input_ids"]) - set(lex.ids(frozenset({"oz"})))
    assert not digits  # digits are always writable ...
    numberless = lex.ids(frozenset({"oz", NO_DIGITS}))
    # ... unless the set says otherwise ("½" may be spelled in byte tokens: the fill rejects it)
    for number in ("12", " 3"):
        assert not set(tokenizer(number, add_special_tokens=False)["input_ids"]) <= numberless, number
    assert set(tokenizer("{weight}", add_special_tokens=False)["input_ids"]) <= lex.ids(frozenset({"weight",
                                                                                                   NO_DIGITS}))
