"""The brand's cadence (its fact order, second person and sentence length, measured on its
approved copy) and assembled descriptions shaped by it (issue 21: order, rhythm, person)."""
from __future__ import annotations

import yaml
from click.testing import CliRunner

from gen_support import make_brand, product, read_jsonl, ROOT, write_csv
from stylegen.cli import cli
from stylegen.generation import assemble as A
from stylegen.generation.engine import ScriptedEngine
from stylegen.generation.run import GenerateOptions, run_generate
from stylegen.generation.settings import IDENTITY_KEYS
from stylegen.kit.brand import load_brand
from stylegen.validation.cadence import brand_cadences, Cadence, measure
from test_assemble import POT, TENT

# A brand that says what a product is for first, its materials early and its weight late,
# talks to its reader, and writes 11-word sentences, 3 to 6 a text.
BRANDLIKE = Cadence(texts=40, you=0.3, words=(5, 11, 20), per_text=(3, 5, 6),
                    order=(("use", 0.2), ("materials", 0.3), ("features", 0.4), ("capacity", 0.5), ("weight", 0.8)))


def _texts() -> list[tuple[str, dict]]:
    facts = {"name": "Ash Mug", "weight": "9 oz", "materials": ["steel"], "use": "camp mornings"}
    first = ("Camp mornings start with the Ash Mug. You pour, it keeps the heat. It is steel all through."
             " It weighs 9 oz.")
    second = "The Ash Mug is steel. It weighs 9 oz, light enough for your pack."
    return [(first, facts)] * 6 + [(second, facts)] * 6


def test_measure_reads_person_sentence_length_and_the_order_of_facts():
    cadence = measure(_texts())
    assert cadence.texts == 12
    assert cadence.you == round(12 / 36, 3)  # "You pour" in 6 texts of 4 sentences, "your pack" in 6 of 2
    assert cadence.words == (4, 6, 9) and cadence.per_text == (2, 4, 4)
    order = dict(cadence.order)
    assert order["use"] < order["materials"] < order["weight"]  # found as written, first mention
    assert "capacity" not in order  # not stated: keeps its plain place
    assert cadence.position("capacity", 0.1) == 0.1


def test_too_few_texts_give_no_cadence():
    assert measure(_texts()[:9]) is None
    assert measure([("", None)] * 20) is None


def test_golden_description_in_the_brands_cadence():
    sheet = A.fact_sheet(POT)
    assert A.description(sheet, 0, BRANDLIKE) == (
        "The Flint Pot Set is built for day hikes and is made with 18/8 stainless steel. You get measuring marks"
        " inside, two nesting pots and folding handles. Lids double as plates. It holds 2.5 L and comes in Fog."
        " It weighs 18.4 oz. Rinse after use and dry before storing.")
    assert A.description(sheet, 1, BRANDLIKE).startswith("We made the Flint Pot Set for day hikes. The set is made")
    # without the cadence: today's frames, numbers first
    assert A.description(sheet, 0).startswith("The Flint Pot Set holds 2.5 L and weighs 18.4 oz. It has")


def test_joins_stay_with_the_product_and_keep_the_brands_number_of_sentences():
    text = A.description(A.fact_sheet(TENT), 0, BRANDLIKE)
    assert text == ("The Cairnfold Tent comes with a mesh inner, two vestibules, two doors and six aluminum stakes."
                    " The floor measures 108 x 60 in. It comes in Ember and Slate, and it weighs 58.0 oz."
                    " Dry fully before storing.")
    # "The floor measures ..." takes no "and it": "it" would be the floor
    assert "in, and" not in text and "in and" not in text
    five = Cadence(40, 0.3, (5, 11, 20), (5, 5, 6), BRANDLIKE.order)
    assert len(A.description(A.fact_sheet(TENT), 0, five).split(". ")) == 5  # no join below 5 sentences


def test_joined_sentences_agree_with_a_plural_name():
    lights = {"name": "Glimmer String Lights", "features": ["three brightness levels", "packs flat"],
              "materials": ["silicone-coated wire"], "weight": "2.0 oz", "colors": ["Warm", "Cool"], "use": "patios"}
    assert A.description(A.fact_sheet(lights), 0, BRANDLIKE) == (
        "The Glimmer String Lights are built for patios and are made with silicone-coated wire. You get three"
        " brightness levels. They pack flat and come in Warm and Cool. They weigh 2.0 oz.")


def test_care_never_opens_a_description():
    care_first = Cadence(40, 0.0, (5, 11, 20), (3, 5, 6), (("care", 0.0), ("certifications", 0.01)))
    text = A.description(A.fact_sheet(POT), 0, care_first)
    assert text.startswith("The Flint Pot Set holds 2.5 L") and text.endswith("Rinse after use and dry before storing.")
    assert "It has measuring marks" in text  # a brand that does not say "you": the plain frame


def test_the_sample_brands_cadence_puts_weight_late_and_talks_to_the_reader():
    brand = load_brand(ROOT / "brand")
    cadence = brand_cadences(brand, ["description"])["description"]
    assert brand_cadences(brand, ["description"], "plain") == {"description": None}
    assert cadence.you >= A.YOU_SHARE and cadence.words[1] > 8
    assert cadence.position("weight", 0) > cadence.position("features", 1)


def test_cadence_is_checked_and_part_of_the_run_identity(tmp_path):
    brand = make_brand(tmp_path, cadence="loud")
    result = CliRunner().invoke(cli, ["brand", "check", str(brand)])
    assert result.exit_code == 2 and "generation.cadence" in result.output
    assert "cadence" in IDENTITY_KEYS


def _night(tmp_path, cadence: str) -> str:
    brand = make_brand(tmp_path / cadence, assemble=["description", "meta_description", "bullets"],
                       fallback="none", cadence=cadence)
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["training"]["data"] = str(ROOT / "training_data" / "approved")  # the sample brand's approved copy
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    catalog = write_csv(tmp_path / cadence / "c.csv", [product("A1", name="Flint Pot Set", category="Cookware",
                                                                features="two nesting pots; folding handles",
                                                                materials="stainless steel", weight="18.4 oz",
                                                                capacity="2.5 L", use="day hikes")])
    out = tmp_path / cadence / "run"
    run_generate(GenerateOptions(brand=str(brand), catalog=str(catalog), out=str(out)),
                 engine=ScriptedEngine(lambda req: ""))
    return read_jsonl(out / "outputs.jsonl")[0]["fields"]["description"]


def test_a_night_writes_in_the_brands_cadence_unless_told_plain(tmp_path):
    shaped, plain = _night(tmp_path, "brand"), _night(tmp_path, "plain")
    assert plain.startswith("The Flint Pot Set holds 2.5 L and weighs 18.4 oz.")
    assert "You get two nesting pots and folding handles" in shaped
    assert shaped.index("18.4 oz") > shaped.index("stainless steel")  # the brand states weight late


def test_what_the_product_is_opens_and_stands_alone():
    sweatshirt = {"name": "Mach Street Sweatshirt", "features": ["Navy heather crewneck sweatshirt", "zip hand pockets"],
                  "materials": ["wool"], "colors": ["Black", "Blue"], "use": "cool days"}
    text = A.description(A.fact_sheet(sweatshirt), 0, BRANDLIKE)
    # first whatever the brand's order, and never joined: a fix that drops it drops nothing else
    assert text.startswith("The Mach Street Sweatshirt is a navy heather crewneck sweatshirt. It is built for")


def test_a_part_of_the_product_opening_takes_its_name():
    strap = {"name": "Sprite Yoga Strap", "features": ["100% cotton"], "weight": "3 oz"}
    late = Cadence(40, 0.3, (5, 11, 20), (3, 5, 6), (("weight", 0.9),))
    assert A.description(A.fact_sheet(strap), 0, late).startswith("The Sprite Yoga Strap's fabric is 100% cotton.")


def test_a_list_in_the_first_sentence_takes_and_it_not_a_bare_and():
    sheet = A.fact_sheet({"name": "Tack Chino", "fit": "Relaxed fit, tapered leg", "made_in": "Portugal"})
    parts = ["It has a relaxed fit, tapered leg.", "It is made in Portugal.", "It weighs 9 oz.",
             "The floor measures 3 x 4 in.", "It comes in Navy."]
    assert A.flow(parts, BRANDLIKE, sheet) == [
        "It has a relaxed fit, tapered leg, and it is made in Portugal.",  # not "tapered leg and is made"
        "It weighs 9 oz.", "The floor measures 3 x 4 in.", "It comes in Navy."]  # a part's sentence takes no "it"
