"""Prepare the Magento Luma sample catalog as a third brand: approved copy and a held-back catalog.

    python benchmarks/prepare_luma.py /work/data/luma --out /work/data/luma-prepared

PATH is a checkout (or an extracted copy) of the public ``magento/magento2-sample-data``
repository; it is read, never copied into this repository. Products come from
``ConfigurableSampleData/fixtures/products.csv`` (the clothing: one configurable row a
product, its simple children one row a size and colour) and
``CatalogSampleData/fixtures/SimpleProduct/products_*.csv`` (the gear: bags, fitness
equipment, watches; colour variants of one ball are rows with the same name). Each
product's HTML description holds the copy in ``<p>`` paragraphs and its listed details
in ``<li>`` items or ``&bull;`` lines.

Writes, into ``--out``:

* ``approved.csv``: four fifths of the products (per attribute set, seeded): ``sku``,
  ``description`` (the ``<p>`` text), and the facts in columns named as Luma names its
  attributes (``material``, ``pattern``, ``climate``, ``style``, ``activity``, ...), the
  listed details as ``details``; list values are joined with ``"; "``. Ready for
  ``stylegen init kit --from approved.csv --id-field sku --name Luma``.
* ``catalog.csv``: the other fifth, the same fact columns without the copy, variants
  folded into their product (``size`` and ``color`` lists).
* ``heldout_copy.csv``: the held-back products' own copy (sku, description), to compare
  generated copy with; never give it to ``generate``.

Merchandising flags (new, sale, erin_recommends, special_price, stock) are left out: they
are not facts about the product. Grouped products and downloadable videos are left out.
"""
from __future__ import annotations

import argparse
import csv
import html
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

FIXTURES = "app/code/Magento"
CONFIGURABLE = "ConfigurableSampleData/fixtures/products.csv"
GEAR_GLOB = "CatalogSampleData/fixtures/SimpleProduct/products_*.csv"
# Luma attributes kept as facts, in output column order (Luma's own names).
FACTS = ["name", "categories", "gender", "details", "material", "pattern", "climate", "style", "activity",
         "category_gear", "features_bags", "strap_bags", "eco_collection", "performance_fabric", "size", "color",
         "price"]
_HELD_BACK = 5  # one product in five goes to the catalog
_LIST_JOIN = "; "
_TAG = re.compile(r"<[^>]+>")
_BULLET = "&bull;"
_DETAIL_WORDS = 12  # a <br>-separated paragraph of lines this short is a details list, not prose


def split_description(raw: str) -> tuple[str, list[str]]:
    """(copy, details) of a Luma HTML description.

    The copy is the text of the ``<p>`` paragraphs that are not bullet lines; details are
    the ``<li>`` items, the ``&bull;`` lines and the lines of a paragraph of short
    ``<br>``-separated lines, as written (a closing period dropped).
    """
    details = [_text(m) for m in re.findall(r"<li>(.*?)(?=</li>|<li>|</ul>|$)", raw, re.DOTALL | re.IGNORECASE)]
    rest = re.sub(r"<ul>.*?(?:</ul>|$)", " ", raw, flags=re.DOTALL | re.IGNORECASE)
    prose = []
    for chunk in re.split(r"</?p\s*/?>", rest, flags=re.IGNORECASE):
        lines = re.split(r"<br\s*/?>", chunk.replace(_BULLET, "<br />"), flags=re.IGNORECASE)
        if _BULLET in chunk or (len(lines) > 1 and all(len(_text(x).split()) <= _DETAIL_WORDS for x in lines)):
            details += [_text(part) for part in lines]
        elif _text(chunk):
            prose.append(_text(chunk))
    return " ".join(prose), [d.rstrip(".").strip() for d in details if d.rstrip(". ")]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", fragment))).strip()


def _attributes(cell: str) -> dict[str, str]:
    """Luma's ``additional_attributes`` cell: ``key=value,key=a|b`` (a value never holds ``,=``)."""
    out = {}
    for part in re.split(r",(?=[a-z_]+=)", cell or ""):
        key, _, value = part.partition("=")
        out[key.strip()] = html.unescape(value.strip())
    return out


def _list(values) -> str:
    items = [html.unescape(v).strip() for v in values if v and v.strip()]
    return _LIST_JOIN.join(dict.fromkeys(items))


def _leaf_category(paths: str) -> tuple[str, str]:
    """(leaf category, gender) of the first category path ``Default Category/Men/Tops/Hoodies``."""
    first = [p for p in paths.split(",") if p.count("/") >= 2]
    parts = first[0].split("/") if first else ["", ""]
    gender = parts[1] if parts[1] in ("Men", "Women") else ""
    return parts[-1], gender


def configurable_products(path: Path) -> list[dict]:
    """Clothing products: the configurable row with its children's sizes and colours folded in."""
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    products = []
    for row in (r for r in rows if r["product_type"] == "configurable"):
        attrs = _attributes(row["additional_attributes"])
        variants = [_attributes(v) for v in row["configurable_variations"].split("|")]
        copy, details = split_description(row["description"])
        category, gender = _leaf_category(row["categories"])
        products.append({
            "sku": row["sku"], "set": row["attribute_set_code"], "description": copy,
            "name": html.unescape(row["name"]).strip(), "categories": category, "gender": gender,
            "details": _list(details),
            "material": _list(attrs.get("material", "").split("|")),
            "pattern": _list(attrs.get("pattern", "").split("|")),
            "climate": _list(attrs.get("climate", "").split("|")),
            "style": _list((attrs.get("style_general") or attrs.get("style_bottom") or "").split("|")),
            "eco_collection": attrs.get("eco_collection", ""),
            "performance_fabric": attrs.get("performance_fabric", ""),
            "size": _list(v.get("size", "") for v in variants), "color": _list(v.get("color", "") for v in variants),
            "price": row["price"]})
    return products


def _lines(row: dict, key: str) -> str:
    """A gear cell's values (Luma's list cells are lines)."""
    return _list(row.get(key, "").split("\n"))


def gear_products(paths: list[Path]) -> list[dict]:
    """Gear products; rows with one name (a ball in several colours) are one product."""
    by_name: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        for row in csv.DictReader(path.open(encoding="utf-8", newline="")):
            by_name[html.unescape(row["name"]).strip()].append(row)
    products = []
    for name, rows in by_name.items():
        row = rows[0]
        copy, details = split_description(row["description"])
        category = [c for c in row["category"].split("\n") if c and c not in ("Gear", "Collections", "Erin Recommends")]
        products.append({
            "sku": row["sku"], "set": row["attribute_set"], "description": copy, "name": name,
            "categories": category[0] if category else "", "gender": _lines(row, "gender"), "details": _list(details),
            "material": _lines(row, "material"), "pattern": _lines(row, "pattern"), "activity": _lines(row, "activity"),
            "category_gear": _lines(row, "category_gear"), "features_bags": _lines(row, "features_bags"),
            "strap_bags": _lines(row, "strap_bags"), "style": _lines(row, "style_bags"),
            "eco_collection": "Yes" if row.get("eco_collection") == "1" else "",
            "performance_fabric": "Yes" if row.get("performance_fabric") == "1" else "",
            "size": _list(r.get("size", "") for r in rows), "color": _list(r.get("color", "") for r in rows),
            "price": row["price"]})
    return products


def split(products: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """(approved, held back): within each attribute set, a seeded fifth is held back."""
    rng = random.Random(seed)
    approved, held = [], []
    by_set: dict[str, list[dict]] = defaultdict(list)
    for product in sorted(products, key=lambda p: p["sku"]):
        by_set[product["set"]].append(product)
    for name in sorted(by_set):
        group = by_set[name]
        rng.shuffle(group)
        cut = round(len(group) / _HELD_BACK)
        held += group[:cut]
        approved += group[cut:]
    return sorted(approved, key=lambda p: p["sku"]), sorted(held, key=lambda p: p["sku"])


def write(path: Path, products: list[dict], columns: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(products)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="magento2-sample-data checkout (or its app/code/Magento)")
    parser.add_argument("--out", type=Path, required=True, help="folder for approved.csv, catalog.csv, ...")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args(argv)
    root = args.path / FIXTURES if (args.path / FIXTURES).is_dir() else args.path
    if not (root / CONFIGURABLE).is_file():
        print(f"{args.path}: no {FIXTURES}/{CONFIGURABLE}; give the sample-data checkout", file=sys.stderr)
        return 2
    products = configurable_products(root / CONFIGURABLE) + gear_products(sorted(root.glob(GEAR_GLOB)))
    products = [p for p in products if p["description"]]
    approved, held = split(products, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "approved.csv", approved, ["sku", "description", *FACTS])
    write(args.out / "catalog.csv", held, ["sku", *FACTS])
    write(args.out / "heldout_copy.csv", held, ["sku", "name", "description"])
    sets = Counter(p["set"] for p in products)
    print(f"{len(products)} products ({', '.join(f'{k} {v}' for k, v in sorted(sets.items()))})")
    print(f"approved.csv: {len(approved)} products; catalog.csv: {len(held)} held back (seed {args.seed})")
    mean_details = sum(len(p['details'].split(_LIST_JOIN)) for p in products if p['details']) / len(products)
    print(f"details per product: mean {mean_details:.1f};"
          f" with no details: {sum(not p['details'] for p in products)}")
    print(f"copy words per product: mean {sum(len(p['description'].split()) for p in products) / len(products):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
