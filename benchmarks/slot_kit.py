"""Slots in the model's output (issue 21, approach 3): a copy of the sample kit whose adapter
learns the brand's descriptions with their fact values as typed slots.

    python benchmarks/slot_kit.py /tmp/slots/kit
    stylegen train --brand /tmp/slots/kit/brand --out /tmp/slots/kit/adapter
    python benchmarks/bench_quality.py --brand /tmp/slots/kit/brand --rows 100 --json slots.json

The training descriptions are ``stylegen.generation.slots.slotted`` of the approved text
(its own record's name, weight, capacity, dimensions, materials, colours, use, care and
features by head noun as ``{name}``, ``{weight}``, ``{feature:pocket}``); the prompt is the
brand's description prompt over the record's facts, unchanged. brand.yaml gets
``generation.slots: [description]``, so the night fills the model's slots from the row and
rejects a candidate with a slot the row cannot fill or a number or material word outside a
slot. Meta descriptions and bullets stay assembled; training keeps the description only.
Results: docs/QUALITY.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stylegen.generation.slots import slotted  # noqa: E402
from stylegen.kit.brand import load_brand  # noqa: E402


def write_training(out: Path, brand) -> int:
    """The approved descriptions, slotted (description only); returns the records written."""
    (out / "training_data/approved").mkdir(parents=True)
    count = 0
    for path in sorted((ROOT / "training_data/approved").glob("*.jsonl")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = slotted(record["description"], record["facts"], brand.catalog)
            lines.append(json.dumps({"id": record["id"], "facts": record["facts"], "description": text}))
        (out / "training_data/approved" / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        count += len(lines)
    return count


def write_kit(out: Path) -> None:
    """brand.yaml with slotted descriptions; schema without the other fields."""
    data = yaml.safe_load((ROOT / "brand/brand.yaml").read_text(encoding="utf-8"))
    data["generation"].update(assemble=["meta_description", "bullets"], fallback="model", compose=[],
                              slots=["description"])
    data["model"]["adapter"] = "../adapter"
    # the training copy is slotted; at night an unfilled slot is Slot.Unfilled (generation.slots)
    data["validators"].setdefault("levels", {})["Default.Placeholder"] = "off"
    (out / "brand/brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    schema = json.loads((out / "brand/schema.json").read_text(encoding="utf-8"))
    schema["required"] = [k for k in schema.get("required", []) if k not in ("meta_description", "bullets")]
    (out / "brand/schema.json").write_text(json.dumps(schema, indent=1), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the kit copy (replaced)")
    out = parser.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    for folder in ("brand", "validators", "catalog"):
        shutil.copytree(ROOT / folder, out / folder)
    count = write_training(out, load_brand(ROOT / "brand"))
    write_kit(out)
    print(f"{out}: slot kit written ({count} records); train with "
          f"`stylegen train --brand {out}/brand --out {out}/adapter`")


if __name__ == "__main__":
    main()
