"""A sample brand's approved copy as the plain CSV a new user would bring: one row a product,
fact columns named otherwise than the sample catalog's, so only the roles `stylegen init`
drafts can tell the assembler and the checks what each column is."""
from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY = ("description", "meta_description", "bullets")
# sample fact name -> the column name a new user's export might have
RENAMED = {"name": "title", "category": "department", "features": "details", "materials": "fabric",
           "weight": "weight_g", "dimensions": "size_info", "capacity": "volume", "colors": "shades",
           "care": "washing", "certifications": "labels", "use": "good_for", "fabric_weight": "cloth_weight",
           "fit": "cut", "length": "leg_length", "rise": "rise_height", "sizes": "size_run", "made_in": "country"}
SAMPLES = {"kettle-cairn": (ROOT / "training_data" / "approved", "Kettle & Cairn"),
           "halyard-hem": (ROOT / "samples" / "halyard-hem" / "training_data" / "approved", "Halyard & Hem")}


def renamed_csv(data_dir: Path, path: Path, limit: int | None = None) -> tuple[Path, list[dict]]:
    """The approved records of ``data_dir`` (the first ``limit``) as one CSV with renamed
    fact columns (lists joined by ';', bullets one a line); returns it and the records."""
    rows = [json.loads(line) for f in sorted(data_dir.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
    facts = list(dict.fromkeys(k for r in rows for k in r["facts"]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", *(RENAMED[k] for k in facts), *COPY])
        for r in rows:
            values = [r["facts"].get(k, "") for k in facts]
            writer.writerow([r["id"], *[";".join(v) if isinstance(v, list) else v for v in values],
                             r["description"], r["meta_description"], "\n".join(r["bullets"])])
    return path, rows
