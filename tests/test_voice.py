"""The brand-voice score: fitting, calibration output, the `voice` rule type and the CLI."""
from __future__ import annotations

import json
import math

import pytest
import yaml
from click.testing import CliRunner

from stylegen.kit.brand import load_brand
from stylegen.cli import cli
from stylegen.errors import ConfigError
from stylegen.validation.records import Record
from stylegen.generation.contrast import generate_contrast
from stylegen.training.voice_fit import fit_voice, held_out_ids
from stylegen.validation.corpus import task_records as approved_records
from stylegen.validation.voice import MODEL_FILE, THRESHOLDS, VoiceModel, field_text, load_voice_model, roc_auc

from voice_support import approved, contrast_record, make_kit, write_contrast


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A voice model fitted on 80 approved records against generic contrast copy."""
    kit = make_kit(tmp_path_factory.mktemp("voice"))
    write_contrast(kit)
    model, path = fit_voice(kit)
    return kit, model, path


def test_roc_auc_hand_checked():
    # Pairs (pos, neg): 0.9>0.1, 0.9>0.85, 0.8>0.1, 0.8<0.85 -> 3 of 4 ordered right.
    assert roc_auc([0.9, 0.8], [0.1, 0.85]) == 0.75
    assert roc_auc([0.5], [0.5]) == 0.5  # a tie counts half
    assert roc_auc([0.9], []) is None


def test_field_text_joins_list_items_one_per_line():
    assert field_text(["Folds flat ", "", "Weighs 9 oz"]) == "Folds flat\nWeighs 9 oz"
    assert field_text("  One line. ") == "One line."


def test_fit_separates_brand_copy_from_contrast_on_held_out_records(fitted):
    kit, model, path = fitted
    held = model.metrics["held_out"]
    brand = load_brand(kit)
    ids, _ = held_out_ids(brand, [r["id"] for r in approved(kit)])
    assert held["records"] == len(ids) > 0
    assert held["approved"] > 0 and held["contrast"] > 0
    assert held["roc_auc"] >= 0.95
    assert held["mean_score"]["approved"] > 0.5 > held["mean_score"]["contrast"]
    assert [row["threshold"] for row in held["thresholds"]] == list(THRESHOLDS)
    assert set(held["per_task"]) == {"description", "meta_description", "bullets"}
    assert model.metrics["cross_validation"]["roc_auc"] >= 0.95
    assert model.metrics["train"]["records"] + held["records"] == len(approved(kit))


def test_model_file_explains_itself_and_reloads_to_the_same_scores(fitted):
    kit, model, path = fitted
    doc = json.loads(path.read_text())
    assert doc["format"] == "stylegen-voice/1" and "docs/EVAL.md" in doc["about"]
    assert doc["data"]["split"].startswith("sha256(record id)")
    assert doc["calibration"]["method"] == "platt" and doc["calibration"]["fitted_on"]
    assert sum(len(f["terms"]) for f in doc["features"]) <= 4000
    texts = [r["description"] for r in approved(kit)[:5]]
    again = load_voice_model(path)
    assert again.score(texts) == pytest.approx(model.score(texts), abs=1e-12)


def test_score_is_the_platt_calibrated_linear_score(fitted):
    _, model, _ = fitted
    text = "Two doors mean nobody crawls over anybody at night."
    d = model.decision([text])[0]
    a, b = model.calibration["a"], model.calibration["b"]
    assert model.score_one(text) == pytest.approx(1 / (1 + math.exp(-(a * d + b))))


def test_plain_python_scoring_matches_scikit_learn(fitted):
    import numpy as np

    from stylegen.validation.voice import vectorizer as _vectorizer

    kit, model, _ = fitted
    texts = [r["description"] for r in approved(kit)[:3]] + ["A  b!  Is it?\nWeird   spacing; x", "", "I"]
    texts += [field_text(contrast_record(approved(kit)[0], 2)["bullets"])]
    expected = np.full(len(texts), model.intercept)
    for fam in model.features:
        vec = _vectorizer(fam, vocabulary=fam["terms"], idf=fam["idf"])
        expected += vec.transform(texts) @ np.asarray(fam["weights"])
    assert model.decision(texts) == pytest.approx(list(expected), abs=1e-9)


def test_bad_model_file_is_a_config_error(tmp_path):
    path = tmp_path / "voice-model.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="not a stylegen voice model"):
        load_voice_model(path)
    with pytest.raises(ConfigError, match="voice fit"):
        load_voice_model(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="equally long"):
        VoiceModel.from_dict({"format": "stylegen-voice/1", "intercept": 0, "calibration": {},
                              "features": [{"terms": ["ab"], "idf": [], "weights": [1]}]})


def _rule(kit, **keys):
    suite = kit.parent / "validators" / "V"
    suite.mkdir(exist_ok=True)
    rule = {"extends": "voice", "level": "warning", "message": "voice score {score} (below {threshold})", **keys}
    (suite / "Voice.yml").write_text(yaml.safe_dump(rule))
    return load_brand(kit)


def test_voice_rule_flags_generic_copy_and_passes_held_out_brand_copy(fitted):
    from stylegen.validation.validator import Validator

    kit, model, _ = fitted
    brand = _rule(kit, threshold=0.5, min_words=5)
    held, _ = held_out_ids(brand, [r["id"] for r in approved(kit)])
    rec = next(r for r in approved(kit) if r["id"] in held)
    fields = {k: rec[k] for k in brand.tasks}
    generic = {k: v for k, v in contrast_record(rec, 0).items() if k != "id"}
    good, bad = Validator(brand, suites=["V"]).check([Record("good", fields), Record("bad", generic)])
    assert sorted(f.field for f in bad) == ["bullets", "description", "meta_description"]
    assert all(f.rule == "V.Voice" and f.level == "warning" and "below 0.5" in f.message for f in bad)
    score = model.score_one(generic["description"])
    assert f"voice score {score:.2f}" in bad[0].message
    assert good == []


def test_voice_rule_skips_short_fields(fitted):
    from stylegen.validation.validator import Validator

    kit, _, _ = fitted
    brand = _rule(kit, threshold=0.99, min_words=50)
    findings = Validator(brand, suites=["V"]).check([Record("r", {"meta_description": "Amazing! Buy it now today!"})])
    assert findings == [[]]


def test_voice_rule_reports_every_bad_option_with_its_line(fitted):
    kit, _, _ = fitted
    with pytest.raises(ConfigError) as err:
        _rule(kit, threshold=2, min_words=0, model="nope.json")
        from stylegen.validation.validator import Validator

        Validator(load_brand(kit), suites=["V"])
    text = str(err.value)
    assert "Voice.yml:" in text
    assert "threshold: must be between 0 and 1" in text and "min_words: must be 1 or more" in text
    assert "nope.json: no brand-voice model here" in text


def test_generate_contrast_writes_base_outputs_and_resumes(tmp_path):
    from stylegen.generation.engine import ScriptedEngine

    kit = make_kit(tmp_path, per_file=2)
    engine = ScriptedEngine(lambda req: "- Great pick\n- Buy now" if "bullets" in req.prompt else "Generic copy.")
    out = tmp_path / "contrast.jsonl"
    summary = generate_contrast(kit, out=out, engine=engine, echo=lambda m: None)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["written"] == len(rows) == 8
    assert {r["id"] for r in rows} == {r["id"] for r in approved(kit)}
    assert rows[0]["bullets"] == ["Great pick", "Buy now"] and rows[0]["description"] == "Generic copy."
    assert len(engine.requests) == 24 and len({r.seed for r in engine.requests}) == 24
    assert generate_contrast(kit, out=out, engine=engine, echo=lambda m: None)["written"] == 0


def test_voice_fit_cli_prints_held_out_auc_and_thresholds(tmp_path):
    kit = make_kit(tmp_path, per_file=12)
    contrast = write_contrast(kit, "other.jsonl")
    out = tmp_path / "model.json"
    result = CliRunner().invoke(cli, ["voice", "fit", "--brand", str(kit), "--contrast", str(contrast),
                                      "--out", str(out), "--max-terms", "500"])
    assert result.exit_code == 0, result.output
    assert "held-out ROC AUC, approved copy vs contrast text:" in result.output
    assert "threshold 0.5:" in result.output
    assert sum(len(f["terms"]) for f in json.loads(out.read_text())["features"]) <= 500


def test_voice_fit_without_contrast_says_how_to_make_it(tmp_path):
    kit = make_kit(tmp_path, per_file=2)
    result = CliRunner().invoke(cli, ["voice", "fit", "--brand", str(kit)])
    assert result.exit_code == 2
    assert "stylegen voice contrast" in result.output


def test_voice_score_cli_scores_each_field(fitted, tmp_path):
    kit, _, path = fitted
    rec = approved(kit)[0]
    copy = tmp_path / "copy.jsonl"
    copy.write_text(json.dumps(contrast_record(rec, 1)) + "\n")
    result = CliRunner().invoke(cli, ["voice", "score", str(copy), "--brand", str(kit), "--model", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{copy}:1: {rec['id']} description: 0.")
    assert lines[-1].startswith("mean brand-voice score:") and "over 3 field(s)" in lines[-1]


@pytest.mark.parametrize("args", [["voice"], ["voice", "fit"], ["voice", "contrast"], ["voice", "score"]])
def test_voice_help(args):
    result = CliRunner().invoke(cli, args + ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_shipped_voice_model_is_calibrated_and_passes_held_out_approved_copy(repo_root):
    """brand/voice-model.json: held-out figures recorded, and its own held-out copy passes."""
    from stylegen.validation.validator import Validator

    model = load_voice_model(repo_root / "brand" / MODEL_FILE)
    held = model.metrics["held_out"]
    assert held["roc_auc"] >= 0.95 and held["contrast"] >= 30 and held["approved"] >= 30
    assert model.calibration["fitted_on"] == "held-out records"
    brand = load_brand(repo_root / "brand")
    records, _ = approved_records(brand)
    ids, _ = held_out_ids(brand, [r.id for r in records])
    held_records = [r for r in records if r.id in ids]
    validator = Validator(brand)
    assert any(r.id == "KettleCairn.Voice" for r in validator.rules)
    flagged = [f for fs in validator.check(held_records) for f in fs if f.rule == "KettleCairn.Voice"]
    fields = sum(len(r.fields) for r in held_records)
    assert len(flagged) <= 0.05 * fields
