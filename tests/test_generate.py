"""`stylegen generate` with a scripted fake engine: retries with feedback, best attempt,
quarantine, exit codes, resume, locking and the run directory's files."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from gen_support import good, make_brand, parse_key, product, read_jsonl, write_csv
from stylegen.cli import cli
from stylegen.generation.engine import ScriptedEngine
from stylegen.generation.run import feedback_note
from stylegen.validation.findings import Finding


def scripted(answers: dict):
    """An engine answering ``answers[(row id, task)]``: a list indexed by attempt (last one repeats)."""

    def script(req):
        rid, task = parse_key(req)
        texts = answers.get((rid, task)) or [good(task)]
        attempt = sum(1 for r in engine.requests if r.key == req.key)  # this one is already recorded
        return texts[min(attempt, len(texts)) - 1]

    engine = ScriptedEngine(script)
    return engine


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Brand kit copy, a 4-row catalog, and a hook to plug an engine into the CLI."""
    brand = make_brand(tmp_path)
    catalog = write_csv(tmp_path / "cat.csv", [product(s) for s in ("A", "B", "C", "D")])
    state = {}
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda brand, settings: state["engine"])

    def run(engine=None, *args):
        if engine is not None:
            state["engine"] = engine
        return CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                        "--out", str(tmp_path / "run"), "--no-adapter", *args])

    return tmp_path / "run", run


LONG = " ".join(["It folds flat and packs small."] * 9)  # 54 words: a warning


def test_help():
    result = CliRunner().invoke(cli, ["generate", "--help"])
    assert result.exit_code == 0
    for flag in ("--catalog", "--out", "--limit", "--dry-run", "--adapter", "--no-adapter", "--max-reject-rate",
                 "--seed", "--batch-size", "--max-attempts"):
        assert flag in result.output


def test_retry_with_feedback_fixes_the_output(setup):
    out, run = setup
    engine = scripted({("A", "description"): ["The best pot you will pack.", good("description")]})
    result = run(engine)
    assert result.exit_code == 0, result.output
    outputs = {r["id"]: r for r in read_jsonl(out / "outputs.jsonl")}
    assert set(outputs) == {"A", "B", "C", "D"} and read_jsonl(out / "rejects.jsonl") == []
    assert outputs["A"]["attempts"] == {"description": 2, "meta_description": 1, "bullets": 1}
    assert outputs["A"]["fields"]["description"] == good("description")
    assert outputs["A"]["fields"]["bullets"] == ["Folds flat for packing", "Packs small in a lid pocket",
                                                 "Aluminum, 9 oz"]
    retry = [r for r in engine.requests if r.key == "A/description"][1]
    assert "Fix: remove 'best' (T.Hype)" in retry.prompt  # the corrective note reached the prompt
    first = [r for r in engine.requests if r.key == "A/description"][0]
    assert retry.seed != first.seed  # resampled, too
    assert sum(1 for r in engine.requests if r.key == "B/description") == 1  # passing outputs are not retried
    report = json.loads((out / "report.json").read_text())
    assert report["pass_rate"] == {"first_attempt": 0.75, "after_retries": 1.0}
    assert report["attempts_histogram"] == {"1": 11, "2": 1}
    assert report["failures_by_rule"] == {"T.Hype": 1}


def test_best_attempt_is_kept_fewest_and_mildest_findings(setup):
    out, run = setup
    engine = scripted({
        ("A", "description"): ["Best. " + LONG, LONG, "Best. " + LONG],  # error+warning, warning, error+warning
        ("B", "description"): [LONG + " best", "best one", LONG + " best"],  # all fail; attempt 2 is mildest
    })
    result = run(engine)
    assert result.exit_code == 0, result.output
    accepted = {r["id"]: r for r in read_jsonl(out / "outputs.jsonl")}
    assert accepted["A"]["best_attempt"]["description"] == 2
    assert accepted["A"]["fields"]["description"] == LONG
    assert [w["rule"] for w in accepted["A"]["warnings"]] == ["T.Long"]
    assert accepted["A"]["attempts"]["description"] == 2  # stopped once it passed
    rejected = {r["id"]: r for r in read_jsonl(out / "rejects.jsonl")}
    assert rejected["B"]["fields"]["description"] == "best one" and rejected["B"]["best_attempt"]["description"] == 2


def test_persistent_failure_is_quarantined_with_all_findings(setup):
    out, run = setup
    engine = scripted({("C", "bullets"): ["- best pack\n- best lid\n- fine"]})
    result = run(engine, "--max-attempts", "3")
    assert result.exit_code == 0, result.output
    assert "C" not in {r["id"] for r in read_jsonl(out / "outputs.jsonl")}
    (reject,) = read_jsonl(out / "rejects.jsonl")
    assert reject["id"] == "C" and reject["source"] == "validation" and reject["line"] == 4
    assert reject["attempts"]["bullets"] == 3 and "T.Hype" in reject["reason"]
    assert [(f["rule"], f["field"]) for f in reject["findings"]] == [("T.Hype", "bullets[0]"), ("T.Hype", "bullets[1]")]
    assert [len(a["findings"]) for a in reject["attempt_findings"]["bullets"]] == [2, 2, 2]
    db = sqlite3.connect(out / "ledger.sqlite")
    rows = db.execute("SELECT attempt, seed, prompt_hash, text, errors FROM attempts"
                      " WHERE row_key='C' AND task='bullets' ORDER BY attempt").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3] and all(r[4] == 2 for r in rows)
    assert len({r[1] for r in rows}) == 3 and len({r[2] for r in rows}) == 2  # attempts 2, 3: same note, new seed


def test_reject_rate_sets_exit_code(setup):
    out, run = setup
    engine = scripted({("D", "meta_description"): ["the best"]})
    result = run(engine, "--max-reject-rate", "0.2")
    assert result.exit_code == 1, result.output
    assert "reject rate 25.0% is above --max-reject-rate 20.0%" in result.output
    calls = len(engine.requests)
    again = run(None, "--max-reject-rate", "0.3")  # same run dir: resumes, nothing left to do
    assert again.exit_code == 0, again.output
    assert len(engine.requests) == calls and "4 were already done" in again.output


def test_catalog_rejects_join_the_run(tmp_path, monkeypatch):
    brand = make_brand(tmp_path)
    catalog = write_csv(tmp_path / "cat.csv", [product("A"), product("A"), product("B", care="x" * 5000)])
    monkeypatch.setattr("stylegen.generation.lanes.brand_engine", lambda b, s: scripted({}))
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out",
                                      str(tmp_path / "run"), "--no-adapter", "--max-reject-rate", "0.5"])
    assert result.exit_code == 1 and "3 rows: 1 accepted, 2 rejected" in result.output
    rejects = read_jsonl(tmp_path / "run" / "rejects.jsonl")
    assert [(r["id"], r["line"], r["source"]) for r in rejects] == [("A", 3, "catalog"), ("B", 4, "catalog")]
    assert rejects[0]["findings"][0]["rule"] == "Stylegen.Input"


def test_resume_skips_finished_rows_and_limit_grows(setup):
    out, run = setup
    engine = scripted({})
    assert run(engine, "--limit", "2").exit_code == 0
    assert {parse_key(r)[0] for r in engine.requests} == {"A", "B"}
    before = (out / "outputs.jsonl").read_bytes()
    engine2 = scripted({})
    result = run(engine2, "--limit", "4")
    assert result.exit_code == 0, result.output
    assert {parse_key(r)[0] for r in engine2.requests} == {"C", "D"}
    after = (out / "outputs.jsonl").read_bytes()
    assert after.startswith(before) and [r["id"] for r in read_jsonl(out / "outputs.jsonl")] == ["A", "B", "C", "D"]
    sessions = sqlite3.connect(out / "ledger.sqlite").execute("SELECT count(*) FROM sessions").fetchone()[0]
    assert sessions == 2


def test_outputs_are_reconciled_from_the_ledger(setup):
    out, run = setup
    assert run(scripted({})).exit_code == 0
    lines = (out / "outputs.jsonl").read_bytes().splitlines(keepends=True)
    (out / "outputs.jsonl").write_bytes(b"".join(lines[:2]) + lines[2][:10])  # lost line 4, torn line 3
    engine = scripted({})
    assert run(engine).exit_code == 0
    assert engine.requests == []
    assert (out / "outputs.jsonl").read_bytes() == b"".join(lines)


def test_second_concurrent_run_is_refused(setup):
    from stylegen.generation.ledger import RunLock

    out, run = setup
    out.mkdir()
    lock = RunLock(out)
    try:
        result = run(scripted({}))
    finally:
        lock.release()
    assert result.exit_code == 2
    assert "another stylegen run is using this run directory" in result.output and "pid" in result.output


def test_changed_settings_are_refused_on_resume(setup):
    out, run = setup
    assert run(scripted({}), "--limit", "1").exit_code == 0
    result = run(scripted({}), "--seed", "99")
    assert result.exit_code == 2 and "seed changed" in result.output


def test_run_directory_explains_itself(setup):
    out, run = setup
    assert run(scripted({})).exit_code == 0
    for name in ("outputs.jsonl", "rejects.jsonl", "ledger.sqlite", "report.json", "report.md", "report.png",
                 "settings.json"):
        assert (out / name).is_file(), name
    settings = json.loads((out / "settings.json").read_text())
    assert settings["adapter"] is None and settings["max_attempts"] == 3 and settings["catalog_sha256"]
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "100.0%" in md and "| 4 | 4 | 0 | 0 |" in md
    db = sqlite3.connect(out / "ledger.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM attempts").fetchone()[0] == 12


def test_missing_adapter_says_how_to_train(tmp_path):
    brand = make_brand(tmp_path, adapter="../adapters/none-yet")
    catalog = write_csv(tmp_path / "cat.csv", [product("A")])
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "adapter folder not found" in result.output and "stylegen train --brand" in result.output
    assert "--no-adapter" in result.output


def test_adapter_and_no_adapter_conflict(tmp_path):
    result = CliRunner().invoke(cli, ["generate", "--adapter", str(tmp_path), "--no-adapter"])
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_feedback_note_is_short_and_errors_first():
    findings = [Finding("T.Long", "warning", "description too long (54 words, max 40)", field="description"),
                Finding("T.Hype", "error", "remove 'best'", field="description"),
                Finding("T.Hype", "error", "remove 'best'", field="description")]
    assert feedback_note(findings) == ("Fix: remove 'best' (T.Hype); description too long (54 words, max 40)"
                                       " (T.Long)")
    many = [Finding("X.Y", "error", f"problem number {i} " + "word " * 10) for i in range(40)]
    assert len(feedback_note(many)) <= 300 and feedback_note(many).endswith("...")
    assert feedback_note([]) is None


def test_vllm_engine_without_the_extra_is_a_config_error(tmp_path):
    import importlib.util

    import yaml

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here: tests/test_vllm_engine.py covers the engine")
    brand = make_brand(tmp_path)
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["model"]["engine"] = "vllm"
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    catalog = write_csv(tmp_path / "cat.csv", [product("A")])
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "vllm extra" in result.output and "pip install -e .[vllm]" in result.output
    assert not out.exists()
    data["model"]["engine"] = "tensorrt"
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out)])
    assert result.exit_code == 2 and "model.engine" in result.output, result.output
