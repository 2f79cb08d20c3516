"""The documented path for a brand brought in as a plain CSV (issue 22): each sample brand's
approved copy, its fact columns renamed (``title``, ``details``, ``fabric``, ``weight_g``...),
through the real CLI: ``init`` -> ``brand check`` -> ``validate`` -> ``train --max-steps 2``
(the tiny model) -> ``generate --limit 20``. Only the roles init drafts can make the
assembler and the sense checks work here: no column is named as the sample catalog's.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gen_support import read_jsonl
from real_brand_support import SAMPLES, renamed_csv
from stylegen.cli import cli

SENSE = ("Sense.Contradiction", "Sense.Identity", "Sense.NameSpelling", "Sense.OffTopic", "Sense.UnitSense")


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def drafted(request, tmp_path_factory):
    """A kit drafted by ``stylegen init`` from a sample's approved copy with renamed columns."""
    data_dir, name = SAMPLES[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    source, records = renamed_csv(data_dir, tmp / "approved.csv")
    result = CliRunner().invoke(cli, ["init", str(tmp / "kit"), "--from", str(source), "--id-field", "sku",
                                      "--name", name])
    assert result.exit_code == 0, result.output
    return tmp / "kit", source, records, result.output


def test_init_enables_sense_with_figures_and_assembles_first(drafted):
    kit, _, _, output = drafted
    brand = yaml.safe_load((kit / "brand.yaml").read_text(encoding="utf-8"))
    assert brand["validators"]["suites"] == ["Default", "Sense", "Drafted"]
    assert brand["generation"]["assemble"] == ["description", "meta_description", "bullets"]
    assert brand["generation"]["fallback"] == "none"
    text = (kit / "brand.yaml").read_text(encoding="utf-8")
    for rule in SENSE:  # each rule's measured false-flag rate, in brand.yaml and in init's output
        line = next(x for x in output.splitlines() if f"drafted: {rule}: flags " in x)
        assert "held-out approved records" in line and line.split("drafted: ")[1] in text
    assert "quarantined for a person (fallback none)" in output and "`fallback: model` only if" in text
    roles = {var: spec.get("role") for var, spec in brand["catalog"]["fields"].items()}
    assert roles["title"] == "name" and roles["details"] == "features" and roles["fabric"] == "materials"


def test_brand_check_lists_sense_and_the_roles(drafted):
    kit, _, _, _ = drafted
    result = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert result.exit_code == 0, result.output
    assert "Sense: 5 rules" in result.output
    for rule in SENSE:
        assert rule in result.output
    assert any(line.split()[:1] == ["details"] and "features" in line for line in result.output.splitlines())


def test_validate_approved_copy_errors_are_grounding_ones_each_with_rule_and_reason(drafted):
    kit, _, records, _ = drafted
    result = CliRunner().invoke(cli, ["validate", "--brand", str(kit), "--format", "json",
                                      str(kit / "training_data" / "approved")])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    errors = [f for f in report["findings"] if f["level"] == "error"]
    # What is true of both samples: no sense check errs on the brand's own copy; the few
    # error-level findings are grounding (a term the copy names that its facts lack), each
    # naming its rule, the claim and why, on under 2% of the records.
    assert {f["rule"] for f in errors} <= {"Drafted.Grounded"}, errors
    assert len({f["id"] for f in errors}) <= 0.02 * len(records)
    for f in errors:
        assert f["match"] and "Unsupported" in f["message"] and f["rule"] == "Drafted.Grounded"


def _on_tiny_model(kit: Path, tiny_model_dir: Path) -> None:
    """The drafted kit on the test's tiny model (2 layers: no layers 18-29), short outputs."""
    path = kit / "brand.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["model"].update(base_model=str(tiny_model_dir), dtype="float32")
    data["training"].pop("layers_to_transform")
    data["training"]["max_excluded_share"] = 1.0  # two steps: what is excluded is not this test's business
    data["generation"].update(candidates=2, batch_size=8)
    for task in data["tasks"].values():
        task["max_new_tokens"] = 12
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _follow_schema_advice(kit: Path, output: str) -> list[str]:
    """What a user does with init's line "assembled X passes on a/b ...; the rest would be
    quarantined, mostly by Default.Schema (...) (widen that bound ...)": widen X's bounds."""
    tasks = [line.split("assembled ")[1].split()[0] for line in output.splitlines()
             if "drafted: assembled " in line and "mostly by Default.Schema" in line]
    path = kit / "schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    for task in tasks:
        spec = schema["properties"][task]
        for part in (spec, spec.get("items", {})):
            for key in ("minLength", "maxLength", "minItems"):
                part.pop(key, None)
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return tasks


def test_train_then_generate_ships_copy_assembled_from_the_renamed_columns(drafted, tiny_model_dir):
    kit, source, records, output = drafted
    assert "drafted: assembled description passes on " in output  # init measured what assembly would ship
    _follow_schema_advice(kit, output)
    _on_tiny_model(kit, tiny_model_dir)
    trained = CliRunner().invoke(cli, ["train", "--brand", str(kit), "--out", str(kit / "adapter"),
                                       "--max-steps", "2", "--no-progress"])
    assert trained.exit_code == 0, trained.output
    out = kit.parent / "night"
    result = CliRunner().invoke(cli, ["generate", "--brand", str(kit), "--catalog", str(source),
                                      "--out", str(out), "--limit", "20"])
    assert result.exit_code in (0, 1), result.output  # 1: some product quarantined, never shipped as nonsense
    accepted = read_jsonl(out / "outputs.jsonl")
    assert len(accepted) >= 10, result.output
    facts = {r["id"]: r["facts"] for r in records}
    stated = 0
    for product in accepted:
        text = product["fields"]["description"]
        row = facts[product["id"]]
        # the assembler's subject: the `title` column, read as the name role
        assert row["name"] in text + product["fields"]["meta_description"]
        detail = next((d for d in row["features"] if d.lower() in text.lower()), None)
        weight = row.get("weight")
        stated += bool(detail) and (weight is None or weight in text)
    assert stated >= 0.8 * len(accepted)  # a `details` item and the `weight_g` value, in the shipped copy
    db = sqlite3.connect(out / "ledger.sqlite")
    try:
        sources = {s for (s,) in db.execute("SELECT DISTINCT source FROM attempts")}
    finally:
        db.close()
    assert sources == {"assembled"}  # fallback none: the model never wrote a field freely
