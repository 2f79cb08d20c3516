"""``stylegen generate``: the nightly batch job.

For each catalog row and each task of the brand kit (a *field*): render the short task
prompt (the renderer training used), sample ``candidates`` completions with base model +
adapter (or, for the tasks of ``generation.assemble``, take copy assembled from the facts),
validate every candidate with the brand's validators, apply the rules' deterministic fixes
(re-validated by every rule), and keep the best candidate per field (fewest errors, then
warnings, then the most of the product's own facts covered and the model's own fluency
score). A field whose best candidate still has errors gets another round, up to
``max_attempts`` rounds. A product is finished as soon as all its fields are settled:
accepted, or quarantined in ``rejects.jsonl`` with every finding. Unusable catalog rows go
there too, with the reason. Every candidate is recorded in the run directory's ledger
first, so a re-run of the same command resumes where it stopped.

The data flow, one module each: :mod:`.lanes` (what each brand generates from),
:mod:`.step` (one engine call and what follows it), :mod:`.directory` (the run directory),
:mod:`.driver` (the one sequence of a run, with a local or a Ray runner).
"""
from __future__ import annotations

from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.generation.directory import RunSummary  # noqa: F401 (public API)
from stylegen.generation.driver import drive, dry_run, LocalRunner
from stylegen.generation.lanes import (adapter_dir, brand_lane, Lane, RunInputs, RunPlan,  # noqa: F401 (public API)
                                       run_file_lanes)
from stylegen.generation.ray_runner import import_ray, RayRunner
from stylegen.generation.runfile import DEFAULT_OUT, load_run_file
from stylegen.generation.settings import GenerateOptions  # noqa: F401 (public API)
from stylegen.generation.step import feedback_note  # noqa: F401 (public API)
from stylegen.generation.vllm_engine import import_vllm


def run_generate(options: GenerateOptions, engine=None, engine_factory=None) -> RunSummary:
    """Run (or resume) the nightly job described by ``options`` (one brand, or a run file).

    Args:
        options: the CLI's options.
        engine: an :class:`~stylegen.generation.engine.Engine` to use instead of loading
            the model (tests pass a :class:`~stylegen.generation.engine.ScriptedEngine`).
        engine_factory: for ``--runner ray``: a picklable callable building each actor's
            engine instead of loading the model.

    Raises:
        ConfigError / DataError: bad brand kit, run file, catalog, adapter or run directory (exit 2).
        BusyError: another run holds the run directory.
    """
    plan, out = plan_run(options, check_adapters=engine is None and engine_factory is None)
    runner = _runner(plan, options, engine, engine_factory)
    if options.dry_run:
        return dry_run(plan, out, engine)
    return drive(plan, out, runner, progress=options.progress, max_reject_rate=options.max_reject_rate)


def plan_run(options: GenerateOptions, check_adapters: bool = True) -> tuple[RunPlan, Path]:
    """The lanes of a run and its run directory: one ``--brand`` lane, or a lane per brand of ``--runs``."""
    if options.runs is None:
        lane = brand_lane(options, check_adapters)
        if lane.inputs.rows:
            lane.inputs.words_for(lane.inputs.rows[0])  # a lexicon without approved copy fails here, before any work
        if lane.inputs.settings.slots:
            lane.inputs.slot_vocabulary  # noqa: B018 - so does a slotted task's material vocabulary
        return RunPlan([lane]), Path(options.out or DEFAULT_OUT)
    run = load_run_file(options.runs)
    plan = RunPlan(run_file_lanes(run, options, check_adapters), runs=run.path)
    out = Path(options.out) if options.out else (run.resolve(run.out) if run.out else Path(DEFAULT_OUT))
    return plan, out


def _runner(plan: RunPlan, options: GenerateOptions, engine, engine_factory):
    """The runner ``--runner`` (else brand.yaml ``generation.runner``) names, checked before any work."""
    name = options.runner or _kit_runner(plan, options)
    if name != "ray":
        if engine is None and not options.dry_run and plan.lanes[0].inputs.brand.model.engine == "vllm":
            import_vllm()  # no vllm: exit 2 before a run directory is made
        return LocalRunner(engine)
    if plan.multi:
        raise ConfigError("--runs with --runner ray: the Ray runner does not run several brands yet; a run file"
                          " runs in one local process (drop --runner ray, or run each brand with --brand ...)")
    if not options.dry_run:
        import_ray()  # the extra is missing: exit 2 before a run directory is made
    return RayRunner(engine_factory, options.actors)


def _kit_runner(plan: RunPlan, options: GenerateOptions) -> str:
    ray = [lane.name for lane in plan.lanes if lane.inputs.brand.generation.runner == "ray"]
    if plan.multi and ray:
        raise ConfigError(f"brand.yaml of {', '.join(ray)} sets generation.runner: ray, but a run file runs"
                          " in one local process (the Ray runner does not run several brands yet); pass"
                          " --runner local")
    return "ray" if ray else "local"


def run_rows(inputs: RunInputs, out: Path, engine=None, progress: bool = True,
             max_reject_rate: float = 1.0) -> RunSummary:
    """Generate, validate and finish ``inputs.rows`` into the run directory ``out`` (resumable).

    ``stylegen eval`` runs each arm this way: a one-lane run of held-out records with the
    arm's prompts.

    Args:
        inputs: brand, settings, rows and prompt builder.
        out: the run directory (created; a second run on it at the same time is refused).
        engine: the engine to use; None loads the settings' base model + adapter.
        progress: show a progress bar.
        max_reject_rate: the summary's exit code is 1 above this share of quarantined rows.
    """
    return drive(RunPlan([Lane(inputs)]), Path(out), LocalRunner(engine), progress, max_reject_rate)
