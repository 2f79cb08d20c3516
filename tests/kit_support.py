"""A copied kit's validators folder that tests may edit: the sample's suites plus a copy
of the built-in Default suite as an override folder (a kit file overrides the built-in
file of the same name, so editing the copy changes the rule the kit loads)."""
from __future__ import annotations

import shutil
from pathlib import Path

from stylegen.validation.rules import BUILTIN_DIR

ROOT = Path(__file__).resolve().parent.parent


def copy_validators(dst: Path) -> Path:
    """Copy the sample validators and the built-in suites to ``dst``; return ``dst``."""
    shutil.copytree(ROOT / "validators", dst)
    for suite in BUILTIN_DIR.iterdir():
        if suite.is_dir() and not suite.name.startswith(("_", ".")):
            shutil.copytree(suite, dst / suite.name)
    return dst
