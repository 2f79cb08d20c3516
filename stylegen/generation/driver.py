"""The run driver: one sequence for every run, whatever its lanes and runner.

:func:`drive` validates the rules, takes the run directory, refuses other settings,
resumes, hands the lanes with rows still to do to a *runner*, and closes with the report
and summary. A runner is only the loop that drives :func:`~stylegen.generation.step.advance`:
:class:`LocalRunner` drains every lane in this process (one engine call per step, lanes
mixed); :class:`~stylegen.generation.ray_runner.RayRunner` streams rows to a Ray actor pool
whose actors drain their batches and hand the results back to be committed here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from stylegen.generation.directory import RunDirectory, RunSummary
from stylegen.generation.lanes import plan_engine, RunPlan
from stylegen.generation.step import drain
from stylegen.kit.prompts import render_prompt
from stylegen.models import load_tokenizer
from stylegen.validation.validator import Validator


class Runner(Protocol):
    """Drives the step function over the lanes with rows still to do."""

    def run(self, plan: RunPlan, directory: RunDirectory, progress: bool) -> None:
        """Make every row of ``plan``'s lanes' ``todo`` and commit it to ``directory``; the
        runner calls ``directory.engine_ready`` (or ``write_settings``) saying what ran."""


class LocalRunner:
    """Every lane in this process, on one engine (the given one, else the plan's model)."""

    def __init__(self, engine=None):
        self.engine = engine

    def run(self, plan: RunPlan, directory: RunDirectory, progress: bool) -> None:
        engine = self.engine or plan_engine(plan)
        directory.engine_ready(engine.describe())
        drain(plan.lanes, plan.capacity(), engine, directory.commit, progress)


def drive(plan: RunPlan, out: Path, runner: Runner, progress: bool = True,
          max_reject_rate: float = 1.0) -> RunSummary:
    """Run (or resume) ``plan`` into the run directory ``out`` with ``runner``.

    Args:
        plan: the run's lanes.
        out: the run directory (created; a second run on it at the same time is refused).
        runner: the loop that makes the rows.
        progress: show a progress bar.
        max_reject_rate: the summary's exit code is 1 above this share of quarantined rows.

    Raises:
        ConfigError: bad rules, or the directory holds a run with other settings (exit 2).
        BusyError: another run holds the run directory.
    """
    for lane in plan.lanes:  # rule problems surface before any work is done
        lane.validator = Validator(lane.inputs.brand)
    with RunDirectory(out, plan) as directory:
        resumed = directory.start()
        if any(lane.todo for lane in plan.lanes):
            runner.run(plan, directory, progress)
        return directory.end(resumed, max_reject_rate)


def dry_run(plan: RunPlan, out: Path, engine=None) -> RunSummary:
    """Every first-attempt prompt of ``plan`` into ``out/prompts.jsonl``, under the directory's lock."""
    render = engine.render if engine is not None else _tokenizer_renderer(plan.lanes[0].inputs.settings.base_model)
    with RunDirectory(out, plan) as directory:
        return directory.dry_run(render)


def _tokenizer_renderer(base_model: str):
    tokenizer = load_tokenizer(base_model)
    return lambda messages: render_prompt(tokenizer, messages)
