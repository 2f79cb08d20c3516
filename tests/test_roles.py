"""Fact roles: a catalog whose columns are named otherwise gets the sample's assembled copy
through its roles; a bad role is a config error; init drafts roles from names and values."""
from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import yaml
from click.testing import CliRunner

from gen_support import make_brand, read_jsonl
from stylegen.cli import cli
from stylegen.generation.assemble import variants
from stylegen.init.drafts import draft_roles
from stylegen.kit.brand import load_brand
from stylegen.kit.roles import facts_by_role

ROOT = Path(__file__).resolve().parent.parent
# sample fact name -> what a brand nobody here wrote calls it, and the role that says so
RENAMED = {"name": ("title", "name"), "features": ("details", "features"), "materials": ("fabric", "materials"),
           "weight": ("wt", "weight")}
TASKS = ["description", "meta_description", "bullets"]


def _sample_rows(count: int) -> list[dict]:
    with open(ROOT / "catalog" / "sample_catalog.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))[:count]


def _write(path: Path, rows: list[dict], rename: dict) -> Path:
    renamed = [{rename.get(k, k): v for k, v in row.items()} for row in rows]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(renamed[0]))
        writer.writeheader()
        writer.writerows(renamed)
    return path


def _renamed_kit(tmp: Path, base_model: str | None = None) -> Path:
    """The sample kit with its catalog variables renamed, each given its role."""
    brand = make_brand(tmp, base_model=base_model, assemble=TASKS, fallback="none")
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    fields = {}
    for var, spec in data["catalog"]["fields"].items():
        new, role = RENAMED.get(var, (var, None))
        fields[new] = {**spec, "column": new, **({"role": role} if role else {})}
    data["catalog"]["fields"] = fields
    for task in data["tasks"].values():
        task["prompt"] = task["prompt"].replace("{name}", "{title}")
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return brand


def _night(tmp: Path, brand: Path, catalog: Path) -> dict:
    """``stylegen generate`` with every field assembled (fallback none: the model writes nothing)."""
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp / "run"), "--no-adapter"])
    assert result.exit_code in (0, 1), result.output
    db = sqlite3.connect(tmp / "run" / "ledger.sqlite")
    assert {s for (s,) in db.execute("SELECT DISTINCT source FROM attempts")} == {"assembled"}
    return {o["id"]: o["fields"] for o in read_jsonl(tmp / "run" / "outputs.jsonl")}


def test_renamed_columns_with_roles_get_the_samples_assembled_copy(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rows = _sample_rows(8)
    plain = _night(tmp_path / "a", make_brand(tmp_path / "a", base_model=str(tiny_model_dir), assemble=TASKS,
                                              fallback="none"),
                   _write(tmp_path / "plain.csv", rows, {}))
    renamed = _night(tmp_path / "b", _renamed_kit(tmp_path / "b", str(tiny_model_dir)),
                     _write(tmp_path / "renamed.csv", rows, {k: v for k, (v, _) in RENAMED.items()}))
    assert len(plain) >= 6 and renamed == plain
    first = plain[rows[0]["sku"]]["description"]
    assert first.startswith("The Scree Daypack holds 22 L and weighs 15.8 oz.") and "It has" in first


def test_without_roles_the_renamed_columns_are_free_text(tmp_path):
    kit = load_brand(_renamed_kit(tmp_path))
    facts = {"title": "Scree Daypack", "details": ["padded shoulder straps"], "wt": "15.8 oz"}
    assert facts_by_role(facts, kit.catalog) == {"name": "Scree Daypack", "features": ["padded shoulder straps"],
                                                 "weight": "15.8 oz"}
    # by name alone, "title" is a spelling of the name role; "details" and "wt" are free text
    assert facts_by_role(facts) == {"name": "Scree Daypack", "text": ["padded shoulder straps", "15.8 oz"]}
    [bare] = variants(facts, "description", "text", 1)
    [full] = variants(facts, "description", "text", 1, kit.catalog)
    assert "straps" not in bare and "15.8 oz" not in bare
    assert full.startswith("The Scree Daypack weighs 15.8 oz.") and "padded shoulder straps" in full


def test_a_bad_role_is_a_config_error_naming_file_line_and_key(tmp_path):
    brand = _renamed_kit(tmp_path)
    path = brand / "brand.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "role: features")
    lines[at] = lines[at].replace("features", "feature")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["brand", "check", str(brand)])
    assert result.exit_code == 2, result.output
    assert (f"{path}:{at + 1}: catalog.fields.details.role: must be one of name, category, features, materials,"
            in result.output)
    assert "(got 'feature')" in result.output


def test_brand_check_shows_each_facts_role_and_whence(tmp_path):
    result = CliRunner().invoke(cli, ["brand", "check", str(_renamed_kit(tmp_path))])
    assert result.exit_code == 0, result.output
    table = {line.split()[0]: line.split()[2:] for line in result.output.splitlines()
             if line.startswith("  ") and len(line.split()) >= 4}
    assert table["details"][:1] == ["features"] and "brand.yaml" in " ".join(table["details"])
    assert table["category"][:1] == ["category"] and "named like the role" in " ".join(table["category"])


def _renamed_approved_csv(path: Path, count: int) -> tuple[Path, list[dict]]:
    """The first ``count`` Kettle & Cairn approved records as a CSV with renamed fact columns."""
    records = [json.loads(line) for f in sorted((ROOT / "training_data" / "approved").glob("*.jsonl"))
               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()][:count]
    facts = list(dict.fromkeys(k for r in records for k in r["facts"]))
    rename = {k: v for k, (v, _) in RENAMED.items()}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *[rename.get(k, k) for k in facts], "description"])
        for r in records:
            values = [r["facts"].get(k, "") for k in facts]
            writer.writerow([r["id"], *[";".join(v) if isinstance(v, list) else v for v in values], r["description"]])
    return path, records


def test_init_drafts_roles_for_renamed_columns_and_assembles_like_the_sample(tmp_path):
    source, records = _renamed_approved_csv(tmp_path / "approved.csv", 40)
    kit = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["init", str(kit), "--from", str(source), "--name", "Kettle & Cairn"])
    assert result.exit_code == 0, result.output
    assert "fact roles: title name" in result.output and "details features" in result.output
    yaml_text = (kit / "brand.yaml").read_text(encoding="utf-8")
    for new, role in RENAMED.values():
        line = next(x for x in yaml_text.splitlines() if x.strip().startswith(f"{new}:"))
        assert f"role: {role}}}" in line and "role from " in line, line
    check = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert check.exit_code == 0 and "wt" in check.output and "weight" in check.output, check.output
    drafted = load_brand(kit)
    rename = {k: v for k, (v, _) in RENAMED.items()}
    for rec in records[:5]:
        theirs = {rename.get(k, k): v for k, v in rec["facts"].items()}
        assert variants(theirs, "description", "text", 2, drafted.catalog) == \
            variants(rec["facts"], "description", "text", 2)


def test_values_override_the_name_for_flags_measures_and_labels():
    records = [{"facts": {"performance_fabric": flag, "features_bags": ["Waterproof", "Padded"],
                          "spec": "1 lb 2 oz", "categories": "Bags", "category_gear": "Exercise" if i < 2 else "",
                          "pattern": ["Solid", "Striped"][i % 2], "notes": f"a note that says {i} things",
                          "fabric_weight": f"{180 + i} gsm"}}
               for i, flag in enumerate(["Yes", "No", "No", "Yes"])]
    drafts = {d.column: d for d in draft_roles(records, list(records[0]["facts"]))}
    assert drafts["performance_fabric"].role == "flag" and "the name said materials" in drafts["performance_fabric"].source
    assert drafts["features_bags"].role == "attribute"
    assert drafts["spec"].role == "weight" and drafts["spec"].source.startswith("values:")
    assert drafts["categories"].role == "category" and drafts["category_gear"].role == "attribute"
    assert drafts["pattern"].role == "attribute" and drafts["notes"].role == "text"
    # named like a weight, but no value is a mass: the frames would say "weighs 180 gsm"
    assert drafts["fabric_weight"].role == "text" and "0% of its values are masses" in drafts["fabric_weight"].source
