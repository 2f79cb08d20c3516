"""`stylegen generate --runs night.yaml`: several brands in one run, driven through the real CLI
on the tiny model with two small adapters built with PEFT (no downloads).

The two sample brands (Kettle & Cairn in brand/, Halyard & Hem in samples/halyard-hem/) run
in one run directory: each row gets its own brand's adapter (the ledger's adapter hash per
attempt, and the same text as that brand run alone), prompts and rules; the run file is
strict; a re-run resumes and every row lands exactly once."""
from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gen_support import read_jsonl
from multi_support import make_adapter
from stylegen.cli import cli
from stylegen.generation.engine import TransformersEngine
from stylegen.training.adapter import adapter_sha256

ROOT = Path(__file__).resolve().parent.parent
KC_CATALOG = ROOT / "catalog" / "sample_catalog.csv"
HH_CATALOG = ROOT / "samples" / "halyard-hem" / "catalog" / "shopify_products.csv"


def _copy_kit(src: Path, dst: Path, base_model: Path, **generation) -> Path:
    """A copy of a sample kit (brand, validators, approved copy) on the tiny model, short outputs."""
    for part in ("brand", "validators", "training_data"):
        shutil.copytree(src / part, dst / part)
    path = dst / "brand" / "brand.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["model"].update(base_model=str(base_model), dtype="float32", adapter=None)
    data["generation"].update(candidates=1, max_attempts=2, batch_size=4, **generation)
    for task in data["tasks"].values():
        task["max_new_tokens"] = 10
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dst / "brand"


@pytest.fixture(scope="module")
def night(tmp_path_factory, tiny_model_dir):
    """Both sample kits on the tiny model and an adapter for each."""
    root = tmp_path_factory.mktemp("night")
    kits = {"kettle-cairn": _copy_kit(ROOT, root / "kc", tiny_model_dir),
            # the model writes this brand's descriptions here (the kit assembles them): one
            # engine call then holds both brands' requests, each with its own adapter
            "halyard-hem": _copy_kit(ROOT / "samples" / "halyard-hem", root / "hh", tiny_model_dir,
                                     assemble=["meta_description", "bullets"], fallback="model")}
    adapters = {"kettle-cairn": make_adapter(root / "adapter-kc", tiny_model_dir, seed=1),
                "halyard-hem": make_adapter(root / "adapter-hh", tiny_model_dir, seed=2,
                                            targets=("q_proj", "v_proj", "up_proj"))}
    return root, kits, adapters


def _run_file(path: Path, night, limit=3, **extra) -> Path:
    root, kits, adapters = night
    brands = [{"brand": str(kits["kettle-cairn"]), "catalog": str(KC_CATALOG), "limit": limit,
               "adapter": str(adapters["kettle-cairn"])},
              {"brand": str(kits["halyard-hem"]), "catalog": str(HH_CATALOG), "limit": limit,
               "adapter": str(adapters["halyard-hem"])}]
    path.write_text(yaml.safe_dump({"brands": brands, **extra}, sort_keys=False), encoding="utf-8")
    return path


def _invoke(*args):
    return CliRunner().invoke(cli, ["generate", *map(str, args)])


@pytest.fixture
def calls(monkeypatch):
    """Every engine call's requests, sampled or scored (the real engine runs them)."""
    seen: list[list] = []
    for name in ("generate", "score"):
        original = getattr(TransformersEngine, name)

        def spy(self, requests, original=original):
            seen.append(list(requests))
            return original(self, requests)

        monkeypatch.setattr(TransformersEngine, name, spy)
    return seen


def _attempts(out: Path, where: str = "1") -> list[dict]:
    db = sqlite3.connect(out / "ledger.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM attempts WHERE {where} ORDER BY row_key, task, attempt")]
    finally:
        db.close()


def _lines(out: Path) -> list[dict]:
    return read_jsonl(out / "outputs.jsonl") + read_jsonl(out / "rejects.jsonl")


def test_two_brands_one_run_each_row_with_its_own_adapter_and_rules(tmp_path, night, calls):
    root, kits, adapters = night
    out = tmp_path / "night"
    result = _invoke("--runs", _run_file(tmp_path / "night.yaml", night, out=str(out)))
    assert result.exit_code == 0, result.output
    for line in ("6 rows:", "kettle-cairn: 3 rows", "halyard-hem: 3 rows"):
        assert line in result.output
    lines = _lines(out)
    with open(KC_CATALOG, newline="", encoding="utf-8") as fh:
        first_three = [row["sku"] for row, _ in zip(csv.DictReader(fh), range(3))]
    assert sorted(r["id"] for r in lines if r["brand"] == "kettle-cairn") == sorted(first_three)
    assert sum(r["brand"] == "halyard-hem" for r in lines) == 3 and len(lines) == 6  # every row exactly once
    # one engine call held both brands' requests, each naming its brand's adapter
    assert any({r.adapter for r in call} == {"kettle-cairn", "halyard-hem"} for call in calls)
    sha = {name: adapter_sha256(path) for name, path in adapters.items()}
    rules = {"kettle-cairn": ("KettleCairn.", "Default.", "Sense."), "halyard-hem": ("HalyardHem.", "Default.", "Sense.")}
    shown = {"kettle-cairn": "Kettle & Cairn", "halyard-hem": "Halyard & Hem"}
    attempts = _attempts(out)
    assert {a["brand"] for a in attempts} == set(sha)
    for a in attempts:
        brand = a["brand"]
        assert a["adapter_hash"] == sha[brand]  # the adapter each attempt ran with
        assert a["row_key"].startswith(f"{brand}:")
        other = next(name for name in shown if name != brand)
        assert shown[brand] in a["prompt"] and shown[other] not in a["prompt"]  # its own brand's prompt
        found = {f["rule"] for f in json.loads(a["findings"])}
        assert all(rule.startswith(rules[brand]) for rule in found), (brand, found)
    assert any(f["rule"].startswith("HalyardHem.") for a in attempts for f in json.loads(a["findings"]))
    assert any(f["rule"].startswith("KettleCairn.") for a in attempts for f in json.loads(a["findings"]))
    db = sqlite3.connect(out / "ledger.sqlite")
    assert sorted(db.execute("SELECT brand, count(*) FROM rows GROUP BY brand").fetchall()) == [
        ("halyard-hem", 3), ("kettle-cairn", 3)]
    report = json.loads((out / "report.json").read_text())
    assert {n: b["rows"]["finished"] for n, b in report["brands"].items()} == {"kettle-cairn": 3, "halyard-hem": 3}
    md = (out / "report.md").read_text()
    assert "## Brand `kettle-cairn`" in md and "## Brand `halyard-hem`" in md and sha["halyard-hem"][:12] in md
    settings = json.loads((out / "settings.json").read_text())
    assert settings["engine"]["adapters"] == {n: str(p.resolve()) for n, p in adapters.items()}
    sheet = (out / "review-sample.html").read_text()
    accepted = read_jsonl(out / "outputs.jsonl")
    assert all(f"{r['brand']}: {r['id']}" in sheet for r in accepted), sheet  # each product under its brand
    assert accepted or "No accepted products" in sheet
    review = CliRunner().invoke(cli, ["review", str(out), "--export", str(tmp_path / "d.jsonl")])
    assert review.exit_code == 2 and "does not open those yet" in review.output  # not built: said plainly


@pytest.mark.parametrize("brand", ["kettle-cairn", "halyard-hem"])
def test_a_brand_in_a_mixed_run_gets_the_text_it_gets_alone(tmp_path, night, brand):
    """float32: the mixed run's attempts of a brand equal that brand's own single-brand run."""
    root, kits, adapters = night
    mixed = tmp_path / "mixed"
    assert _invoke("--runs", _run_file(tmp_path / "n.yaml", night, limit=2), "--out", mixed).exit_code == 0
    alone = tmp_path / "alone"
    catalog = KC_CATALOG if brand == "kettle-cairn" else HH_CATALOG
    result = _invoke("--brand", kits[brand], "--catalog", catalog, "--limit", 2, "--adapter", adapters[brand],
                     "--out", alone)
    assert result.exit_code == 0, result.output
    keys = ("task", "attempt", "seed", "prompt", "text", "adapter_hash", "errors")
    got = [(a["row_key"].split(":", 1)[1], *(a[k] for k in keys)) for a in _attempts(mixed, f"brand = '{brand}'")]
    want = [(a["row_key"], *(a[k] for k in keys)) for a in _attempts(alone)]
    assert got == want and got
    strip = lambda r: {k: v for k, v in r.items() if k != "brand"}  # noqa: E731
    assert sorted(map(json.dumps, (strip(r) for r in _lines(mixed) if r["brand"] == brand))) == \
        sorted(map(json.dumps, _lines(alone)))


def test_run_file_problems_are_all_reported_with_key_paths(tmp_path, night):
    root, kits, adapters = night
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "brands": [{"brand": str(kits["kettle-cairn"]), "catalogue": "x.csv"},
                   {"brand": str(kits["halyard-hem"]), "catalog": str(HH_CATALOG), "limit": -1, "name": "a b",
                    "adapter": str(adapters["halyard-hem"]), "no_adapter": True},
                   {"brand": 3, "catalog": str(KC_CATALOG), "limit": "ten"}],
        "output": "runs/x"}, sort_keys=False))
    result = _invoke("--runs", bad)
    assert result.exit_code == 2, result.output
    for expected in ("output: unknown key (valid keys: brands, out)", "brands[0].catalogue: unknown key",
                     "brands[0].catalog: required key is missing", "brands[1].limit: must be at least 0 (got -1)",
                     "brands[1].name: 'a b' is not a brand name", "brands[1].no_adapter: excludes brands[1].adapter",
                     "brands[2].brand: must be str, got int", "brands[2].limit: must be int, got str"):
        assert expected in result.output, expected
    assert "Traceback" not in result.output and str(bad) in result.output
    dup = tmp_path / "dup.yaml"
    dup.write_text(yaml.safe_dump({"brands": [{"brand": str(kits["kettle-cairn"]), "catalog": str(KC_CATALOG)},
                                              {"brand": str(kits["kettle-cairn"]), "catalog": str(KC_CATALOG)}]}))
    result = _invoke("--runs", dup, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "brand name 'kettle-cairn' (from the kit's name) is also brands[0]'s" \
        in result.output, result.output
    for flags, message in ((["--brand", kits["kettle-cairn"]], "drop --brand"),
                           (["--runner", "ray"], "the Ray runner does not run several brands yet")):
        result = _invoke("--runs", _run_file(tmp_path / "ok.yaml", night), "--out", tmp_path / "o", *flags)
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()  # refused before any work


def test_brands_on_different_base_models_are_refused_naming_them(tmp_path, night, tiny_model_dir):
    root, kits, adapters = night
    other = tmp_path / "other"
    shutil.copytree(kits["halyard-hem"].parent, other)
    path = other / "brand" / "brand.yaml"
    data = yaml.safe_load(path.read_text())
    data["model"]["base_model"] = "smollm2-135m-instruct"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    runs = tmp_path / "n.yaml"
    runs.write_text(yaml.safe_dump({"brands": [
        {"brand": str(kits["kettle-cairn"]), "catalog": str(KC_CATALOG), "no_adapter": True},
        {"brand": str(other / "brand"), "catalog": str(HH_CATALOG), "name": "hem", "no_adapter": True}]}))
    result = _invoke("--runs", runs, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert "share one base model" in result.output
    assert f"kettle-cairn: base model '{tiny_model_dir}'" in result.output
    assert "hem: base model 'smollm2-135m-instruct'" in result.output


def test_resume_skips_finished_rows_and_every_row_lands_once(tmp_path, night, calls):
    root, kits, adapters = night
    out = tmp_path / "night"
    assert _invoke("--runs", _run_file(tmp_path / "n.yaml", night, limit=1), "--out", out).exit_code == 0
    first = (out / "outputs.jsonl").read_bytes() + (out / "rejects.jsonl").read_bytes()
    assert len(_lines(out)) == 2
    # a crash mid-append: the last line torn; the re-run repairs it from the ledger
    rejects = out / "rejects.jsonl"
    if rejects.read_bytes():
        rejects.write_bytes(rejects.read_bytes()[:-7])
    calls.clear()
    result = _invoke("--runs", _run_file(tmp_path / "n.yaml", night, limit=3), "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 were already done" in result.output
    requested = {(r.adapter, r.key.rsplit("/", 1)[0]) for call in calls for r in call}
    done_first = {(r["brand"], r["id"]) for r in (json.loads(x) for x in first.splitlines())}
    assert requested and not requested & done_first  # finished rows are not generated again
    lines = _lines(out)
    assert len(lines) == 6 and len({(r["brand"], r["id"]) for r in lines}) == 6
    assert done_first <= {(r["brand"], r["id"]) for r in lines}
    db = sqlite3.connect(out / "ledger.sqlite")
    assert db.execute("SELECT count(*) FROM rows").fetchone()[0] == 6
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
    calls.clear()
    again = _invoke("--runs", _run_file(tmp_path / "n.yaml", night, limit=3), "--out", out)
    assert again.exit_code == 0 and "6 were already done" in again.output and calls == []
    # another adapter for one brand: refused, naming the brand and what changed
    runs = _run_file(tmp_path / "n.yaml", night, limit=3)
    data = yaml.safe_load(runs.read_text())
    data["brands"][1]["adapter"] = str(adapters["kettle-cairn"])
    runs.write_text(yaml.safe_dump(data))
    changed = _invoke("--runs", runs, "--out", out)
    assert changed.exit_code == 2 and "brand halyard-hem: started with different settings (adapter_sha256 changed)" \
        in changed.output, changed.output
    single = _invoke("--brand", kits["kettle-cairn"], "--catalog", KC_CATALOG, "--no-adapter", "--out", out)
    assert single.exit_code == 2 and "holds a multi-brand run" in single.output


def test_the_sample_run_file_loads_both_sample_brands_on_one_base_model():
    from stylegen.generation.lanes import run_file_lanes as load_lanes
    from stylegen.generation.runfile import load_run_file
    from stylegen.generation.settings import GenerateOptions as MultiOptions

    run = load_run_file(ROOT / "samples" / "night.yaml")
    lanes = load_lanes(run, MultiOptions(runs=str(run.path), dry_run=True))
    assert [lane.name for lane in lanes] == ["kettle-cairn", "halyard-hem"]
    assert {lane.inputs.settings.base_model for lane in lanes} == {"smollm2-135m-instruct"}
    assert [len(lane.inputs.rows) + len(lane.inputs.rejects) for lane in lanes] == [20, 20]
    assert run.resolve(run.out) == ROOT / "runs" / "night-sample"


def test_a_run_file_resumed_with_other_settings_is_refused_naming_each_brand(tmp_path, night):
    """The same contract as one brand: another seed, candidate count or a brand without its
    adapter is refused (exit 2), naming the brand and the changed key; nothing is written."""
    out = tmp_path / "night"
    runs = _run_file(tmp_path / "n.yaml", night, limit=1)
    assert _invoke("--runs", runs, "--out", out).exit_code == 0
    before = _lines(out)
    for flags, key in ((["--seed", "7"], "seed"), (["--candidates", "3"], "candidates")):
        result = _invoke("--runs", runs, "--out", out, *flags)
        assert result.exit_code == 2, result.output
        for name in ("kettle-cairn", "halyard-hem"):
            assert f"brand {name}: started with different settings ({key} changed)" in result.output, result.output
    data = yaml.safe_load(runs.read_text())
    del data["brands"][0]["adapter"]
    data["brands"][0]["no_adapter"] = True
    no_adapter = tmp_path / "no-adapter.yaml"
    no_adapter.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _invoke("--runs", no_adapter, "--out", out)
    assert result.exit_code == 2, result.output
    assert "brand kettle-cairn: started with different settings (adapter_sha256 changed)" in result.output
    assert "brand halyard-hem: started" not in result.output
    assert _lines(out) == before
