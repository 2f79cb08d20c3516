"""The ``name`` check type: near-miss spellings of the product's own name."""
from __future__ import annotations

from types import SimpleNamespace

from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.validation.checks.name import misspellings, name_words

OPTIONS = SimpleNamespace(case=False, max_edits=2)


def _found(text: str, name: str) -> list[str]:
    return [f"{text[s:e]}->{w}" for s, e, w in misspellings(text, name_words({"name": name}), OPTIONS)]


def test_near_misses_splits_and_joins_are_found_and_real_words_are_not():
    assert _found("The Nightjer inflates fast.", "Nightjar Pillow") == ["Nightjer->Nightjar"]
    assert _found("Pitch the Cairn fold in minutes.", "Cairnfold Tent") == ["Cairn fold->Cairnfold"]
    assert _found("A mesh Screen and the Scree itself.", "Scree Daypack") == []  # dictionary word, exact name
    assert _found("Two Nightjars fit in one sack.", "Nightjar Pillow") == []  # a plural is the name
    assert _found("The Tent stands alone.", "Talus 2 Tent") == []  # the kind word is not checked
    assert name_words({"name": "Ember 1.2 L Kettle"}) == ["Ember"]


def test_max_edits_out_of_range_is_a_config_error(tmp_path):
    import shutil

    from stylegen.validation.suites import BUILTIN_DIR

    kit = tmp_path / "kit"
    shutil.copytree("brand", kit / "brand")
    shutil.copytree("validators", kit / "validators")
    shutil.copytree("training_data", kit / "training_data")
    rule = kit / "validators" / "Sense" / "NameSpelling.yml"  # overrides the built-in rule
    rule.write_text((BUILTIN_DIR / "Sense" / "NameSpelling.yml").read_text() + "max_edits: 3\n")
    result = CliRunner().invoke(cli, ["brand", "check", str(kit / "brand")])
    assert result.exit_code == 2 and "NameSpelling.yml" in result.output and "max_edits" in result.output
