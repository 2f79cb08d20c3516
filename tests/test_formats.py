"""Platform catalog exports: Shopify's product CSV (variants folded) and Magento-style cells."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from stylegen.errors import ConfigError
from stylegen.catalog.rows import read_catalog
from stylegen.catalog.formats import parse_html_body
from stylegen.kit.brand import load_brand

ROOT = Path(__file__).resolve().parent.parent

SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Name", "Option1 Value",
                  "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value", "Variant SKU", "Variant Grams",
                  "Variant Price", "Image Src", "SEO Title", "SEO Description"]

BODY = ("<p>A light shell for <b>wet</b> ridges &amp; long days.</p><script>alert('x')</script>"
        "<style>p{color:red}</style><ul><li>Pit zips</li><li>Helmet-ready hood</li></ul>")

SHOPIFY_ROWS = [
    ["ridge-shell", "Ridge Shell", BODY, "Kettle & Cairn", "Jackets", "rain, shell", "Size", "S", "Color", "Moss",
     "", "", "RS-S-M", "410", "189.00", "https://x/img.jpg", "Ridge Shell", "A light shell."],
    ["ridge-shell", "", "", "", "", "", "", "M", "", "Moss", "", "", "RS-M-M", "420", "189.00", "", "", ""],
    ["ridge-shell", "", "", "", "", "", "", "L", "", "Slate", "", "", "RS-L-S", "430", "189.00", "", "", ""],
    ["camp-mug", "Camp Mug", "<p>Enamel mug.</p>", "Kettle & Cairn", "Kitchen", "", "Title", "Default Title",
     "", "", "", "", "CM-1", "300", "24.00", "", "", ""],
    ["", "Orphan", "", "", "", "", "", "", "", "", "", "", "X-1", "", "", "", "", ""],
    ["no-title", "", "", "", "", "", "", "", "", "", "", "", "NT-1", "", "", "", "", ""],
]


def _cmap(tmp_path: Path, catalog: dict):
    """The sample brand kit with its catalog section replaced."""
    brand = tmp_path / "brand"
    brand.mkdir()
    for path in (ROOT / "brand").iterdir():
        if path.is_file() and path.name != "brand.yaml":
            (brand / path.name).write_bytes(path.read_bytes())
    data = yaml.safe_load((ROOT / "brand" / "brand.yaml").read_text(encoding="utf-8"))
    data["catalog"] = catalog
    data.setdefault("validators", {})["path"] = str(ROOT / "validators")
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_brand(brand).catalog


SHOPIFY_MAP = {
    "format": "shopify-csv", "id": "Handle", "html_columns": ["Body (HTML)"],
    "fields": {"name": {"column": "Title", "required": True}, "category": {"column": "Type"},
               "features": {"column": "Body (HTML) [list]", "list": True},
               "summary": {"column": "Body (HTML)"},
               "sizes": {"column": "Size"}, "colors": {"column": "Color", "list": True},
               "skus": {"column": "Variant SKU", "list": True}},
}


def _write(path: Path, header, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_html_body_parsed_into_text_and_list_items():
    text, items = parse_html_body(BODY)
    assert text == "A light shell for wet ridges & long days."
    assert items == ["Pit zips", "Helmet-ready hood"]


def test_shopify_export_golden(tmp_path):
    cat = read_catalog(_write(tmp_path / "products.csv", SHOPIFY_HEADER, SHOPIFY_ROWS), _cmap(tmp_path, SHOPIFY_MAP))
    rows = {r.id: (r.line, r.facts) for r in cat.rows}
    assert rows == {
        "ridge-shell": (2, {"name": "Ridge Shell", "category": "Jackets", "features": ["Pit zips", "Helmet-ready hood"],
                            "summary": "A light shell for wet ridges & long days.", "sizes": "S, M, L",
                            "colors": ["Moss", "Slate"], "skus": ["RS-S-M", "RS-M-M", "RS-L-S"]}),
        "camp-mug": (5, {"name": "Camp Mug", "category": "Kitchen", "summary": "Enamel mug.", "skus": ["CM-1"]}),
    }
    rejects = {r.line: r.reason for r in cat.rejects}
    assert set(rejects) == {6, 7}  # the CSV lines of the row without a Handle and the product without a Title
    assert "missing id" in rejects[6] and "'Title'" in rejects[7] and "required" in rejects[7]


def test_multiline_cells_keep_csv_line_numbers(tmp_path):
    rows = [["a", "A", "<p>one\ntwo</p>", *[""] * 15], ["", "B", "", *[""] * 15]]
    cat = read_catalog(_write(tmp_path / "p.csv", SHOPIFY_HEADER, rows), _cmap(tmp_path, SHOPIFY_MAP))
    assert [r.line for r in cat.rows] == [2] and [r.line for r in cat.rejects] == [4]


MAGENTO_HEADER = ["sku", "name", "description", "features", "color", "materials"]


def test_magento_newline_multi_values_and_html_description(tmp_path):
    rows = [["MG-1", "Trail Pack", "<div><p>Carries a day.</p><ul><li>Hip belt</li></ul></div>",
             "Rain cover\nHydration sleeve\n", "Moss\nSlate", "nylon|polyester"]]
    cmap = _cmap(tmp_path, {
        "format": "magento-csv", "id": "sku", "html_columns": ["description"], "separators": {"materials": "|"},
        "fields": {"name": {"column": "name", "required": True}, "features": {"column": "features", "list": True},
                   "details": {"column": "description [list]", "list": True},
                   "description": {"column": "description"},
                   "colors": {"column": "color", "list": True}, "materials": {"column": "materials", "list": True}}})
    cat = read_catalog(_write(tmp_path / "export.csv", MAGENTO_HEADER, rows), cmap)
    assert not cat.rejects
    assert cat.rows[0].facts == {"name": "Trail Pack", "features": ["Rain cover", "Hydration sleeve"],
                                 "details": ["Hip belt"], "description": "Carries a day.",
                                 "colors": ["Moss", "Slate"], "materials": ["nylon", "polyester"]}


def test_unknown_format_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="catalog.format"):
        _cmap(tmp_path, {"format": "woocommerce", "id": "sku", "fields": {"name": {"column": "name"}}})
