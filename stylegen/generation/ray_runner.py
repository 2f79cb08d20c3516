"""``stylegen generate --runner ray``: the same run on a Ray Data actor pool.

The catalog rows stream through ``Dataset.map_batches`` over a pool of actors
(``concurrency=actors``); each actor holds one engine and one validator and drains its
batch of rows with the run loop's own step function (:func:`~stylegen.generation.step.drain`:
candidates, validation, fixes, selection). Actors write nothing: they hand back every
attempt and every finished row, and the driver commits them to the run directory (the
ledger is the source of truth), batch by batch, exactly as the local runner commits its
steps. So a killed job resumes like a local one, and a resume with other settings is
refused like a local one (the identity is the run directory's, not the runner's). A row
that raises inside an actor is retried alone and, if it raises again, quarantined with its
error; the job never fails for one row.

``RAY_ADDRESS`` set: connect to that cluster; unset: start a local one. Ray is imported
lazily and is an optional extra (``pip install .[ray]``).
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Callable

from stylegen.errors import ConfigError
from stylegen.generation.directory import RunDirectory, RunSummary
from stylegen.generation.driver import drive
from stylegen.generation.lanes import brand_engine, Lane, RunInputs, RunPlan
from stylegen.generation.ledger import FinishedRow
from stylegen.generation.step import drain, INTERNAL_RULE, StepResult
from stylegen.validation.validator import Validator

RAY_ENGINE = "ray"


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


class RowWorker:
    """One actor: one engine, one validator; turns a batch of catalog rows into outcomes."""

    def __init__(self, brand, settings, engine_factory: Callable | None = None):
        self.brand, self.settings = brand, settings
        self.validator = Validator(brand)
        self.engine = engine_factory() if engine_factory else brand_engine(brand, settings)

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
        lane = Lane(RunInputs(self.brand, self.settings, rows), validator=self.validator, todo=list(rows))
        made = StepResult()

        def keep(step: StepResult) -> None:
            made.attempts.extend(step.attempts)
            made.finished.extend(step.finished)

        drain([lane], RunPlan([lane]).capacity(), self.engine, keep, progress=False)
        finished = {f.row_key: f for f in made.finished}
        missing = [r.id for r in rows if r.id not in finished]
        if missing:
            raise RuntimeError(f"the pipeline did not finish rows {missing}")
        return {r.id: ([a for a in made.attempts if a["row_key"] == r.id], finished[r.id]) for r in rows}


def worker_reject(row, exc: Exception) -> FinishedRow:
    """The quarantined outcome of a row whose generation raised inside an actor."""
    reason = f"generation failed inside a Ray worker ({exc.__class__.__name__}: {exc})"
    payload = {"id": row.id, "line": row.line, "source": "runner", "reason": reason,
               "findings": [{"rule": INTERNAL_RULE, "level": "error", "message": reason, "id": row.id}]}
    return FinishedRow(row.id, row.id, row.line, "rejected", "validation", 0, False, [INTERNAL_RULE],
                       json.dumps(payload, ensure_ascii=False))


class RayRunner:
    """The rows of a one-lane run streamed through a Ray Data actor pool.

    Args:
        engine_factory: a picklable callable building each actor's engine; None loads the
            lane's base model + adapter in each actor.
        actors: size of the actor pool.
    """

    def __init__(self, engine_factory: Callable | None = None, actors: int = 2):
        self.engine_factory, self.actors = engine_factory, actors

    def run(self, plan: RunPlan, directory: RunDirectory, progress: bool) -> None:
        ray = ensure_ray()
        directory.write_settings({"runner": RAY_ENGINE, "actors": self.actors})
        lane = plan.lanes[0]
        items = [{"row_id": r.id, "row": pickle.dumps(r)} for r in lane.todo]
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), self.actors * 4)))
        settings = lane.inputs.settings
        results = ds.map_batches(RowWorker, fn_constructor_kwargs={"brand": lane.inputs.brand, "settings": settings,
                                                                   "engine_factory": self.engine_factory},
                                 batch_size=settings.batch_size, concurrency=self.actors, num_cpus=1,
                                 batch_format="numpy")
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            directory.commit(_unpack(batch))  # attempts first, then the outcomes: the local order


def _unpack(batch: dict) -> StepResult:
    step = StepResult()
    for blob in batch["result"]:
        attempts, outcome = pickle.loads(bytes(blob))
        step.attempts.extend(attempts)
        step.finished.append(outcome)
    return step


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
    return drive(RunPlan([Lane(inputs)]), Path(out), RayRunner(engine_factory, actors), progress=False,
                 max_reject_rate=max_reject_rate)
