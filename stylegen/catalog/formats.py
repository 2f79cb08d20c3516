"""Platform catalog exports (Shopify, Magento) read into the raw rows the catalog reader maps.

The brand kit's ``catalog`` section says how the file is laid out:

- ``format: shopify-csv``: Shopify's product CSV export. One product spreads over several
  rows sharing a ``Handle``: the first carries Title, Body (HTML), Vendor, Type, Tags; later
  rows only the Handle and variant columns. The rows are folded into one product: each option
  becomes a list column named by the option (``Option1 Name`` = ``Size`` gives a ``Size``
  column holding ``[S, M, L]``), and ``Variant SKU`` / ``Variant Price`` / ``Variant Grams``
  hold every variant's value. The product's line is its first row's CSV line.
- ``format: magento-csv``: Magento-style exports, one product a row, several values in one
  cell separated by newlines (the default list separator of this format).
- ``separators: {COLUMN: SEP}``: the list separator of one column (default ``list_separator``,
  or a newline for ``magento-csv``).
- ``html_columns: [COLUMN]``: cells parsed with :mod:`html.parser`: the column holds the text
  outside lists (script/style dropped), ``"COLUMN [list]"`` holds the ``<li>`` items.
  Entities are decoded once, by the parser, and markup that decoding would produce
  (``&lt;script&gt;``) is dropped like a real tag; a tag left unclosed at the end of a cell
  (``</ul``) is dropped too. A Handle that comes back after other products is a malformed
  row naming both lines.

A list value mapped to a text field is joined with ", " ("sizes: S, M, L").
"""
from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

from stylegen.errors import DataError

PLATFORM_FORMATS = ("shopify-csv", "magento-csv")
LIST_SUFFIX = " [list]"
_VARIANT_COLUMNS = ("Variant SKU", "Variant Price", "Variant Grams")
_OPTIONS = 3


class _Body(HTMLParser):
    """Text and ``<li>`` items of an HTML body; script and style content is dropped."""

    _SKIP = {"script", "style", "template", "noscript"}
    _BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "tr", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.items: list[str] = []
        self._item: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "li":
            self.close_item()
            self._item = []
        elif tag in self._BLOCK:
            self.text.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in ("li", "ul", "ol"):
            self.close_item()
        elif tag in self._BLOCK:
            self.text.append("\n")

    def handle_data(self, data):
        if self._skip:
            return
        (self._item if self._item is not None else self.text).append(no_markup(data))

    def close_item(self):
        if self._item is not None:
            item = _squash("".join(self._item))
            if item:
                self.items.append(item)
        self._item = None


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()  # entities were decoded once, by the parser


# A tag in text the parser handed over as data was written as entities ("&lt;script&gt;"):
# decoding must never turn it into markup, so it is dropped like a real tag.
_DECODED_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL)
# A tag still open at the end of a cell ("...</ul"): html.parser would hand it over as text.
_UNCLOSED_TAG = re.compile(r"<(?:/?[A-Za-z!][^<>]*)?\Z")


def no_markup(text: str) -> str:
    """Decoded text with any markup that decoding produced removed (the text between tags kept)."""
    return _DECODED_TAG.sub("", text) if "<" in text else text


def feed_html(parser: HTMLParser, value: str) -> None:
    """Feed a cell to an HTML parser, dropping a tag left unclosed at its end, and close it."""
    parser.feed(_UNCLOSED_TAG.sub("", value))
    parser.close()


def parse_html_body(value: str) -> tuple[str, list[str]]:
    """The text of an HTML body outside its lists, and its ``<li>`` items.

    Paragraphs are joined with a space; script and style contents never reach the text.
    """
    parser = _Body()
    feed_html(parser, value)
    parser.close_item()
    paragraphs = [_squash(p) for p in "".join(parser.text).split("\n")]
    return " ".join(p for p in paragraphs if p), parser.items


def platform_rows(path: Path, text: str, cmap) -> list[tuple[int, dict | str]]:
    """(CSV line, raw row | error string) per product of a platform export or mapped CSV.

    Raises:
        DataError: no header line, or the header lacks the id column.
    """
    header, records = _csv_records(path, text, cmap)
    if cmap.format == "shopify-csv":
        records = _fold_shopify(records, cmap.id)
    return [(line, raw if isinstance(raw, str) else shape_row(raw, cmap)) for line, raw in records]


def _csv_records(path: Path, text: str, cmap):
    csv.field_size_limit(64 * 1024 * 1024)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"{path}: not a {cmap.format} catalog: cannot read the header line ({exc})") from None
    if cmap.id not in header:
        raise DataError(f"{path}: not a {cmap.format} catalog: header line lacks the id column {cmap.id!r}"
                        f" (brand.yaml catalog.id); found: {', '.join(header[:8])}")
    records, start = [], reader.line_num + 1
    try:
        for values in reader:
            if any(v.strip() for v in values):
                records.append((start, dict(zip(header, values)) if len(values) == len(header) else
                                f"malformed CSV row: {len(values)} fields, header has {len(header)}"))
            start = reader.line_num + 1
    except csv.Error as exc:
        records.append((start, f"malformed CSV from here to the end of the file: {exc}"))
    return header, records


def _fold_shopify(records, id_column: str):
    """One record per Handle: the first row's columns, every variant's options and values.

    A product's rows come together in a Shopify export; a Handle that comes back after
    other products is another product under a reused Handle (or a merged file), so it is a
    malformed row naming both lines rather than variants silently added to the first.
    """
    products: dict[str, tuple[int, dict]] = {}
    out: list[tuple[int, dict | str]] = []
    previous = None
    for line, raw in records:
        handle = raw.get(id_column, "").strip() if isinstance(raw, dict) else None
        if not handle:  # a string (malformed row) or a row with no Handle stays a reject
            out.append((line, raw))
            continue
        if handle in products and handle != previous:
            reason = (f"{id_column} {handle!r} repeats the product of line {products[handle][0]} after other "
                      "products; a product's rows must be together: rename one of them or move the row up")
            out.append((line, reason))
            continue
        previous = handle
        if handle not in products:
            product = {k: v for k, v in raw.items() if v.strip()}
            products[handle] = (line, product)
            out.append((line, product))
        _add_variant(products[handle][1], raw)
    return out


def _add_variant(product: dict, row: dict) -> None:
    for n in range(1, _OPTIONS + 1):
        name = (product.get(f"Option{n} Name") or "").strip()
        value = (row.get(f"Option{n} Value") or "").strip()
        if name and value and not (name == "Title" and value == "Default Title"):
            _append_unique(product, name, value)
    for column in _VARIANT_COLUMNS:
        value = (row.get(column) or "").strip()
        if value:
            _append_unique(product, column, value)


def _append_unique(product: dict, key: str, value: str) -> None:
    values = product.get(key)
    if not isinstance(values, list):
        values = product[key] = []
    if value not in values:
        values.append(value)


def shape_row(raw: dict, cmap) -> dict:
    """Parse the mapping's HTML columns and split or join values to fit each mapped field."""
    raw = dict(raw)
    for column in cmap.html_columns:
        if isinstance(raw.get(column), str):
            raw[column], raw[column + LIST_SUFFIX] = parse_html_body(raw[column])
    default = "\n" if cmap.format == "magento-csv" else cmap.list_separator
    for spec in cmap.fields.values():
        value = raw.get(spec.column)
        if isinstance(value, list) and not spec.list:
            raw[spec.column] = ", ".join(str(v) for v in value)
        elif isinstance(value, str) and spec.list:
            separator = cmap.separators.get(spec.column, default)
            raw[spec.column] = [v.strip() for v in value.split(separator) if v.strip()]
    return raw
