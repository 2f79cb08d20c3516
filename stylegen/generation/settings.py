"""The effective settings of one nightly run, as one frozen object.

:class:`RunSettings` is built once from the brand kit and the command line. It is at
once what the run loop reads (typed attributes, no string keys), what ``settings.json``
and the report header show (:meth:`RunSettings.to_dict`), and what a run directory is
resumed against (:meth:`RunSettings.identity`: the settings that change what a row gets).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from stylegen import __version__
from stylegen.errors import ConfigError

# What a run directory refuses to resume with when it changed: everything that decides
# which text a row gets. Batch size, progress bars and limits do not.
IDENTITY_KEYS = ("brand_fingerprint", "catalog_sha256", "base_model", "adapter_sha256", "seed", "max_attempts",
                 "candidates", "feedback", "fixes", "tasks", "sampling", "lexicon",
                 "assemble", "fallback", "compose", "examples", "slots", "cadence")


@dataclass
class GenerateOptions:
    """What ``stylegen generate`` was asked to do (None: take it from the brand kit).

    One object serves both kinds of run: ``brand`` + ``catalog`` (a one-lane run), or
    ``runs`` (a run file of several brands, each a lane; the file gives each brand's kit,
    catalog, limit and adapter, and the CLI refuses those flags beside it).
    """

    brand: str = "brand"
    catalog: str = "catalog/sample_catalog.csv"
    out: str | None = None  # None: the run file's out, else runs/nightly
    limit: int | None = None
    dry_run: bool = False
    adapter: str | None = None
    no_adapter: bool = False
    max_reject_rate: float = 1.0
    seed: int | None = None
    batch_size: int | None = None
    max_attempts: int | None = None
    candidates: int | None = None
    progress: bool = True
    runner: str | None = None  # local | ray (stylegen.generation.ray_runner); None: brand.yaml generation.runner
    actors: int = 2  # the Ray runner's actor pool size
    runs: str | None = None  # a run file (several brands); replaces brand, catalog, limit and adapter


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by every request of a run."""

    temperature: float
    top_p: float
    repetition_penalty: float
    do_sample: bool

    def as_kwargs(self) -> dict:
        """Keyword arguments for :class:`~stylegen.generation.engine.GenRequest`."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TaskSpec:
    """One task as the run uses it (prompt template, list or text, token budget)."""

    prompt: str
    kind: str
    max_new_tokens: int


@dataclass(frozen=True)
class RunSettings:
    """Every setting of a run: brand kit values overridden by command-line flags.

    Attributes:
        candidates: samples drawn per (row, task) in each round.
        max_attempts: rounds per (row, task); a field still failing after the last round
            keeps its best candidate (and the product is quarantined if that has errors).
        feedback: put a corrective note built from the last round's findings into the
            next round's prompt (off by default: with a small model it hurts).
        fixes: apply the rules' deterministic ``fix:`` actions before a retry is spent.
    """

    brand: str
    brand_fingerprint: str
    base_model: str
    dtype: str
    seed: int
    max_attempts: int
    candidates: int
    batch_size: int
    sampling: Sampling
    feedback: bool
    fixes: bool
    tasks: dict[str, TaskSpec]
    lexicon: str = "open"  # generation.lexicon: the words each completion may use
    assemble: tuple[str, ...] = ()  # generation.assemble: tasks whose first round is assembled copy
    fallback: str = "model"  # generation.fallback: model rounds after failing assembled copy, or none
    compose: tuple[str, ...] = ()  # generation.compose: tasks whose assembled copy includes phrasebook compositions
    examples: int = 0  # generation.examples: few-shot turns of the brand's copy of similar products
    slots: tuple[str, ...] = ()  # generation.slots: tasks the model writes with slots, filled from the facts
    cadence: str = "plain"  # generation.cadence: assembled prose in the brand's cadence, or the plain frames
    catalog: str = ""
    catalog_sha256: str = ""
    adapter: str | None = None
    adapter_sha256: str | None = None
    adapter_data_drift: str | None = None
    limit: int | None = None
    max_reject_rate: float = 1.0
    stylegen_version: str = __version__
    engine: dict = field(default_factory=dict)

    def replace(self, **changes) -> "RunSettings":
        """A copy with ``changes`` applied (the object itself never changes)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (``settings.json``, the ledger's sessions, the report)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def identity(self) -> dict:
        """The settings a resumed run must share with the run that started the directory."""
        data = self.to_dict()
        return {key: data[key] for key in IDENTITY_KEYS}

    def changed_from(self, stored: dict) -> list[str]:
        """Identity keys whose stored value differs from this run's.

        A key added by a newer stylegen is missing from an older directory's identity; it
        compares as its old default, so an old run resumes when its behaviour is kept.
        """
        mine = self.identity()
        return [k for k in IDENTITY_KEYS if stored.get(k, _ADDED_DEFAULTS.get(k, _MISSING)) != mine[k]]


_MISSING = object()
# Identity keys added after run directories already existed: an old directory's stored
# identity lacks them, which is fine when the run keeps the old behaviour.
_ADDED_DEFAULTS = {"candidates": 1, "feedback": True, "fixes": False, "lexicon": "open", "assemble": [],
                   "fallback": "model", "compose": [], "examples": 0, "slots": [],
                   "cadence": "plain"}


def run_settings(brand, options: GenerateOptions) -> RunSettings:
    """The effective settings: the brand kit's ``generation`` section, overridden by flags.

    Args:
        brand: the loaded brand kit.
        options: the command line's options; ``seed``, ``max_attempts``, ``candidates``
            and ``batch_size`` override the brand's value unless None.

    Raises:
        ConfigError: a flag is out of range (all problems at once).
    """
    gen = brand.generation

    def pick(flag, kit_value):
        return kit_value if flag is None else flag

    settings = RunSettings(
        brand=str(brand.file), brand_fingerprint=brand.fingerprint(), base_model=brand.model.base_model,
        dtype=brand.model.dtype, seed=pick(options.seed, gen.seed),
        max_attempts=pick(options.max_attempts, gen.max_attempts),
        candidates=pick(options.candidates, gen.candidates), batch_size=pick(options.batch_size, gen.batch_size),
        sampling=Sampling(gen.temperature, gen.top_p, gen.repetition_penalty, gen.do_sample),
        feedback=gen.feedback, fixes=gen.fixes, lexicon=gen.lexicon,
        assemble=tuple(t for t in brand.tasks if t in gen.assemble), fallback=gen.fallback,
        compose=tuple(t for t in brand.tasks if t in gen.compose), examples=gen.examples,
        slots=tuple(t for t in brand.tasks if t in gen.slots), cadence=gen.cadence,
        tasks={name: TaskSpec(t.prompt, t.kind, t.max_new_tokens) for name, t in brand.tasks.items()},
        limit=options.limit, max_reject_rate=options.max_reject_rate)
    _check_ranges(settings)
    return settings


def _check_ranges(settings: RunSettings) -> None:
    problems = [f"{name} must be at least 1 (got {value})" for name, value in
                (("max_attempts", settings.max_attempts), ("candidates", settings.candidates),
                 ("batch_size", settings.batch_size)) if value < 1]
    if not 0 <= settings.max_reject_rate <= 1:
        problems.append(f"max_reject_rate must be between 0 and 1 (got {settings.max_reject_rate})")
    if problems:
        raise ConfigError(problems)
