"""The brand phrasebook (issue 21, approach 1): mining, the file, composing, agreement, reloading."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.errors import DataError
from stylegen.generation.phrasebook import (agree, brand_compositions, brand_sheet, compose, compositions, Frame, fill, mine,
                                            read_phrasebook, slot_values)
from stylegen.generation.assemble import fact_sheet
from stylegen.validation.corpus import held_out_ids
from stylegen.validation.records import Record

ROOT = Path(__file__).resolve().parent.parent

DAYPACK = {"id": "T-1", "facts": {
    "name": "Bothy 22 Daypack", "category": "Packs", "features": ["Zippered lid pocket", "Two side stretch pockets"],
    "materials": ["ripstop nylon"], "weight": "1 lb 2 oz", "capacity": "22 L"},
    "description": "You pack a lunch and a spare layer, and the Bothy 22 takes all of it. Small things go in the "
                   "zippered lid pocket, where you can find them without unpacking. Two stretch pockets on the sides "
                   "hold bottles. The shell is ripstop nylon, and the whole pack weighs 1 lb 2 oz. It carries a day "
                   "well and asks for nothing back."}
KETTLE = {"id": "T-2", "facts": {
    "name": "Ember 1.2 L Kettle", "category": "Cookware", "features": ["Folding handle with silicone sleeve"],
    "materials": ["hard-anodized aluminum", "silicone"], "weight": "9.8 oz", "capacity": "1.2 L"},
    "description": "Water for the whole camp at once. The Ember holds 1.2 L, enough for 3 cups. The handle folds "
                   "flat and wears a silicone sleeve. Wash it by hand. The kettle weighs 9.8 oz."}

# What mining the two records gives: (record, scope, place, frame) and (record, reason) of the kept-out.
MINED_FRAMES = [
    ("T-1", "Packs", "opener", "You pack a lunch and a spare layer, and the {name} takes all of it."),
    ("T-1", "Packs", "fact", "Small things go in the {feature:pocket}, where you can find them without unpacking."),
    ("T-1", "Packs", "fact", "The shell is {materials}, and the whole pack weighs {weight}."),
    ("T-1", "Packs", "closer", "It carries a day well and asks for nothing back."),
    ("T-2", "Cookware", "opener", "Water for the whole camp at once."),
    ("T-2", "Cookware", "fact", "The {noun} weighs {weight}."),
]
MINED_EXCLUDED = [
    ("T-1", "number word outside a slot: two"),
    ("T-2", "number outside a slot: 3"),
    ("T-2", "article before the materials"),
    ("T-2", "care word outside a slot: wash"),
]

BOOK = """#stated\tweight\t0.60
#stated\tcolors\t0.00
T-1\tPacks\topener\t0.00\tYou pack a lunch and a spare layer, and the {name} takes all of it.
T-1\tPacks\tfact\t0.25\tSmall things go in the {feature:pocket}, where you can find them without unpacking.
T-1\tPacks\tfact\t0.75\tThe shell is {materials}, and the whole {noun} weighs {weight}.
T-9\tPacks\tfact\t0.50\t{capacity} of room goes a long way.
T-1\tPacks\tcloser\t1.00\tIt carries a day well and asks for nothing back.
"""
ROW = {"name": "Scree Daypack", "category": "Packs", "features": ["front stretch pocket", "padded shoulder straps"],
       "materials": ["recycled polyester"], "weight": "15.8 oz", "colors": ["Moss"]}


def records(*rows):
    return [Record(id=r["id"], fields={"description": r["description"]}, facts=r["facts"]) for r in rows]


def test_mined_frames_slots_and_kept_out_sentences_with_reasons():
    book = mine(records(DAYPACK, KETTLE))
    assert [(f.record, f.scope, f.place, f.text) for f in book.frames] == MINED_FRAMES
    assert [(e.record, e.reason) for e in book.excluded] == MINED_EXCLUDED
    assert book.stated["capacity"] == 0.5  # "22 L" is not said; "1.2 L" is


def test_composition_of_a_row_exact_text(tmp_path):
    book = read_phrasebook(_write(tmp_path, BOOK))
    assert compose(book, ROW, 0) == (
        "You pack a lunch and a spare layer, and the Scree Daypack takes all of it. "
        "Small things go in the front stretch pocket, where you can find them without unpacking. "
        "It has padded shoulder straps. "
        "It comes in Moss. "  # the details sit where the brand states dimensions (0.7, no frame here)
        "The shell is recycled polyester, and the whole daypack weighs 15.8 oz. "
        "It carries a day well and asks for nothing back.")


def test_kinds_the_brand_does_not_state_are_left_out_above_the_floor(tmp_path):
    book = read_phrasebook(_write(tmp_path, BOOK))
    sheet = brand_sheet(fact_sheet(ROW), book, floor=0.1)  # colours: stated 0.00
    assert "colors" not in sheet.lists and sheet.values["weight"] == "15.8 oz"


def test_a_frame_with_a_slot_the_row_cannot_fill_is_never_used(tmp_path):
    book = read_phrasebook(_write(tmp_path, BOOK))
    frame = next(f for f in book.frames if f.text.startswith("{capacity}"))
    assert fill(frame, slot_values(ROW, fact_sheet(ROW))) is None
    texts = compositions(book, ROW, 8)
    assert texts and not any("of room goes" in t for t in texts)
    with_capacity = {**ROW, "capacity": "22 L"}  # the same frame, once the row has the fact
    assert any("22 L of room goes a long way." in t for t in compositions(book, with_capacity, 8))


def test_agreement_articles_and_plural_names():
    sheet_row = {"name": "Trail Gloves", "category": "Gloves", "features": ["insulated lid", "two hand pockets"],
                 "weight": "3 oz"}
    row = slot_values(sheet_row, fact_sheet(sheet_row))
    frame = Frame("T", "*", "fact", 0.5, "It has a {feature:lid}, and its {feature:pockets} sit high. It weighs {weight}.")
    text, keys = fill(frame, row)
    assert text == "They have an insulated lid, and their two hand pockets sit high. They weigh 3 oz."
    assert keys == {"feature:0", "feature:1", "weight"}
    assert agree("A {x} and an item.".replace("{x}", "oval lid"), False) == "An oval lid and an item."
    assert agree("It has a two hand pockets.", False) == "It has two hand pockets."
    assert agree("It nests over a 110 g canister.", False) == "It nests over a 110 g canister."


def test_singular_and_plural_feature_slots_do_not_mix():
    row_facts = {"name": "Scree Pack", "category": "Packs", "features": ["side pocket"]}
    row = slot_values(row_facts, fact_sheet(row_facts))
    assert fill(Frame("T", "*", "fact", 0.5, "The {feature:pockets} hold bottles."), row) is None
    assert fill(Frame("T", "*", "fact", 0.5, "The {feature:pocket} holds a bottle."), row)[0] == \
        "The side pocket holds a bottle."
    assert fill(Frame("T", "Tents", "fact", 0.5, "The {feature:pocket} holds a bottle."), row) is None  # scope


def test_phrasebook_reloads_after_a_person_edits_it(tmp_path):
    path = _write(tmp_path, BOOK)
    before = brand_compositions(path, ROW, 2)
    assert all("Small things go in the front stretch pocket" in t for t in before)
    edited = path.read_text().replace("Small things go in the {feature:pocket}, where you can find them without "
                                      "unpacking.", "Keys and a map ride in the {feature:pocket}.")
    path.write_text(edited)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = brand_compositions(path, ROW, 2)
    assert all("Keys and a map ride in the front stretch pocket." in t for t in after)
    assert not any("Small things" in t for t in after)


def test_cli_builds_the_phrasebook_into_the_kit(tmp_path):
    kit = tmp_path / "brand"
    shutil.copytree(ROOT / "brand", kit)
    data = tmp_path / "approved.jsonl"
    held = next(f"H-{n}" for n in range(100) if held_out_ids(["T-1", "T-2", f"H-{n}"], 0.01) == {f"H-{n}"})
    held_record = {**DAYPACK, "id": held, "description": "Held out: never mined."}
    data.write_text("".join(json.dumps(r) + "\n" for r in (DAYPACK, KETTLE, held_record)))
    conf = yaml.safe_load((kit / "brand.yaml").read_text())
    conf["training"]["data"] = str(data)
    conf["training"]["eval_fraction"] = 0.01
    conf["model"].pop("adapter", None)
    conf["validators"]["path"] = str(ROOT / "validators")
    (kit / "brand.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
    (kit / "phrasebook.tsv").unlink(missing_ok=True)
    result = CliRunner().invoke(cli, ["phrasebook", "build", "--brand", str(kit)])
    assert result.exit_code == 0, result.output
    assert "6 frames (3 fact, 2 openers, 1 closers); 4 sentences kept out" in result.output
    lines = (kit / "phrasebook.tsv").read_text().splitlines()
    assert "T-1\tPacks\tfact\t0.25\tSmall things go in the {feature:pocket}, where you can find them without " \
           "unpacking." in lines
    assert "#x\tT-2\tnumber outside a slot: 3\tThe Ember holds 1.2 L, enough for 3 cups." in lines


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "phrasebook.tsv"
    path.write_text(text)
    return path


def test_compose_setting_alternates_compositions_with_the_plain_frames(tmp_path):
    from stylegen.catalog.rows import CatalogRow
    from stylegen.generation.assemble import variants
    from stylegen.generation.lanes import RunInputs
    from stylegen.generation.settings import GenerateOptions, run_settings
    from stylegen.kit.brand import load_brand

    kit = tmp_path / "brand"
    shutil.copytree(ROOT / "brand", kit)
    (kit / "phrasebook.tsv").write_text(BOOK)
    conf = yaml.safe_load((kit / "brand.yaml").read_text())
    for key, rel in (("training", "data"), ("validators", "path"), ("model", "adapter")):
        conf[key][rel] = str((ROOT / "brand" / conf[key][rel]).resolve())
    conf["generation"]["compose"] = ["description"]
    (kit / "brand.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
    brand = load_brand(kit)
    inputs = RunInputs(brand, run_settings(brand, GenerateOptions(brand=str(kit), catalog="c.csv")), [])
    row = CatalogRow(id="R-1", facts=ROW, line=2)
    texts = inputs.assembled_texts(row, "description")
    plain = variants(ROW, "description", "text", brand.generation.candidates, cadence=inputs.cadence("description"))
    assert texts[0].startswith("You pack a lunch and a spare layer, and the Scree Daypack takes all of it.")
    assert texts[1] == plain[0]  # compositions and frames alternate: a round takes both
    assert [t for t in texts if t in plain] == plain  # the frames stay in the list: nothing gets worse
    assert inputs.assembled_texts(row, "meta_description") == variants(ROW, "meta_description", "text",
                                                                       brand.generation.candidates)


def test_a_bad_line_in_an_edited_phrasebook_is_an_error_naming_file_and_line(tmp_path):
    path = _write(tmp_path, BOOK + "T-1\tPacks\tfact\tsoon\tIt weighs {weight}.\n"
                  + "T-1\tPacks\tmiddle\t0.5\tIt weighs {weight}.\nT-1\tPacks\tfact\t0.5\tIt holds {volume}.\n")
    with pytest.raises(DataError) as err:
        read_phrasebook(path)
    assert f"{path}:8: position 'soon' is not a number" in str(err.value)
    assert f"{path}:9: place 'middle' is not one of opener, fact, closer" in str(err.value)
    assert f"{path}:10: unknown slot {{volume}}" in str(err.value)
    result = CliRunner().invoke(cli, ["phrasebook", "build", "--brand", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
