"""The built-in Sense suite: what init does with a rule that flags the brand's own copy,
and the name check's false classes on real copy (inflected and trademarked name words)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from stylegen.cli import cli

ROOT = Path(__file__).resolve().parent.parent
# Nouns no other record and no fact uses: four in every text make each one off-topic copy.
ODD = """walrus pelican saxophone volcano pyramid lobster glacier trombone jellyfish cathedral harpoon meteor
accordion iguana lighthouse submarine tornado banjo chandelier flamingo zeppelin mammoth tuba octopus
giraffe cactus violin asteroid penguin carousel dinosaur kangaroo telescope tractor hamster pagoda
tambourine gorilla waterfall parrot bulldozer harmonica lantern camel sombrero trumpet mosquito
scarecrow cello windmill buffalo igloo orchestra vulture tiara bagpipe raccoon caravan peacock
racetrack crocodile xylophone skyscraper hedgehog periscope pineapple rhinoceros toboggan cobra
mandolin catapult hippo llama satellite ostrich pelvis""".split()


def _odd_corpus(path: Path, rows: int = 19) -> Path:
    """Mugs whose descriptions each name four nouns nothing else in the corpus uses."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "title", "department", "details", "description"])
        for i in range(rows):
            odd = ODD[4 * i:4 * i + 4]
            writer.writerow([f"M-{i}", f"Harbor Mug {i}", "Mugs", "Double-wall steel;Press-fit lid",
                             f"The Harbor Mug {i} keeps coffee hot with a double-wall steel body and a press-fit lid. "
                             f"It sits by the {odd[0]} and the {odd[1]}, near a {odd[2]} and a {odd[3]}."])
    return path


def test_init_loosens_then_sets_to_warning_a_sense_rule_over_the_bound(tmp_path):
    kit = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(_odd_corpus(tmp_path / "a.csv")),
                                      "--id-field", "sku", "--name", "Harbor"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "drafted: Sense.OffTopic: flags " in x)
    assert "after loosening validators/Sense/OffTopic.yml" in line and line.endswith("bound: set to warning")
    brand = yaml.safe_load((kit / "brand.yaml").read_text(encoding="utf-8"))
    assert brand["validators"]["levels"]["Sense.OffTopic"] == "warning"
    loosened = yaml.safe_load((kit / "validators" / "Sense" / "OffTopic.yml").read_text(encoding="utf-8"))
    assert (loosened["max_share"], loosened["max_allowed"]) == (0.2, 3)
    check = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert "Sense.OffTopic" in check.output and "warning (brand override of error)" in check.output
    kept = next(x for x in result.output.splitlines() if "drafted: Sense.UnitSense: flags " in x)
    assert kept.endswith(", error")  # a rule within the bound stays an error


def test_name_words_inflected_or_trademarked_are_no_misspelling(tmp_path):
    facts = {"name": "Rinse Strength Pillow", "category": "Sleep", "features": ["LumaTech fabric"]}
    texts = ["Rinsed twice, the Rinse Strength Pillow keeps its loft.",
             "Rinse Strength™ fill keeps its loft.",
             "The Rinse Stength Pillow keeps its loft."]
    path = tmp_path / "names.jsonl"
    path.write_text("".join(json.dumps({"id": f"N-{i}", "facts": facts, "description": t}) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--brand", str(ROOT / "brand"), "--suite", "Sense",
                                      "--format", "json", str(path)])
    found = [(f["id"], f["match"]) for f in json.loads(result.output)["findings"] if f["rule"] == "Sense.NameSpelling"]
    assert found == [("N-2", "Stength")]
