"""`stylegen init` on each sample brand's approved copy converted to CSV, and on a Shopify export."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stylegen.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {"kettle-cairn": (ROOT / "training_data" / "approved", "Kettle & Cairn"),
           "halyard-hem": (ROOT / "samples" / "halyard-hem" / "training_data" / "approved", "Halyard & Hem")}
COPY = ("description", "meta_description", "bullets")


def approved_csv(data_dir: Path, path: Path) -> tuple[Path, int, list[str]]:
    """The approved records of ``data_dir`` as one flat CSV: every fact a column, lists joined by ';'."""
    rows = [json.loads(line) for f in sorted(data_dir.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    facts = list(dict.fromkeys(k for r in rows for k in r["facts"]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *facts, *COPY])
        for r in rows:
            values = [r["facts"].get(k, "") for k in facts]
            writer.writerow([r["id"], *[";".join(v) if isinstance(v, list) else v for v in values],
                             r["description"], r["meta_description"], "\n".join(r["bullets"])])
    return path, len(rows), facts


def _init(tmp_path_factory, sample: str):
    data_dir, name = SAMPLES[sample]
    if not data_dir.is_dir():
        pytest.fail(f"sample brand {sample} has no approved copy at {data_dir}")
    tmp = tmp_path_factory.mktemp(sample)
    source, count, facts = approved_csv(data_dir, tmp / "approved.csv")
    kit = tmp / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(source), "--name", name])
    return kit, count, facts, result


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def drafted(request, tmp_path_factory):
    return _init(tmp_path_factory, request.param)


def test_init_drafts_a_kit_that_checks_and_passes_its_own_copy(drafted):
    kit, count, facts, result = drafted
    assert result.exit_code == 0, result.output
    assert f"{count} approved records" in result.output and "(error)" not in result.output
    brand_yaml = (kit / "brand.yaml").read_text()
    assert "# copy column 'bullets'" in brand_yaml and "kind: list" in brand_yaml
    records = [json.loads(x) for x in (kit / "training_data/approved/approved.jsonl").read_text().splitlines()]
    assert len(records) == count and isinstance(records[0]["bullets"], list)
    assert set(records[0]["facts"]) <= set(facts) and "name" in records[0]["facts"]
    check = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert check.exit_code == 0, check.output
    assert "[built-in]" in check.output and "Drafted.Grounded" in check.output
    report = CliRunner().invoke(cli, ["validate", "--brand", str(kit), "--format", "json",
                                      str(kit / "training_data" / "approved")])
    assert report.exit_code == 0, report.output  # no error-level finding on the approved copy


def test_every_drafted_value_says_where_it_came_from(drafted):
    kit, count, _, _ = drafted
    brand_yaml = (kit / "brand.yaml").read_text()
    drafted_keys = ("name:", "voice:", "schema:", "claims:", "prompt:", "kind:", "max_new_tokens:", "accept:", "id:")
    for line in brand_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith(drafted_keys) or "{column" in line or "{metric" in line:
            assert " # " in line, f"drafted value without its source: {line}"
    assert "readability:" in brand_yaml and "2nd percentile of" in brand_yaml
    for rule in (kit / "validators" / "Drafted").glob("*.yml"):
        assert rule.read_text().startswith("# Drafted by stylegen init"), rule.name


def test_drafted_claims_come_from_facts_and_still_catch_invented_ones(drafted):
    kit, _, _, _ = drafted
    claims = (kit / "claims.txt").read_text()
    active = [line for line in claims.splitlines() if line and not line.startswith("#")]
    assert len(active) >= 20 and all(line.split(":")[0] in ("material", "feature", "certification", "term")
                                     for line in active)
    record = json.loads((kit / "training_data/approved/approved.jsonl").read_text().splitlines()[0])
    material = next(line.split(":", 1)[1].split("<=")[0].strip() for line in active if line.startswith("material:"))
    record["facts"] = {k: v for k, v in record["facts"].items() if k == "name"}
    record["description"] = f"{record['description']} The shell is {material}."
    path = kit.parent / "invented.jsonl"
    path.write_text(json.dumps(record) + "\n")
    report = CliRunner().invoke(cli, ["validate", "--brand", str(kit), "--format", "json", str(path)])
    assert report.exit_code == 1 and "Drafted.Grounded" in report.output, report.output


def test_drafted_brand_name_rule_fixes_the_name_written_in_another_case(drafted):
    from stylegen.kit.brand import load_brand
    from stylegen.validation.fixes import fix_records
    from stylegen.validation.records import Record
    from stylegen.validation.validator import Validator

    kit, _, _, _ = drafted
    brand = load_brand(kit)
    name = brand.terminology.accept[0]
    record = Record(id="P1", fields={"description": f"You get {name.lower()} signature sleeves."},
                    facts={"name": "Tee", "features": [f"{name.lower()} signature sleeves"]})
    validator = Validator(brand)
    assert any(f.rule == "Drafted.BrandName" for f in validator.check([record])[0])
    fixed = fix_records(validator, [record])[0]
    assert fixed.record.fields["description"] == f"You get {name} signature sleeves."
    assert not any(f.rule == "Drafted.BrandName" for f in fixed.findings)


def test_init_drafts_supporters_and_leaves_everyday_words_out(tmp_path):
    rows = [{"id": f"P{i}", "name": f"Pack {i}", "features": "Wide straps;Hip belt;Lid pocket",
             "description": "Shoulder straps that spread the load and a hip belt. Pack the lid pocket with a snack."
                            " The body sits close to your back."}
            for i in range(6)]
    rows += [{"id": "Q1", "name": "Bag", "features": "Body of ripstop;Wide straps", "description": "A plain bag."},
             {"id": "Q2", "name": "Sack", "features": "Shoulder straps;Body of mesh", "description": "Its shoulder straps."},
             {"id": "Q3", "name": "Tote", "features": "Shoulder straps", "description": "Shoulder straps, and that is all."}]
    source = tmp_path / "copy.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "kit"), "--from", str(source)])
    assert result.exit_code == 0, result.output
    claims = (tmp_path / "kit" / "claims.txt").read_text()
    assert "feature: shoulder straps <= wide straps" in claims  # the copy's synonym of a listed feature
    assert "as often as the facts hold them: body" in claims  # "body": an everyday word, not a claim
    assert "\nfeature: hip belt\n" in claims


def test_init_reads_a_shopify_export(tmp_path):
    rows = [["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Name", "Option1 Value",
             "Variant SKU", "SEO Description"]]
    for i in range(4):
        body = (f"<p>The Fold {i} shirt is cut from brushed cotton twill and washes soft. It keeps its shape"
                " through a season of wear.</p><ul><li>Brushed cotton twill</li><li>Two chest pockets</li></ul>")
        rows.append([f"fold-{i}", f"Fold {i} Shirt", body, "Halyard", "Shirts", "cotton, twill", "Size", "S",
                     f"F{i}-S", f"Fold {i}: a brushed cotton twill shirt."])
        rows.append([f"fold-{i}", "", "", "", "", "", "", "M", f"F{i}-M", ""])
    source = tmp_path / "products_export.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "kit"), "--from", str(source), "--id-field", "id"])
    assert result.exit_code == 0, result.output
    assert "from a Shopify product export" in result.output and "4 approved records" in result.output
    records = [json.loads(x) for x in (tmp_path / "kit/training_data/approved/approved.jsonl").read_text().splitlines()]
    assert records[0]["id"] == "fold-0" and records[0]["bullets"] == ["Brushed cotton twill", "Two chest pockets"]
    assert records[0]["facts"]["size"] == ["S", "M"] and records[0]["facts"]["name"] == "Fold 0 Shirt"
    assert records[0]["meta_description"].startswith("Fold 0:") and "<p>" not in records[0]["description"]


def test_init_refuses_an_existing_kit_and_unknown_columns(tmp_path):
    source, _, _ = approved_csv(SAMPLES["kettle-cairn"][0], tmp_path / "approved.csv")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "k"), "--from", str(source), "--copy-field", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
    (tmp_path / "k").mkdir(exist_ok=True)
    (tmp_path / "k" / "brand.yaml").write_text("name: x\n")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "k"), "--from", str(source)])
    assert result.exit_code == 2 and "already holds" in result.output


def test_drafted_kit_trains(drafted, tiny_model_dir, tmp_path):
    kit, _, _, result = drafted
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["train", "--brand", str(kit), "--no-progress", "--out", str(tmp_path / "adapter"),
                                      "--base-model", str(tiny_model_dir), "--max-steps", "2", "--r", "8",
                                      "--lora-alpha", "16", "--batch-size", "4", "--set", "layers_to_transform=null"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()


def _kit_copy(tmp_path, candidates: int, max_chars: int) -> Path:
    """The sample kit with absolute paths, ``candidates`` per field, descriptions capped."""
    kit = tmp_path / f"kit-{candidates}"
    shutil.copytree(ROOT / "brand", kit)
    data = yaml.safe_load((kit / "brand.yaml").read_text(encoding="utf-8"))
    for key, rel in (("training", "data"), ("validators", "path"), ("model", "adapter")):
        data[key][rel] = str((ROOT / "brand" / data[key][rel]).resolve())
    data["generation"]["candidates"] = candidates
    (kit / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    schema = json.loads((kit / "schema.json").read_text(encoding="utf-8"))
    schema["properties"]["description"]["maxLength"] = max_chars
    (kit / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return kit


def test_init_counts_an_assembled_field_as_the_night_would_ship_it(tmp_path):
    """A record passes when one of its first `candidates` variants passes (the night ranks
    them all): under a tight length bound only the brief variants fit."""
    from stylegen.init.sense import measure_assembly

    one, four = (measure_assembly(_kit_copy(tmp_path, c, 260), {"description": "text"})[0] for c in (1, 4))
    assert one.records == four.records and one.passed == 0 < four.passed
    assert "Default.Schema" in one.top_rule
