"""Helpers for the voice and eval tests: a small copy of the sample brand kit and
contrast text that reads nothing like it (generic marketing copy, written here)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Generic catalogue copy: exclamations, hype, "your journey". Deterministically mixed
# per record so no two contrast texts are the same.
_OPEN = ["Introducing the {name}, the ultimate companion for every adventure!",
         "Experience unparalleled comfort with the innovative {name}.",
         "Elevate your outdoor journey with the amazing {name}!",
         "Discover the {name}: where cutting-edge design meets everyday excellence."]
_MIDDLE = ["Crafted with meticulous attention to detail, it delivers exceptional performance in any conditions.",
           "Its revolutionary design ensures you stay comfortable no matter where life takes you.",
           "Whether you are a seasoned explorer or just starting out, this is the perfect choice for you.",
           "Designed for those who demand the very best, it combines style and functionality seamlessly."]
_CLOSE = ["Don't miss out on this must-have essential, order yours today!",
          "Get ready to embark on unforgettable experiences with confidence.",
          "It truly is a game-changer for outdoor enthusiasts everywhere.",
          "Unleash your potential and make every moment count!"]


def contrast_record(rec: dict, i: int) -> dict:
    """A generic-marketing counterpart of an approved record (same product, other voice)."""
    name = rec["facts"]["name"]
    pick = lambda options, k: options[(i + k) % len(options)]  # noqa: E731
    description = " ".join([pick(_OPEN, 0).format(name=name), pick(_MIDDLE, 1), pick(_MIDDLE, 2), pick(_CLOSE, 3)])
    meta = f"{pick(_OPEN, 1).format(name=name)} {pick(_CLOSE, 2)}"
    bullets = [f"Amazing {f.lower()} for ultimate performance!" for f in rec["facts"].get("features", [])[:4]]
    return {"id": rec["id"], "description": description, "meta_description": meta, "bullets": bullets}


def make_kit(tmp: Path, per_file: int = 20) -> Path:
    """``tmp/brand`` (sample brand kit), ``tmp/validators`` and ``per_file`` approved records
    from each sample file; returns the brand folder."""
    brand = tmp / "brand"
    shutil.copytree(ROOT / "brand", brand, ignore=shutil.ignore_patterns("voice-model*"))
    shutil.copytree(ROOT / "validators", tmp / "validators", ignore=shutil.ignore_patterns("Voice.yml"))
    data = tmp / "training_data" / "approved"
    data.mkdir(parents=True)
    for path in sorted((ROOT / "training_data" / "approved").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()[:per_file]
        (data / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return brand


def approved(kit: Path) -> list[dict]:
    data = kit.parent / "training_data" / "approved"
    return [json.loads(line) for path in sorted(data.glob("*.jsonl")) for line in path.read_text().splitlines()]


def write_contrast(kit: Path, name: str = "voice-model.contrast.jsonl") -> Path:
    path = kit / name
    rows = [contrast_record(rec, i) for i, rec in enumerate(approved(kit))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
