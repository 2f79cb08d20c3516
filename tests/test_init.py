"""`stylegen init` on the sample brand's approved copy converted to CSV."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from stylegen.cli import cli

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["id", "name", "category", "features", "materials", "description", "meta_description", "bullets"]


def _approved_csv(path: Path) -> tuple[Path, int]:
    rows = [json.loads(line) for f in sorted((ROOT / "training_data" / "approved").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            f = r["facts"]
            writer.writerow([r["id"], f["name"], f["category"], ";".join(f.get("features", [])),
                             ";".join(f.get("materials", [])), r["description"], r["meta_description"],
                             "\n".join(r["bullets"])])
    return path, len(rows)


def test_init_drafts_a_kit_that_checks_and_passes_its_own_copy(tmp_path):
    source, count = _approved_csv(tmp_path / "approved.csv")
    kit = tmp_path / "kit"
    args = ["init", str(kit), "--from", str(source), "--fact-field", "name", "--fact-field", "category",
            "--fact-field", "features", "--fact-field", "materials"]
    for task in ("description", "meta_description", "bullets"):
        args += ["--copy-field", task]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"{count} approved records" in result.output and "(error)" not in result.output
    assert "# copy column 'bullets'" in (kit / "brand.yaml").read_text() and "kind: list" in (kit / "brand.yaml").read_text()
    records = [json.loads(x) for x in (kit / "training_data/approved/approved.jsonl").read_text().splitlines()]
    assert len(records) == count and isinstance(records[0]["bullets"], list) and isinstance(records[0]["facts"]["features"], list)
    check = CliRunner().invoke(cli, ["brand", "check", str(kit)])
    assert check.exit_code == 0, check.output
    report = CliRunner().invoke(cli, ["validate", "--brand", str(kit), "--format", "json",
                                      str(kit / "training_data" / "approved")])
    assert report.exit_code == 0, report.output  # no error-level finding on the approved copy


def test_init_refuses_an_existing_kit_and_unknown_columns(tmp_path):
    source, _ = _approved_csv(tmp_path / "approved.csv")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "k"), "--from", str(source), "--copy-field", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
    (tmp_path / "k").mkdir(exist_ok=True)
    (tmp_path / "k" / "brand.yaml").write_text("name: x\n")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "k"), "--from", str(source)])
    assert result.exit_code == 2 and "already holds" in result.output


def test_drafted_kit_trains(tmp_path, tiny_model_dir):
    source, _ = _approved_csv(tmp_path / "approved.csv")
    kit = tmp_path / "kit"
    args = ["init", str(kit), "--from", str(source), "--fact-field", "name", "--fact-field", "features"]
    for task in ("description", "meta_description", "bullets"):
        args += ["--copy-field", task]
    assert CliRunner().invoke(cli, args).exit_code == 0
    result = CliRunner().invoke(cli, ["train", "--brand", str(kit), "--no-progress", "--out", str(tmp_path / "adapter"),
                                      "--base-model", str(tiny_model_dir), "--max-steps", "2", "--r", "8",
                                      "--lora-alpha", "16", "--batch-size", "4", "--set", "layers_to_transform=null"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
