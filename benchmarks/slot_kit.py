"""Slots in the model's output (issue 21, approach 3): a copy of the sample kit whose adapter
learns the brand's descriptions with their fact values as typed slots.

    python benchmarks/slot_kit.py /tmp/slots/kit [--brand KIT] [--task description]
    stylegen train --brand /tmp/slots/kit/brand --out /tmp/slots/kit/adapter
    python benchmarks/bench_quality.py --brand /tmp/slots/kit/brand --catalog /tmp/slots/kit/catalog.csv \\
        --rows 100 --json slots.json

The training descriptions are ``stylegen.generation.slots.slotted`` of the approved text
(its own record's name, weight, capacity, dimensions, materials, colours, use, care and
features by head noun as ``{name}``, ``{weight}``, ``{feature:pocket}``); the prompt is the
brand's description prompt over the record's facts plus one more fact, ``slots``: the slots
the record can fill (``available_slots``), so the model copies slot names from its prompt.
The catalog copy gets the same ``slots`` column for the night. brand.yaml gets
``generation.slots: [description]``, so the night fills the model's slots from the row and
rejects a candidate with a slot the row cannot fill or a number or material word outside a
slot. The other tasks stay assembled; training keeps the slotted task only. Any kit: its
catalog's fact roles decide what a slot is, not its column names.
Results: docs/QUALITY.md.
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
from stylegen.generation.slots import available_slots, slotted  # noqa: E402
from stylegen.kit.brand import load_brand  # noqa: E402


def write_training(out: Path, brand, task: str) -> int:
    """The brand's approved records with ``task`` slotted and no other task; returns the count."""
    from stylegen.validation.corpus import data_files

    (out / "training_data").mkdir(parents=True)
    count = 0
    for path in data_files(brand.resolve(brand.training.data)):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else None
            if not isinstance(record, dict) or not isinstance(record.get(task), str):
                continue
            text = slotted(record[task], record["facts"], brand.catalog)
            facts = dict(record["facts"], slots=available_slots(record["facts"], brand.catalog))
            lines.append(json.dumps({"id": record["id"], "facts": facts, task: text}))
            count += 1
        (out / "training_data" / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


def write_kit(out: Path, brand, task: str) -> None:
    """brand.yaml: the slotted task written by the model, the others assembled; schema without them."""
    data = yaml.safe_load(brand.file.read_text(encoding="utf-8"))
    others = [t for t in brand.tasks if t != task]
    data["generation"].update(assemble=others, fallback="model", compose=[], slots=[task])
    data["model"]["adapter"] = "../adapter"
    data["training"]["data"] = "../training_data"
    data["catalog"]["fields"]["slots"] = {"column": "slots", "list": True, "role": "text"}
    data.setdefault("validators", {})["path"] = "../validators"
    # the training copy is slotted; at night an unfilled slot is Slot.Unfilled (generation.slots)
    data["validators"].setdefault("levels", {})["Default.Placeholder"] = "off"
    (out / "brand/brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    schema_path = out / "brand" / brand.schema
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["required"] = [k for k in schema.get("required", []) if k not in others]
    schema_path.write_text(json.dumps(schema, indent=1), encoding="utf-8")


def write_catalog(out: Path, brand, source: Path) -> Path:
    """``source`` with each row's slots in a ``slots`` column (what the prompt lists)."""
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    slots = {row.id: available_slots(row.facts, brand.catalog) for row in read_catalog(source, brand.catalog).rows}
    target = out / "catalog.csv"
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["slots"])
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row, slots=brand.catalog.list_separator.join(slots.get(row[brand.catalog.id], []))))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the kit copy (replaced)")
    parser.add_argument("--brand", type=Path, default=ROOT / "brand", help="the kit to copy (its brand.yaml's folder)")
    parser.add_argument("--task", default="description", help="the task the model writes with slots")
    parser.add_argument("--catalog", type=Path, default=ROOT / "catalog/sample_catalog.csv", help="the catalog to copy")
    args = parser.parse_args()
    brand = load_brand(args.brand)
    shutil.rmtree(args.out, ignore_errors=True)
    shutil.copytree(args.brand, args.out / "brand",
                    ignore=shutil.ignore_patterns("adapter", "training_data", "validators", "runs", "*.tsv"))
    shutil.copytree(brand.resolve(brand.validators.path), args.out / "validators")
    count = write_training(args.out, brand, args.task)
    write_kit(args.out, brand, args.task)
    catalog = write_catalog(args.out, brand, args.catalog)
    print(f"{args.out}: slot kit written ({count} records, catalog {catalog}); train with "
          f"`stylegen train --brand {args.out}/brand --out {args.out}/adapter`")


if __name__ == "__main__":
    main()
