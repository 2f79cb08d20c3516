"""The Ray Data runner (`stylegen generate --runner ray`) on a local 2-CPU cluster: same
outputs as the local runner, a row that raises inside an actor is quarantined, a killed job
resumes to exactly-once."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from gen_support import ROOT, make_brand, parse_key, product, read_jsonl, write_csv
from stylegen.cli import cli

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.enable_socket


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (a start costs 10-20 s); RAY_ADDRESS connects instead."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    else:
        # Workers import this module's engine factory: the tests folder goes on their path.
        path = os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")])
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def _invoke(brand, catalog, out, *args):
    return CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out),
                                    "--no-adapter", *args], catch_exceptions=False)


def _rows(out):
    return read_jsonl(out / "outputs.jsonl") + read_jsonl(out / "rejects.jsonl")


def test_ray_runner_outputs_equal_local_runner_float32(tmp_path, tiny_model_dir, cluster):
    brand = make_brand(tmp_path, base_model=str(tiny_model_dir), max_new_tokens=24, max_attempts=2)
    catalog = write_csv(tmp_path / "cat.csv", [product(s) for s in ("A", "B", "C", "D")])
    local = _invoke(brand, catalog, tmp_path / "local", "--batch-size", "2")
    assert local.exit_code == 0, local.output
    remote = _invoke(brand, catalog, tmp_path / "ray", "--batch-size", "2", "--runner", "ray", "--actors", "2")
    assert remote.exit_code == 0, remote.output
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(_rows(tmp_path / "ray"), key=key) == sorted(_rows(tmp_path / "local"), key=key)
    assert any(r.get("fields", {}).get("description") for r in _rows(tmp_path / "ray"))
    settings = json.loads((tmp_path / "ray" / "settings.json").read_text())
    assert settings["engine"] == {"runner": "ray", "actors": 2}
    db = sqlite3.connect(tmp_path / "ray" / "ledger.sqlite")
    local_db = sqlite3.connect(tmp_path / "local" / "ledger.sqlite")
    query = "SELECT row_key, task, attempt, seed, text FROM attempts ORDER BY row_key, task, attempt"
    assert db.execute(query).fetchall() == local_db.execute(query).fetchall()


def _raising_engine():
    """Actors' engine: answers well, but raises for every request of row BOOM."""
    from stylegen.generation.engine import ScriptedEngine

    def script(req):
        rid, task = parse_key(req)
        if rid == "BOOM":
            raise RuntimeError("engine blew up on BOOM")
        return {"bullets": "- Folds flat\n- Packs small"}.get(task, f"Trail Thing {rid} folds flat and packs small.")
    return ScriptedEngine(script)


def test_row_raising_inside_an_actor_is_quarantined_with_its_error(tmp_path, cluster):
    from stylegen.catalog.rows import read_catalog
    from stylegen.generation.ray_runner import run_rows_ray
    from stylegen.generation.run import RunInputs
    from stylegen.generation.settings import run_settings
    from stylegen.generation.run import GenerateOptions
    from stylegen.kit.brand import load_brand

    brand_dir = make_brand(tmp_path)
    catalog = write_csv(tmp_path / "cat.csv", [product("A"), product("BOOM"), product("C")])
    brand = load_brand(str(brand_dir))
    cat = read_catalog(str(catalog), brand.catalog)
    settings = run_settings(brand, GenerateOptions(brand=str(brand_dir), catalog=str(catalog), batch_size=3))
    summary = run_rows_ray(RunInputs(brand, settings, cat.rows), tmp_path / "run", _raising_engine, actors=2)
    rejects = read_jsonl(tmp_path / "run" / "rejects.jsonl")
    assert [r["id"] for r in rejects] == ["BOOM"]
    assert "engine blew up on BOOM" in rejects[0]["reason"] and rejects[0]["source"] == "runner"
    assert sorted(r["id"] for r in read_jsonl(tmp_path / "run" / "outputs.jsonl")) == ["A", "C"]
    assert (summary.accepted, summary.rejected) == (2, 1)


def _lines(path):
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


def test_killed_ray_job_resumes_to_exactly_once(tmp_path, tiny_model_dir):
    brand = make_brand(tmp_path, base_model=str(tiny_model_dir), max_new_tokens=12, max_attempts=1)
    skus = [f"K{i:03d}" for i in range(16)]
    catalog = write_csv(tmp_path / "cat.csv", [product(s) for s in skus])
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "stylegen", "generate", "--brand", str(brand), "--catalog", str(catalog),
           "--out", str(out), "--no-adapter", "--batch-size", "1", "--runner", "ray", "--actors", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    # Its own session: SIGKILL to the group takes the driver and the cluster it started.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 240
    while len(_lines(out / "outputs.jsonl")) + len(_lines(out / "rejects.jsonl")) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the run did not get going"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    killed = _lines(out / "outputs.jsonl") + _lines(out / "rejects.jsonl")
    assert 2 <= len(killed) < len(skus)
    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400,
                             start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ids = [json.loads(line)["id"] for line in _lines(out / "outputs.jsonl") + _lines(out / "rejects.jsonl")]
    assert sorted(ids) == skus  # every row exactly once
    db = sqlite3.connect(out / "ledger.sqlite")
    assert db.execute("SELECT count(*) FROM rows").fetchone()[0] == len(skus)
    assert "already done" in resumed.stdout


def test_runner_setting_is_checked_and_missing_ray_is_a_usage_error(tmp_path, monkeypatch):
    from stylegen.errors import ConfigError
    from stylegen.kit.brand import load_brand

    with pytest.raises(ConfigError, match="generation.runner"):
        load_brand(make_brand(tmp_path / "bad", runner="spark"))
    brand = make_brand(tmp_path / "ok", runner="ray")  # brand.yaml picks the Ray runner
    assert load_brand(brand).generation.runner == "ray"
    catalog = write_csv(tmp_path / "cat.csv", [product("A")])
    monkeypatch.setitem(sys.modules, "ray", None)  # the extra is not installed
    result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog),
                                      "--out", str(tmp_path / "run"), "--no-adapter"])
    assert result.exit_code == 2, result.output
    assert "pip install -e .[ray]" in result.output


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_a_run_resumed_with_other_settings_is_refused_by_either_runner(tmp_path, tiny_model_dir, cluster, runner):
    """The identity belongs to the run directory, not the runner: a run started with either
    runner and resumed (with either runner) with another seed, another candidate count or
    without its adapter is refused, exit 2, naming the changed key; nothing is written."""
    from multi_support import make_adapter

    brand = make_brand(tmp_path, base_model=str(tiny_model_dir), max_new_tokens=8, max_attempts=1)
    adapter = make_adapter(tmp_path / "adapter", tiny_model_dir, seed=1)
    catalog = write_csv(tmp_path / "cat.csv", [product(s) for s in ("A", "B")])
    out = tmp_path / "run"
    base = ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out), "--runner", runner,
            "--actors", "1"]
    started = CliRunner().invoke(cli, [*base, "--adapter", str(adapter)], catch_exceptions=False)
    assert started.exit_code == 0, started.output
    before = _rows(out)
    assert len(before) == 2
    for other in ("local", "ray"):
        resume = [*base[:-4], "--runner", other, "--actors", "1"]
        for flags, key in ((["--adapter", str(adapter), "--seed", "7"], "seed"),
                           (["--adapter", str(adapter), "--candidates", "3"], "candidates"),
                           (["--no-adapter"], "adapter_sha256")):
            result = CliRunner().invoke(cli, [*resume, *flags])
            assert result.exit_code == 2, (other, flags, result.output)
            assert f"started with different settings ({key} changed)" in result.output, result.output
    assert _rows(out) == before
    same = CliRunner().invoke(cli, [*base, "--adapter", str(adapter)], catch_exceptions=False)
    assert same.exit_code == 0 and "2 were already done" in same.output, same.output
