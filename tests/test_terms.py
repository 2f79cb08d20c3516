"""The ``brand.claims`` term source: the parsed claim vocabulary's spellings, never raw lines."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from stylegen.cli import cli
from stylegen.kit.brand import load_brand
from stylegen.validation.terms import BRAND_SOURCES
from stylegen.validation.grounding import as_claim_terms, brand_claim_terms, ClaimTerm
from kit_support import copy_validators

ROOT = Path(__file__).resolve().parent.parent
RULE = """extends: existence
level: warning
tokens: brand.claims
message: "claim word '{match}'"
"""


@pytest.fixture
def kit(tmp_path) -> Path:
    """brand/ and validators/ side by side, plus a rule listing brand.claims terms."""
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    (tmp_path / "validators" / "KettleCairn" / "ClaimWords.yml").write_text(RULE, encoding="utf-8")
    return tmp_path


def test_brand_claims_are_the_forms_of_the_parsed_vocabulary():
    brand = load_brand(ROOT / "brand")
    terms = BRAND_SOURCES["brand.claims"](brand)
    assert list(terms) == list(dict.fromkeys(f for term in brand_claim_terms(brand) for f in term.forms))
    assert {"titanium", "recycled polyester", "water-resistant", "YKK zipper"} <= set(terms)
    assert not [t for t in terms if ":" in t or "|" in t or "<=" in t]  # no raw claims.txt line
    assert "waterproof-breathable" not in terms  # a supporter, not a claim spelling


def test_a_rule_on_brand_claims_finds_claim_words_in_copy(kit):
    (kit / "copy.txt").write_text("A titanium pot with a water resistant lid.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(kit / "copy.txt"), "--brand", str(kit / "brand"),
                                      "--suite", "KettleCairn", "--format", "json"])
    found = [f["match"] for f in json.loads(result.output)["findings"] if f["rule"] == "KettleCairn.ClaimWords"]
    assert found == ["titanium", "water resistant"]


def test_a_malformed_claims_file_is_a_config_error_naming_its_line(kit):
    claims = kit / "brand" / "claims.txt"
    claims.write_text(claims.read_text(encoding="utf-8") + "flavor: vanilla\n", encoding="utf-8")
    line = len(claims.read_text(encoding="utf-8").splitlines())
    result = CliRunner().invoke(cli, ["brand", "check", str(kit / "brand")])
    assert result.exit_code == 2
    assert f"{claims}:{line}: unknown claim kind 'flavor'" in result.output
    assert "ClaimWords.yml" in result.output  # the brand.claims rule reports it too


def test_raw_vocabulary_lines_are_refused_where_claim_terms_are_expected():
    assert as_claim_terms([ClaimTerm("material", ("titanium",))]) == (ClaimTerm("material", ("titanium",)),)
    with pytest.raises(TypeError, match="load_claim_terms"):
        as_claim_terms(["material: titanium"])
