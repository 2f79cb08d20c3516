"""`stylegen init` drafts `voice:` from the corpus: measured traits, each with its figure (issue 22 item 6).

The corpus is twelve hand-written records whose traits are known by construction: the
expected figures below are counted by hand in the comments, not read back from the code.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from stylegen.cli import cli

# Two sentences each. "you"/"your" sentences: A's first (6), B's second (3), C's second (3)
# = 12 of 24 (50%). Openers: A the reader (6 of 12), C a question (3), B the product's name (3; ties
# in the order questions, commands, names, "you").
# Words a sentence: A 11 and 6, B 6 and 7, C 3 and 8: 10th percentile 3, median 7, 90th 11.
A = "You reach for it first thing, gloriously warm in the hand. It holds 12 oz of tea."
B = "The Pebble Mug is gloriously simple. Your tea stays hot for an hour."
C = "Cold coffee again? This mug keeps it gloriously hot for you."
TEXTS = [A] * 6 + [B] * 3 + [C] * 3


def _corpus(path: Path, texts: list[str]) -> Path:
    """One mug a row; each its own colour, so no two rows are the same record (init drops repeats)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "title", "description", "capacity", "color"])
        writer.writerows([f"M-{i}", "Pebble Mug", text, "12 oz", f"Glaze {i}"] for i, text in enumerate(texts))
    return path


def _voice_lines(kit: Path) -> list[str]:
    return yaml.safe_load((kit / "brand.yaml").read_text(encoding="utf-8"))["voice"].splitlines()


def test_init_drafts_the_measured_voice(tmp_path):
    kit = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(_corpus(tmp_path / "a.csv", TEXTS)),
                                      "--id-field", "sku", "--name", "Pebble"])
    assert result.exit_code == 0, result.output
    assert "voice: 5 measured trait(s) of 12 description texts" in result.output
    lines = _voice_lines(kit)
    assert lines[0] == 'Second person: 50% of sentences say "you" or "your"; "we"/"our" 0%, "I"/"my" 0%.'
    assert lines[1] == "Sentences: 7 words at the median (3-11 for the middle 80%), 2 a description (2-2)."
    assert lines[2] == ('Opens with the reader ("you") 50%, a question to the reader 25%, the product\'s name 25%'
                        " (first sentences of 12 descriptions).")
    favoured = lines[3]
    # in every text and never in the reference; ranked by z-score, which is cautious about words the
    # reference lacks (their variance is large), so it need not come first
    assert favoured.startswith("Favours: ") and "gloriously (12)" in favoured
    assert favoured.endswith("(in how many of its 12 copy texts).")
    assert "pebble" not in favoured.lower() and "mug" not in favoured.lower()  # product names are no voice
    never = re.findall(r'"([^"]+)"', lines[4])
    corpus_words = set(re.findall(r"[a-z']+", " ".join(TEXTS).lower()))
    assert lines[4].startswith("Never uses:") and never and not set(never) & corpus_words
    assert "# voice: measured on 12 approved description texts (24 sentences)" in (kit / "brand.yaml").read_text()


def test_drafted_voice_is_what_the_prompt_only_arm_reads_and_a_person_may_edit(tmp_path):
    from stylegen.evaluation.evaluate import prompt_only_system
    from stylegen.kit.brand import load_brand

    kit = tmp_path / "kit"
    CliRunner().invoke(cli, ["init", str(kit), "--from", str(_corpus(tmp_path / "a.csv", TEXTS)),
                             "--id-field", "sku", "--name", "Pebble"])
    system = prompt_only_system(load_brand(kit))
    assert 'Voice: Second person: 50% of sentences say "you" or "your"' in system
    brand_yaml = kit / "brand.yaml"
    text = brand_yaml.read_text(encoding="utf-8")
    brand_yaml.write_text(text.replace("  Second person: 50%", "  Warm and a little dry. Second person: 50%"),
                          encoding="utf-8")
    check = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert check.exit_code == 0, check.output
    assert "Voice: Warm and a little dry. Second person: 50%" in prompt_only_system(load_brand(kit))


def test_too_few_texts_keep_the_placeholder(tmp_path):
    kit = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(_corpus(tmp_path / "a.csv", TEXTS[:9])),
                                      "--id-field", "sku", "--name", "Pebble"])
    assert result.exit_code == 0, result.output
    assert "voice: a placeholder (too few texts to measure)" in result.output
    assert _voice_lines(kit) == ["Describe the brand's voice in a sentence or two."]
