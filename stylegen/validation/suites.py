"""Where a kit's rule suites are: the built-in ones in the package, the kit's own folder.

A suite is a folder of rule files; a kit file of the same name overrides a built-in rule.
Kept apart from :mod:`.rules` (which loads the check types) so that a check type can ask
which suites and rule files exist without importing the checks package it belongs to.
"""
from __future__ import annotations

from pathlib import Path

RULE_SUFFIXES = (".yml", ".yaml")
# Suites that ship inside the package: `suites: [Default]` works with no validators folder.
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def suites_dir(brand) -> Path:
    """The kit's own folder of validator suites (it may not exist: built-in suites still load)."""
    return brand.resolve(brand.validators.path)


def _suite_folders(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


def available_suites(brand) -> list[str]:
    """Names of the suites a kit can use: the built-in ones and its own folder's."""
    return sorted(set(_suite_folders(BUILTIN_DIR)) | set(_suite_folders(suites_dir(brand))))


def suite_files(brand, suite: str) -> list[Path]:
    """A suite's rule files: the built-in ones, each replaced by a kit file of the same
    name (``validators/Default/Passive.yml`` overrides the built-in ``Passive``), plus the
    kit's own files; sorted by rule name."""
    files: dict[str, Path] = {}
    for root in (BUILTIN_DIR, suites_dir(brand)):
        folder = _suite_folders(root).get(suite)
        for file in sorted(folder.iterdir()) if folder else []:
            if file.suffix in RULE_SUFFIXES:
                files[file.stem] = file
    return [files[name] for name in sorted(files)]
