"""Kit helpers for tests. A copied kit's validators folder that tests may edit: the sample's suites plus a copy
of the built-in Default suite as an override folder (a kit file overrides the built-in
file of the same name, so editing the copy changes the rule the kit loads)."""
from __future__ import annotations

import shutil
from pathlib import Path

from stylegen.validation.suites import BUILTIN_DIR

ROOT = Path(__file__).resolve().parent.parent


def copy_validators(dst: Path) -> Path:
    """Copy the sample validators and the built-in suites to ``dst``; return ``dst``."""
    shutil.copytree(ROOT / "validators", dst)
    for suite in BUILTIN_DIR.iterdir():
        if suite.is_dir() and not suite.name.startswith(("_", ".")):
            (dst / suite.name).mkdir(exist_ok=True)
            for rule in suite.iterdir():  # the sample's own override of a built-in rule stays
                if not (dst / suite.name / rule.name).exists():
                    shutil.copy(rule, dst / suite.name / rule.name)
    return dst


# A record that passes every sample-brand rule (validate tests start from it and break one thing).
GOOD = {
    "id": "T-1",
    "description": ("The Ridgeback stove boils a liter of water in about four minutes on a calm evening. "
                    "It folds to the size of a deck of cards and rides in your pot. "
                    "The burner head spreads the flame wide, so your pasta cooks instead of scorching in one spot. "
                    "A wire pot support locks open with a quarter turn. "
                    "Screw it onto any standard canister and you are cooking before your friends find their spoons."),
    "meta_description": "A folding canister stove that boils a liter in about four minutes and rides inside your pot.",
    "bullets": ["Boils a liter in about four minutes", "Folds to the size of a deck of cards",
                "Wide burner head for even heat"],
}
