"""``stylegen generate --runner ray``: the same nightly pipeline on a Ray Data actor pool.

The catalog rows stream through ``Dataset.map_batches`` over a pool of actors
(``concurrency=actors``); each actor holds one engine and one validator and runs the local
pipeline of :mod:`.run` (candidates, validation, fixes, selection) on its batch of rows.
Actors write nothing: they hand back every attempt and every finished row, and the driver
commits them to the ledger (the source of truth) and the output files, batch by batch. So a
killed job resumes like a local one: finished rows are skipped, every row lands exactly once
in ``outputs.jsonl`` or ``rejects.jsonl``. A row that raises inside an actor is retried
alone and, if it raises again, quarantined with its error; the job never fails for one row.

``RAY_ADDRESS`` set: connect to that cluster; unset: start a local one. Ray is imported
lazily and is an optional extra (``pip install .[ray]``).
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Callable

from stylegen.errors import ConfigError
from stylegen.generation.ledger import FinishedRow, Ledger, LEDGER_FILE
from stylegen.generation.run import (_catalog_reject, _check_identity, _resume, _finish, _generate, _load_engine, _Sinks,
                                     _summarize, _write_settings, INTERNAL_RULE, locked_run_dir, RunInputs, RunSummary)
from stylegen.validation.validator import Validator

RUNNER_RULE = INTERNAL_RULE


def import_ray():
    """Ray, or a :class:`ConfigError` (exit 2) saying how to install the extra."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--runner ray needs the Ray extra ({exc}); install it with `pip install -e .[ray]`,"
                          " or use --runner local") from exc
    return ray


def ensure_ray(num_cpus: int | None = None):
    """Connect to ``RAY_ADDRESS`` when set, else start a local cluster (idempotent)."""
    ray = import_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


class _Collector:
    """A ledger stand-in inside an actor: keeps what the pipeline would have written."""

    def __init__(self):
        self.attempts: list[dict] = []
        self.finished: list[FinishedRow] = []

    def record_attempts(self, rows: list[dict]) -> None:
        self.attempts.extend(rows)

    def finish_rows(self, rows: list[FinishedRow]) -> None:
        self.finished.extend(rows)


class RowWorker:
    """One actor: one engine, one validator; turns a batch of catalog rows into outcomes."""

    def __init__(self, brand, settings, engine_factory: Callable | None = None):
        self.brand, self.settings = brand, settings
        self.validator = Validator(brand)
        self.engine = engine_factory() if engine_factory else _load_engine(brand, settings)

    def __call__(self, batch: dict) -> dict:
        rows = [pickle.loads(b) for b in batch["row"]]
        try:
            results = self._run(rows)
        except Exception:  # noqa: BLE001 - find the failing row: one at a time below
            results = {}
            for row in rows:
                try:
                    results.update(self._run([row]))
                except Exception as exc:  # noqa: BLE001 - quarantined with its error, the job goes on
                    results[row.id] = ([], worker_reject(row, exc))
        return {"row_id": [r.id for r in rows], "result": [pickle.dumps(results[r.id]) for r in rows]}

    def _run(self, rows) -> dict:
        collector = _Collector()
        with tempfile.TemporaryDirectory(prefix="stylegen-actor-") as scratch:
            sinks = _Sinks(collector, Path(scratch), self.engine, self.validator)
            _generate(RunInputs(self.brand, self.settings, rows), rows, sinks, progress=False)
        finished = {f.row_key: f for f in collector.finished}
        missing = [r.id for r in rows if r.id not in finished]
        if missing:
            raise RuntimeError(f"the pipeline did not finish rows {missing}")
        return {r.id: ([a for a in collector.attempts if a["row_key"] == r.id], finished[r.id]) for r in rows}


def worker_reject(row, exc: Exception) -> FinishedRow:
    """The quarantined outcome of a row whose generation raised inside an actor."""
    reason = f"generation failed inside a Ray worker ({exc.__class__.__name__}: {exc})"
    payload = {"id": row.id, "line": row.line, "source": "runner", "reason": reason,
               "findings": [{"rule": RUNNER_RULE, "level": "error", "message": reason, "id": row.id}]}
    return FinishedRow(row.id, row.id, row.line, "rejected", "validation", 0, False, [RUNNER_RULE],
                       json.dumps(payload, ensure_ascii=False))


def run_rows_ray(inputs: RunInputs, out: Path, engine_factory: Callable | None = None, actors: int = 2,
                 max_reject_rate: float = 1.0) -> RunSummary:
    """Like :func:`~stylegen.generation.run.run_rows`, on a Ray Data actor pool.

    Args:
        inputs: brand, settings, rows (the default task prompts only: ``inputs.prompts`` must be None).
        out: the run directory (resumable; the driver alone writes it).
        engine_factory: a picklable callable building each actor's engine; None loads the
            settings' base model + adapter in each actor.
        actors: size of the actor pool.
        max_reject_rate: the summary's exit code is 1 above this share of quarantined rows.
    """
    if inputs.prompts is not None:
        raise ConfigError("the Ray runner uses the brand's task prompts; custom prompt builders run locally")
    ray = ensure_ray()
    Validator(inputs.brand)  # rule problems surface before any work is done
    with locked_run_dir(out):
        return _run_locked(ray, inputs, out, engine_factory, actors, max_reject_rate)


def _run_locked(ray, inputs: RunInputs, out: Path, factory, actors: int, max_rate: float) -> RunSummary:
    ledger = Ledger(out / LEDGER_FILE)
    try:
        _check_identity(ledger, inputs.settings, out)
        ledger.start_session(inputs.settings.to_dict())
        todo, resumed = _resume(ledger, out, inputs)
        inputs.settings = inputs.settings.replace(engine={"runner": "ray", "actors": actors})
        _write_settings(out, inputs.settings)
        if todo:
            _stream(ray, inputs, todo, ledger, out, factory, actors)
        ledger.end_session()
        return _summarize(ledger, out, inputs, len(inputs.rows) + len(inputs.rejects), resumed, max_rate)
    finally:
        ledger.close()


def _stream(ray, inputs: RunInputs, todo, ledger: Ledger, out: Path, factory, actors: int) -> None:
    """Stream ``todo`` through the actor pool; commit each returned batch as it arrives."""
    items = [{"row_id": r.id, "row": pickle.dumps(r)} for r in todo]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), actors * 4)))
    results = ds.map_batches(RowWorker, fn_constructor_kwargs={"brand": inputs.brand, "settings": inputs.settings,
                                                               "engine_factory": factory},
                             batch_size=inputs.settings.batch_size, concurrency=actors, num_cpus=1,
                             batch_format="numpy")
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        attempts, finished = [], []
        for blob in batch["result"]:
            rows, outcome = pickle.loads(bytes(blob))
            attempts.extend(rows)
            finished.append(outcome)
        ledger.record_attempts(attempts)  # attempts first, then the outcome: the local order
        _finish(ledger, out, finished)
