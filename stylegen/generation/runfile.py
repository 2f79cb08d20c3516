"""The run file of a night of several brands (``stylegen generate --runs night.yaml``).

A *run file* lists the brands of the night; every row is generated with its own brand's
task prompts, sampling settings, adapter and validators, and the run directory keeps the
single-brand contract (one ledger, ``outputs.jsonl`` / ``rejects.jsonl``, every row exactly
once, a re-run resumes)::

    brands:
      - brand: brand                         # brand kit folder (or its brand.yaml)
        catalog: catalog/sample_catalog.csv  # CSV or JSONL, read with that kit's mapping
        name: kettle-cairn                   # optional; default: the kit's name, lower-cased, dashed
        limit: 100                           # optional: the first N catalog rows
        adapter: adapters/kettle-cairn       # optional: instead of brand.yaml model.adapter
        no_adapter: false                    # optional: prompt-only for this brand
      - brand: samples/halyard-hem/brand
        catalog: samples/halyard-hem/catalog/shopify_products.csv
    out: runs/night                          # optional (--out wins; default runs/nightly)

Relative paths are relative to the run file's folder. Unknown keys and bad values are
refused, every problem at once, each naming the key path (exit 2). Each brand becomes a
lane of the run (:mod:`.lanes`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.kit.yaml_lines import load_yaml
from stylegen.kit.config import load_dataclass, Problems

DEFAULT_OUT = "runs/nightly"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # also a PEFT adapter name: no dots


# --- the run file --------------------------------------------------------------------


@dataclass(frozen=True)
class BrandRun:
    """One brand of a run file: its kit, its catalog and how to generate it."""

    brand: str
    catalog: str
    name: str | None = None
    limit: int | None = None
    adapter: str | None = None
    no_adapter: bool = False

    RANGES = {"limit": ">=0"}


@dataclass
class RunFile:
    """A night of several brands (``stylegen generate --runs FILE``)."""

    brands: list[BrandRun]
    out: str | None = None
    path: Path = field(default=Path("."), init=False, compare=False)  # the file itself (not a key)

    def resolve(self, value: str) -> Path:
        """A path from the run file, relative to its folder."""
        return (self.path.parent / Path(value).expanduser()).resolve()


def load_run_file(path: str | Path) -> RunFile:
    """Load and check a run file; every problem at once, each naming ``file:line: key.path``.

    Raises:
        ConfigError: the file is missing, not YAML, or has unknown keys or bad values.
    """
    path = Path(path)
    data = load_yaml(path)
    problems = Problems(str(path))
    run = load_dataclass(RunFile, data, problems)
    if isinstance(data, dict) and isinstance(data.get("brands"), list):
        _check_entries(data, problems)
    if problems or run is None:
        raise ConfigError(problems or [f"{path}: not a run file"])
    run.path = path.resolve()
    return run


def _check_entries(data: dict, problems: Problems) -> None:
    """Checks beyond types, on the file's own list (so ``brands[i]`` is the i-th entry as written)."""
    entries = data["brands"]
    if not entries:
        problems.add(data, "brands", "brands", "must list at least one brand")
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue  # already reported: must be a mapping
        if entry.get("adapter") and entry.get("no_adapter") is True:
            problems.add(entry, "no_adapter", f"brands[{i}].no_adapter",
                         f"excludes brands[{i}].adapter; give one of them")
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if not NAME.match(name):
            problems.add(entry, "name", f"brands[{i}].name", f"{name!r} is not a brand name (letters, digits,"
                         " '-' and '_', at most 64, starting with a letter or digit)")
        elif name in seen:
            problems.add(entry, "name", f"brands[{i}].name",
                         f"{name!r} is already brands[{seen[name]}]'s name; give each brand its own")
        else:
            seen[name] = i


def slug(text: str) -> str:
    """A brand name from a kit's display name: ``Kettle & Cairn`` -> ``kettle-cairn``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "brand"
