"""Copy assembled from the facts: the realizer's exact text, that it says nothing the facts
do not, the engine's scoring of fixed texts, and the run loop (assembled first, model after)."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest
import yaml
from click.testing import CliRunner

from gen_support import good, make_brand, parse_key, product, read_jsonl, write_csv
from stylegen.catalog.rows import short_name
from stylegen.cli import cli
from stylegen.generation import assemble as A
from stylegen.generation.engine import GenRequest, ScriptedEngine, TransformersEngine, complete
from stylegen.generation.run import GenerateOptions, run_generate

POT = {"name": "Flint Pot Set", "category": "Cookware",
       "features": ["lids double as plates", "measuring marks inside", "two nesting pots", "folding handles"],
       "materials": ["18/8 stainless steel"], "weight": "18.4 oz", "capacity": "2.5 L", "colors": ["Fog"],
       "care": "Rinse after use and dry before storing.", "use": "day hikes"}
TENT = {"name": "Cairnfold Tent", "category": "Tents",
        "features": ["mesh inner", "two vestibules", "two doors", "six aluminum stakes"], "weight": "58.0 oz",
        "dimensions": "108 x 60 in floor", "colors": ["Ember", "Slate"], "care": "Dry fully before storing."}
SHIRT = {"name": "Mistral Wind Shirt", "category": "Jackets",
         "features": ["elastic cuffs", "packs into its own pocket", "stuff sack included"]}


def test_feature_phrases_are_classified_for_their_frames():
    kinds = {p.text: p.kind for p in A.classify(["mesh inner", "sip lid", "packs into its own pocket",
                                                  "inflates in 3 breaths", "fits a 100 g fuel canister inside",
                                                  "lids double as plates", "stuff sack included",
                                                  "padded shoulder straps", "Hood collapses into collar",
                                                  "Mesh pockets on sides"])}
    assert kinds == {"mesh inner": "np", "sip lid": "np", "packs into its own pocket": "vp",
                     "inflates in 3 breaths": "vp", "fits a 100 g fuel canister inside": "vp",
                     "lids double as plates": "clause", "stuff sack included": "included",
                     "padded shoulder straps": "np", "hood collapses into collar": "clause",
                     "mesh pockets on sides": "np"}


@pytest.mark.parametrize("np,expected", [
    ("front stretch pocket", "a front stretch pocket"), ("adjustable hood", "an adjustable hood"),
    ("two doors", "two doors"), ("measuring marks inside", "measuring marks inside"),
    ("padded shoulder straps", "padded shoulder straps"), ("USB-C charging", "USB-C charging"), ("reflectivity", "reflectivity"), ("utility pocket", "a utility pocket"),
    ("unlined hood", "an unlined hood"), ("LED backlight", "an LED backlight"), ("USB port", "a USB port"),
    ("UV-blocking visor", "a UV-blocking visor"), ("SPF 50 fabric", "an SPF 50 fabric"),
    ("20 LEDs on a 10 ft cord", "20 LEDs on a 10 ft cord")])
def test_articles(np, expected):
    assert A.with_article(np) == expected


def test_golden_pot_set():
    assert A.assembled_completion(POT, "description", "text", 0) == (
        "The Flint Pot Set holds 2.5 L and weighs 18.4 oz. It has measuring marks inside, two nesting pots and"
        " folding handles. Lids double as plates. It is made with 18/8 stainless steel. It comes in Fog."
        " It is built for day hikes. Rinse after use and dry before storing.")
    assert A.assembled_completion(POT, "description", "text", 1).startswith(
        "At 18.4 oz, the Flint Pot Set holds 2.5 L. You get measuring marks inside")
    assert A.assembled_completion(POT, "meta_description", "text", 0) == (
        "Flint Pot Set: 2.5 L, 18.4 oz, in 18/8 stainless steel, with measuring marks inside, two nesting pots"
        " and folding handles. Built for day hikes.")
    assert A.assembled_completion(POT, "bullets", "list", 0).splitlines() == [
        "- Lids double as plates", "- Measuring marks inside", "- Two nesting pots", "- Has folding handles",
        "- Holds 2.5 L and weighs 18.4 oz"]


def test_a_negative_feature_stands_alone():
    """"It has no moving parts and a simmer ring" reads as having neither."""
    stove = {"name": "Spark Alcohol Stove", "category": "Stoves", "features": ["no moving parts", "simmer ring"],
             "materials": ["brass"], "weight": "2.5 oz"}
    assert A.assembled_completion(stove, "description", "text", 0) == (
        "The Spark Alcohol Stove weighs 2.5 oz. It has a simmer ring. It has no moving parts. It is made with brass.")


def test_golden_tent_and_shirt():
    assert A.assembled_completion(TENT, "description", "text", 0) == (
        "The Cairnfold Tent weighs 58.0 oz. It has a mesh inner, two vestibules, two doors and six aluminum"
        " stakes. The floor measures 108 x 60 in. It comes in Ember and Slate. Dry fully before storing.")
    # short features share a bullet; "Folding handles" alone would be a two-word bullet
    assert A.assembled_completion(TENT, "bullets", "list", 0).splitlines() == [
        "- Six aluminum stakes", "- Mesh inner, two vestibules and two doors", "- Weighs 58.0 oz",
        "- Dry fully before storing"]
    # no weight or capacity: the first sentence still names the product
    assert A.assembled_completion(SHIRT, "description", "text", 0) == (
        "The Mistral Wind Shirt has elastic cuffs. It packs into its own pocket. A stuff sack comes with it.")
    assert A.assembled_completion(SHIRT, "meta_description", "text", 0) == (
        "Mistral Wind Shirt with elastic cuffs and a stuff sack, and it packs into its own pocket.")


# The frames' own words: everything else an assembled text says must come from the facts.
FRAME_WORDS = set("the it has holds and weighs at comes in you get is made with a an of there also measures "
                  "pick from we for built sleeps one capacity to they them have are come".split())


def test_assembled_copy_says_nothing_the_facts_do_not(repo_root, brand):
    from stylegen.catalog.rows import read_catalog

    rows = read_catalog(repo_root / "catalog" / "sample_catalog.csv", brand.catalog).rows[:60]
    for row in rows:
        fact_words = set(re.findall(r"[a-z0-9]+", json.dumps(row.facts, ensure_ascii=False).lower()))
        for task, spec in brand.tasks.items():
            for variant in range(2):
                text = A.assembled_completion(row.facts, task, spec.kind, variant)
                stray = set(re.findall(r"[a-z0-9]+", text.lower())) - fact_words - FRAME_WORDS
                assert not stray, (row.id, task, variant, stray, text)


def test_variants_are_distinct_and_capped():
    texts = A.variants(POT, "description", "text", 6)
    assert len(texts) == len(set(texts)) == 4  # two frame sets, each full and brief: they run out before 6
    assert all("Fog" in t and "day hikes" in t for t in texts[:2])
    assert not any("Fog" in t or "day hikes" in t for t in texts[2:])  # brief: no colours, no use


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="float32")
    return TransformersEngine(model, AutoTokenizer.from_pretrained(tiny_model_dir), batch_size=4, threads=1)


def _direct_logprob(engine, prompt: str, text: str) -> float:
    import torch

    tok = engine.tokenizer
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    t = tok(text, add_special_tokens=False)["input_ids"] + [engine.stop_ids[0]]
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([p + t])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return sum(lp[len(p) - 1 + i, tok_id].item() for i, tok_id in enumerate(t)) / len(t)


def test_score_is_the_mean_logprob_of_the_text_and_ignores_batch_neighbours(engine):
    prompt = engine.render([{"role": "user", "content": "Write the meta description for Flint Pot Set."}])
    texts = ["Flint Pot Set: 2.5 L, 18.4 oz.", "It folds flat.", "A much longer text about nesting pots and lids."]
    reqs = [GenRequest(prompt=prompt, text=t, key=str(i)) for i, t in enumerate(texts)]
    together = engine.score(reqs)
    for req, res in zip(reqs, together):
        alone = engine.score([req])[0]
        assert res.text == req.text and res.new_tokens == 0
        assert res.mean_logprob == pytest.approx(alone.mean_logprob, abs=1e-4)
        assert res.mean_logprob == pytest.approx(_direct_logprob(engine, prompt, req.text), abs=1e-4)


def test_complete_scores_fixed_texts_once_and_generates_the_rest(engine):
    prompt = engine.render([{"role": "user", "content": "Hi"}])
    reqs = [GenRequest(prompt=prompt, text="Same text.", key="a"), GenRequest(prompt=prompt, max_new_tokens=4,
                                                                               key="b", do_sample=False),
            GenRequest(prompt=prompt, text="Same text.", key="c")]
    calls = []
    original = engine.score
    engine.score = lambda rs: calls.append(len(rs)) or original(rs)
    try:
        out = complete(engine, reqs)
    finally:
        del engine.score
    assert calls == [1]  # the duplicate was scored once
    assert [r.key for r in out] == ["a", "b", "c"]
    assert out[0].text == out[2].text == "Same text." and out[0].mean_logprob == out[2].mean_logprob
    assert out[1].new_tokens > 0


def _run(tmp_path, brand, engine, limit=None):
    catalog = write_csv(tmp_path / "cat.csv", [product("A1", features="folds flat;packs small"),
                                               product("A2", features="folds flat;packs small")])
    return run_generate(GenerateOptions(brand=str(brand), catalog=str(catalog), out=str(tmp_path / "run"),
                                        no_adapter=True, progress=False), engine=engine)


def _sources(run):
    db = sqlite3.connect(run / "ledger.sqlite")
    return db.execute("SELECT row_key, task, round, source, errors FROM attempts ORDER BY row_key, task, attempt"
                      ).fetchall()


def test_a_passing_assembled_field_costs_no_model_call(tmp_path):
    brand = make_brand(tmp_path, assemble=["meta_description", "bullets"], candidates=2)
    engine = ScriptedEngine(lambda req: good(parse_key(req)[1]))
    summary = _run(tmp_path, brand, engine)
    assert summary.accepted == 2
    assert {parse_key(r)[1] for r in engine.requests} == {"description"}  # the model wrote only that
    rows = _sources(tmp_path / "run")
    assert {(t, s) for _, t, _, s, _ in rows} == {("description", "model"), ("meta_description", "assembled"),
                                                   ("bullets", "assembled")}
    out = read_jsonl(tmp_path / "run" / "outputs.jsonl")[0]
    assert out["fields"]["meta_description"].startswith("Trail Thing A1: 9 oz, in aluminum")
    assert out["fields"]["bullets"] == ["Folds flat and packs small", "Weighs 9 oz", "Made with aluminum"]


def test_a_failing_assembled_field_gets_its_model_rounds_after(tmp_path):
    brand = make_brand(tmp_path, assemble=["description"], candidates=2, max_attempts=2)
    # a rule the assembled description fails (it states the materials) and the scripted one passes
    rule = {"extends": "pattern", "pattern": r"\bmade with\b", "level": "error", "message": "no '{match}'",
            "fields": ["description"]}
    (tmp_path / "validators" / "T" / "NoMadeWith.yml").write_text(yaml.safe_dump(rule), encoding="utf-8")
    engine = ScriptedEngine(lambda req: good(parse_key(req)[1]))
    summary = _run(tmp_path, brand, engine)
    assert summary.accepted == 2
    desc = [(rnd, src, err) for rid, task, rnd, src, err in _sources(tmp_path / "run")
            if rid == "A1" and task == "description"]
    assert desc[:2] == [(1, "assembled", 1), (1, "assembled", 1)]
    assert [(rnd, src) for rnd, src, _ in desc[2:]] == [(2, "model"), (2, "model")]  # round 2: the model
    out = read_jsonl(tmp_path / "run" / "outputs.jsonl")[0]
    assert out["fields"]["description"] == good("description")
    assert out["best_attempt"]["description"] == 3


def test_assemble_names_tasks_and_is_part_of_the_run_identity(tmp_path):
    brand = make_brand(tmp_path, assemble=["description", "tagline"])
    result = CliRunner().invoke(cli, ["brand", "check", str(brand)])
    assert result.exit_code == 2
    assert "generation.assemble[1]" in result.output and "not a task" in result.output
    from stylegen.generation.settings import IDENTITY_KEYS

    assert "assemble" in IDENTITY_KEYS


def test_long_titles_lose_their_keyword_tail_and_parts_take_an_article():
    long = ("Ridgeline Ultralight Waterproof Roll-Top Daypack With Padded Hip Belt, Hydration Sleeve - Moss / Slate")
    assert short_name(long) == "Ridgeline Ultralight Waterproof Roll-Top Daypack"
    assert short_name("Flint Pot Set") == "Flint Pot Set"
    mug = {"name": "Dawn Mug", "features": ["sip lid"], "materials": ["BPA-free polypropylene lid", "18/8 stainless steel"],
           "capacity": "0.35 L"}
    text = A.assembled_completion(mug, "description", "text", 0)
    assert "It is made with a BPA-free polypropylene lid and 18/8 stainless steel." in text
    assert A.assembled_completion(mug, "meta_description", "text", 0) == (
        "Dawn Mug: 0.35 L, in 18/8 stainless steel, with a sip lid and a BPA-free polypropylene lid.")


def test_plural_product_names_agree():
    lights = {"name": "Glimmer String Lights", "features": ["three brightness levels", "packs flat"],
              "materials": ["silicone-coated wire"], "weight": "2.0 oz"}
    assert A.assembled_completion(lights, "description", "text", 0) == (
        "The Glimmer String Lights weigh 2.0 oz. They have three brightness levels. They pack flat."
        " They are made with silicone-coated wire.")
    assert A.assembled_completion(lights, "meta_description", "text", 0) == (
        "Glimmer String Lights: 2.0 oz, in silicone-coated wire, with three brightness levels, and they pack flat.")
    assert not A.is_plural_name("Flint Pot Set") and not A.is_plural_name("Trail Dress")


def test_with_fallback_none_a_failing_assembled_field_is_quarantined_not_sampled(tmp_path):
    brand = make_brand(tmp_path, assemble=["description"], candidates=2, max_attempts=2, fallback="none")
    rule = {"extends": "pattern", "pattern": r"\bmade with\b", "level": "error", "message": "no '{match}'",
            "fields": ["description"]}
    (tmp_path / "validators" / "T" / "NoMadeWith.yml").write_text(yaml.safe_dump(rule), encoding="utf-8")
    engine = ScriptedEngine(lambda req: good(parse_key(req)[1]))
    summary = _run(tmp_path, brand, engine)
    assert summary.accepted == 0 and summary.rejected == 2
    assert "description" not in {parse_key(r)[1] for r in engine.requests}  # the model never wrote it
    rejects = read_jsonl(tmp_path / "run" / "rejects.jsonl")
    assert all("T.NoMadeWith" in r["reason"] for r in rejects)
    assert {s for _, t, _, s, _ in _sources(tmp_path / "run") if t == "description"} == {"assembled"}


def test_count_nouns_in_ing_take_an_article():
    assert A.with_article("simmer ring") == "a simmer ring"
    assert A.with_article("nonstick ceramic coating") == "a nonstick ceramic coating"
    assert A.with_article("USB-C charging") == "USB-C charging"


def test_the_run_report_says_which_fields_were_assembled(tmp_path):
    brand = make_brand(tmp_path, assemble=["meta_description", "bullets"], candidates=2, fallback="none")
    _run(tmp_path, brand, ScriptedEngine(lambda req: good(parse_key(req)[1])))
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "copy assembled from the facts first for meta_description, bullets (no model rounds after it)" in md


# A shop's details list mixes what the product is, what it is like, its care and its size
# with what it has (a real catalog's shape; the wording here is ours).
SHORT = {"name": "Harbor Trail Short", "category": "Shorts",
         "features": ["Charcoal heather running shorts with reflective trim", "Antimicrobial, quick-drying",
                      "Semi-fitted", "Key loop holds a house key", "7\" inseam. Machine wash/line dry",
                      "88% Polyester / 12% Spandex", "1-year limited warranty"],
         "materials": ["Polyester", "organic Cotton", "Tencel"], "use": ["Running", "Gym", "Warm"]}
TOTE = {"name": "Cove Tote", "features": ["Interior zip pocket", "Strap fits over a coat", "L 16\" x W 5\" x H 13\"",
                                          "Lightweight"], "materials": ["Canvas"]}


def test_a_details_list_is_read_by_what_each_detail_says():
    kinds = {p.core: p.kind for p in A.classify(SHORT["features"] + TOTE["features"] + ["lid", "fully lined",
                                                                                         "selvedge outseam"])}
    assert kinds["machine wash/line dry"] == "care" and kinds['L 16" x W 5" x H 13"'] == "size"
    assert kinds["antimicrobial, quick-drying"] == "adj" and kinds["semi-fitted"] == "adj"
    assert kinds["lightweight"] == "adj" and kinds["fully lined"] == "adj"
    assert kinds["lid"] == "np" and kinds["selvedge outseam"] == "np"  # the tagger's "JJ" is not enough
    assert kinds["the key loop holds a house key"] == "clause" and kinds["the strap fits over a coat"] == "clause"
    assert kinds["88% polyester / 12% spandex"] == "blend"


def test_golden_details_list_of_a_shop_catalog():
    assert A.assembled_completion(SHORT, "description", "text", 0) == (
        "The Harbor Trail Short is a pair of charcoal heather running shorts with reflective trim."
        " It is antimicrobial, quick-drying and semi-fitted. It has a 7\" inseam. The key loop holds a house key."
        " A 1-year limited warranty comes with it. The fabric is 88% polyester / 12% spandex."
        " It is built for running and gym use on warm days. To care for it, machine wash/line dry.")
    assert A.assembled_completion(SHORT, "meta_description", "text", 0) == (
        "Harbor Trail Short in polyester and organic cotton, with a 7\" inseam and a 1-year limited warranty."
        " Built for running and gym use on warm days.")
    assert A.assembled_completion(TOTE, "description", "text", 0) == (
        "The Cove Tote is lightweight. It has an interior zip pocket. The strap fits over a coat."
        " It is made with canvas. It measures L 16\" x W 5\" x H 13\".")


@pytest.mark.parametrize("np, expected", [("1-year limited warranty", "a 1-year limited warranty"),
                                          ("8-gauge knit", "an 8-gauge knit"),
                                          ("75 cm plastic shell", "a 75 cm plastic shell"),
                                          ("8 aluminum stakes", "8 aluminum stakes"),
                                          ("zip pocket at arm for storage", "a zip pocket at arm for storage"),
                                          ("roll sleeves for long or short wear", "roll sleeves for long or short wear")])
def test_articles_read_the_head_before_its_modifier_and_measured_nouns(np, expected):
    assert A.with_article(np) == expected


def test_golden_apparel_fit_origin_sizes_and_labels():
    """A garment's fit, where it is made and its sizes are stated (roles fit, origin, sizes);
    a label is what the product is ("waterproof"), a scheme by its initials is "certified",
    a thing it has keeps "has"; a fit that names no fit is left out."""
    shirt = {"name": "Rigger Merino V-Neck", "features": ["V-neck", "set-in sleeves"],
             "materials": ["100% extrafine merino wool"], "fit": "Relaxed fit, tapered leg", "made_in": "Made in Italy",
             "sizes": ["XS", "S", "M"], "colors": ["Black", "Navy"], "care": "Machine wash cold, dry flat",
             "certifications": ["ZQ merino", "Waterproof", "PFC-free DWR"]}
    assert A.assembled_completion(shirt, "description", "text", 0) == (
        "The Rigger Merino V-Neck has a V-neck and set-in sleeves. It is made with 100% extrafine merino wool."
        " It has a relaxed fit, tapered leg. It is made in Italy. It comes in Black and Navy. The sizes are XS, S"
        " and M. It is ZQ merino certified. It is waterproof. It has a PFC-free DWR. Machine wash cold, dry flat.")
    assert "fit" not in A.assembled_completion(dict(shirt, fit="Hip length"), "description", "text", 0)
    no_sizes, brief = (A.assembled_completion(shirt, "description", "text", v) for v in (2, 3))
    assert "sizes" not in no_sizes and "Black and Navy" in no_sizes  # sizes go first
    assert "sizes" not in brief and "Black" not in brief  # then colours and use


def test_a_thin_rows_bullets_take_its_use_colours_and_size_to_make_a_list():
    bivy = {"name": "Lee Bivy", "features": ["mesh hood", "waterproof floor", "side zipper"], "colors": ["Fog"],
            "use": "thru-hikes", "weight": "17.8 oz"}
    assert A.assembled_completion(bivy, "bullets", "list", 0).splitlines() == [
        "- Mesh hood, waterproof floor and side zipper", "- Weighs 17.8 oz", "- Built for thru-hikes", "- Comes in Fog"]
    assert "Built for" not in A.assembled_completion(POT, "bullets", "list", 0)  # a full list keeps to its facts


def test_a_second_meta_description_names_the_colours_for_a_thin_row():
    pack = {"name": "Scree Pack", "features": ["two side bottle pockets", "roll-top closure"], "capacity": "58 L",
            "colors": ["Rust", "Slate"]}
    assert A.variants(pack, "meta_description", "text", 4) == [
        "Scree Pack: 58 L, with two side bottle pockets and a roll-top closure.",
        "Scree Pack: 58 L, with two side bottle pockets and a roll-top closure. Comes in Rust and Slate."]
    assert A.assembled_completion(POT, "meta_description", "text", 1).endswith("Built for day hikes, in Fog.")
    assert len(A.variants(dict(pack, colors=[]), "meta_description", "text", 4)) == 1  # no colours: one text


def test_colour_choice_reads_as_a_choice():
    """The second colour frame offers a choice ("Pick Pine, Fog and Rust" asked for all three);
    named first it states the colours plainly."""
    sheet = A.fact_sheet({"name": "Tinder Fry Pan", "colors": ["Pine", "Fog", "Rust"]})
    assert A.color_sentence(sheet, 0) == "It comes in Pine, Fog and Rust."
    assert A.color_sentence(sheet, 1) == "Pick from Pine, Fog and Rust."
    assert A.color_sentence(A.fact_sheet({"name": "Mug", "colors": ["Fog"]}), 1) == "It comes in Fog."


@pytest.mark.parametrize("labels,expected", [
    (["Cool", "Rainy"], "It is built for cool and rainy days."),
    (["Athletic", "Sports", "Outdoor", "Gym"], "It is built for athletic, sports, outdoor and gym use."),
    (["Running", "Gym", "Warm"], "It is built for running and gym use on warm days."),
    (["Säntis traverse on a long day"], "It is built for Säntis traverse on a long day.")])
def test_use_labels_read_as_days_or_a_use(labels, expected):
    """Weather and seasons make days, activities a use ("athletic days" read wrong on a real
    brand's night); a use longer than two words stays as given."""
    facts = {"name": "Trail Tee", "use": labels if len(labels) > 1 else labels[0]}
    assert A.use_sentence(A.fact_sheet(facts), 0) == expected

