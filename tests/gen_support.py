"""Helpers for the generate tests: a brand kit copy with small, predictable validator rules,
catalogs, and scripted answers."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["sku", "name", "category", "features", "materials", "weight", "dimensions", "capacity", "colors",
           "care", "certifications", "use", "price"]

# Two rules only, so a test knows exactly which text fails: "best" is an error, a
# description over 40 words a warning.
RULES = {
    "Hype.yml": {"extends": "pattern", "pattern": r"(?i)\bbest\b", "level": "error",
                 "message": "remove '{match}'", "fields": ["description", "meta_description", "bullets"]},
    "Long.yml": {"extends": "occurrence", "count": "words", "max": 40, "level": "warning",
                 "message": "description too long ({count} words, max {max})", "fields": ["description"]},
}


def make_brand(tmp: Path, base_model: str | None = None, adapter: str | None = None,
               max_new_tokens: int | None = None, **generation) -> Path:
    """A copy of the sample brand kit in ``tmp/brand`` using the ``T`` test suite.

    ``max_new_tokens`` caps every task (the tiny random model rarely ends a turn by itself).
    """
    brand = tmp / "brand"
    brand.mkdir(parents=True, exist_ok=True)
    for name in ("schema.json", "claims.txt"):
        shutil.copy(ROOT / "brand" / name, brand / name)
    suite = tmp / "validators" / "T"
    suite.mkdir(parents=True, exist_ok=True)
    for name, rule in RULES.items():
        (suite / name).write_text(yaml.safe_dump(rule), encoding="utf-8")
    data = yaml.safe_load((ROOT / "brand" / "brand.yaml").read_text(encoding="utf-8"))
    data["validators"] = {"path": "../validators", "suites": ["T"]}
    data["model"]["adapter"] = adapter
    if base_model:
        data["model"]["base_model"] = base_model
        data["model"]["dtype"] = "float32"
    # The loop's mechanics under test: one candidate a round and the corrective note on,
    # whatever the sample brand ships as its defaults.
    # The lexicon is off: the tiny random model's text would be masked to a few hundred words.
    # Assembled copy is off too: these tests script what the model writes.
    data["generation"].update({"candidates": 1, "feedback": True, "max_attempts": 3, "lexicon": "open",
                               "assemble": [], "fallback": "model",
                               **generation})
    if max_new_tokens:
        for task in data["tasks"].values():
            task["max_new_tokens"] = max_new_tokens
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return brand


def make_shopify_brand(tmp: Path, **fields) -> Path:
    """:func:`make_brand` reading a Shopify product export: Title, Type and the body's list
    items as name, category and features, plus ``fields`` (variable -> catalog field spec)."""
    brand = make_brand(tmp)
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["catalog"] = {"format": "shopify-csv", "id": "Handle", "html_columns": ["Body (HTML)"],
                       "fields": {"name": {"column": "Title", "required": True},
                                  "category": {"column": "Type", "required": True},
                                  "features": {"column": "Body (HTML) [list]", "list": True, "required": True},
                                  **fields}}
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return brand


def product(sku: str, name: str | None = None, **extra) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(sku=sku, name=name or f"Trail Thing {sku}", category="Camp",
               features="folds flat;packs small", materials="aluminum", weight="9 oz")
    row.update(extra)
    return row


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def parse_key(request) -> tuple[str, str]:
    """(row id, task) of a GenRequest made by the run loop."""
    rid, task = request.key.rsplit("/", 1)
    return rid, task


GOOD = {
    "description": "It folds flat and packs small, so it rides in the lid pocket. Aluminum keeps it at 9 oz.",
    "meta_description": "A 9 oz aluminum camp piece that folds flat and packs small for the trail.",
    "bullets": "- Folds flat for packing\n- Packs small in a lid pocket\n- Aluminum, 9 oz",
}


def good(task: str) -> str:
    return GOOD[task]


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate_bad_catalog(tmp_path: Path, content: bytes):
    """``stylegen generate`` on a catalog file holding ``content``: (catalog path, CliRunner result)."""
    from click.testing import CliRunner
    from stylegen.cli import cli

    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    brand = make_brand(tmp_path)
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(path),
                                      "--out", str(tmp_path / "run"), "--no-adapter"])
    return path, result
