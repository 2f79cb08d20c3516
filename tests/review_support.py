"""A run directory for the review tests: a scripted generate over a 4-row catalog.

A is rejected (its description always says "best"), B is accepted with a warning (a
long description), C is clean, and X's product name is a ``<script>`` (rejected too).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from gen_support import good, make_brand, parse_key, product, write_csv
from stylegen.generation.engine import ScriptedEngine
from stylegen.generation.run import GenerateOptions, run_generate

BAD = "The best pot you will pack. " + good("description")
LONG = " ".join(["It folds flat and packs small."] * 9)  # 54 words: a warning
SCRIPT_NAME = "<script>alert('x')</script> Pot"
ANSWERS = {("A", "description"): BAD, ("X", "description"): BAD + " <script>alert(2)</script>", ("B", "description"): LONG}


def make_run(root: Path) -> Path:
    """Generate the run once into ``root/run`` and return its path."""
    brand = make_brand(root)
    rows = [product("A"), product("B"), product("C"), product("X", name=SCRIPT_NAME)]
    catalog = write_csv(root / "cat.csv", rows)
    engine = ScriptedEngine(lambda req: ANSWERS.get(parse_key(req), good(parse_key(req)[1])))
    run_generate(GenerateOptions(brand=str(brand), catalog=str(catalog), out=str(root / "run"), no_adapter=True,
                                 progress=False), engine=engine)
    return root / "run"


def copy_run(run: Path, dest: Path) -> Path:
    """A fresh copy of the run directory (each test decides on its own copy)."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest
