"""Draft and rewrite (issue 21, approach 2): a copy of the sample kit whose description task
rewrites a plain draft assembled from the facts, to train and measure with the usual tools.

    python benchmarks/rewrite_kit.py /tmp/rw/kit
    stylegen train --brand /tmp/rw/kit/brand --out /tmp/rw/kit/adapter
    python benchmarks/bench_quality.py --brand /tmp/rw/kit/brand \\
        --catalog /tmp/rw/kit/catalog/rw_catalog.csv --rows 100 --json rewrite.json

The draft is one more fact, ``draft`` (``assembled_completion`` of the record's facts, the
frames that ship today), so the training prompt and the night's prompt are rendered by the
one prompt renderer: ``Rewrite in our voice: {name}.`` and the draft. Training keeps the
description only (meta descriptions and bullets stay assembled); the schema's required
meta_description and bullets are dropped from the copy for that reason. Results:
docs/QUALITY.md ("Draft and rewrite").
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stylegen.catalog.rows import read_catalog  # noqa: E402
from stylegen.generation.assemble import assembled_completion  # noqa: E402
from stylegen.kit.brand import load_brand  # noqa: E402

PROMPT = "Rewrite in our voice: {name}.\n{draft}"


def write_training(out: Path, brand) -> None:
    """The approved descriptions with their draft as a fact (description only)."""
    (out / "training_data/approved").mkdir(parents=True)
    for path in sorted((ROOT / "training_data/approved").glob("*.jsonl")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            facts = dict(record["facts"], draft=assembled_completion(record["facts"], "description", "text", 0,
                                                                     catalog=brand.catalog))
            lines.append(json.dumps({"id": record["id"], "facts": facts, "description": record["description"]}))
        (out / "training_data/approved" / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_kit(out: Path) -> None:
    """brand.yaml with the rewrite prompt and the draft column; schema without the other fields."""
    data = yaml.safe_load((ROOT / "brand/brand.yaml").read_text(encoding="utf-8"))
    data["tasks"]["description"]["prompt"] = PROMPT
    data["catalog"]["fields"]["draft"] = {"column": "draft", "max_chars": 2000}
    data["generation"].update(assemble=["meta_description", "bullets"], fallback="model", compose=[])
    data["model"]["adapter"] = "../adapter"
    (out / "brand/brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    schema = json.loads((out / "brand/schema.json").read_text(encoding="utf-8"))
    schema["required"] = [k for k in schema.get("required", []) if k not in ("meta_description", "bullets")]
    (out / "brand/schema.json").write_text(json.dumps(schema, indent=1), encoding="utf-8")


def write_catalog(out: Path, brand) -> None:
    """The sample catalog with each row's draft in a ``draft`` column."""
    source = ROOT / "catalog/sample_catalog.csv"
    rows = list(csv.DictReader(source.open(encoding="utf-8", newline="")))
    drafts = {row.id: assembled_completion(row.facts, "description", "text", 0, catalog=brand.catalog)
              for row in read_catalog(source, brand.catalog).rows}
    with (out / "catalog/rw_catalog.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["draft"])
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row, draft=drafts.get(row["sku"], "")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the kit copy (replaced)")
    out = parser.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    for folder in ("brand", "validators", "catalog"):
        shutil.copytree(ROOT / folder, out / folder)
    brand = load_brand(ROOT / "brand")
    write_training(out, brand)
    write_kit(out)
    write_catalog(out, brand)
    print(f"{out}: rewrite kit written; train with `stylegen train --brand {out}/brand --out {out}/adapter`")


if __name__ == "__main__":
    main()
