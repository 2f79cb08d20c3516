"""The lanes of a run: what each brand of the night generates from, and its engine.

A run has one lane per brand. ``stylegen generate --brand`` is a one-lane run whose lane
has no name (ledger keys are the catalog ids, output lines carry no ``brand``);
``generate --runs FILE`` has a named lane per brand of the run file (ledger keys
``<name>:<id>``, output lines start with ``"brand"``). Everything downstream (the step
function, the run directory, both runners) works on a list of lanes, so the two kinds of
run share one code path.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from itertools import zip_longest
from pathlib import Path
from typing import Callable

from stylegen.catalog.rows import CatalogReject, CatalogRow, quarantine_instructions, read_catalog
from stylegen.errors import ConfigError, DataError
from stylegen.generation.assemble import shape_of, variants
from stylegen.generation.engine import load_engine, load_multi_engine
from stylegen.generation.ledger import brand_row_key, FinishedRow
from stylegen.generation.lexicon import build_lexicon, NO_DIGITS
from stylegen.generation.phrasebook import brand_compositions, phrasebook_path, Vocabulary
from stylegen.generation.pool import RequestPool
from stylegen.generation.retrieval import ExampleIndex
from stylegen.generation.runfile import BrandRun, RunFile, slug
from stylegen.generation.settings import GenerateOptions, RunSettings, run_settings
from stylegen.generation.slots import (available_slots, fill_slots, own_materials, SLOT_WORDS, SlotFill,
                                      SlotGrammar)
from stylegen.generation.vllm_engine import import_vllm, VLLMEngine
from stylegen.kit.brand import BrandKit, load_brand
from stylegen.kit.prompts import render_messages
from stylegen.kit.roles import facts_by_role
from stylegen.models import resolve_model
from stylegen.validation.cadence import brand_cadences, Cadence
from stylegen.training.adapter import adapter_data_drift, adapter_sha256, check_adapter
from stylegen.validation.corpus import fold, load_corpus
from stylegen.validation.validator import Validator

# Builds a request's chat messages from (task, catalog row, corrective note or None).
PromptBuilder = Callable[[str, CatalogRow, "str | None"], list]


@dataclass(frozen=True)
class RunInputs:
    """Everything a lane generates from: the brand, its rows, the settings and the prompts.

    ``stylegen generate`` builds it from a catalog file; ``stylegen eval`` builds it from
    held-out approved records and an arm's prompt builder, without any catalog file.
    """

    brand: BrandKit
    settings: RunSettings
    rows: list[CatalogRow]
    rejects: list[CatalogReject] = field(default_factory=list)
    prompts: PromptBuilder | None = None  # None: the brand's short task prompt

    @cached_property
    def lexicon(self):
        """The brand's lexicon (built once, on first use: it reads the approved copy)."""
        return build_lexicon(self.brand)

    def words_for(self, row: CatalogRow, task: str | None = None) -> frozenset[str] | None:
        """The words a completion of ``task`` for ``row`` may use (None: any; brand.yaml
        generation.lexicon). A slotted task writes slots, no digits and no material word of
        the brand but the row's own (what the night would reject, it cannot write)."""
        if self.settings.lexicon == "open":
            return None
        words = self.lexicon.words_for(row.facts)
        if task not in self.settings.slots:
            return words
        banned = self.slot_vocabulary.materials - own_materials(facts_by_role(row.facts, self.brand.catalog))
        return frozenset(w for w in words if fold(w) not in banned) | SLOT_WORDS | {NO_DIGITS}

    @cached_property
    def slot_vocabulary(self) -> Vocabulary:
        """The brand's material words, which a slotted completion may state only in a slot."""
        return Vocabulary.of(load_corpus(self.brand).records)

    def slot_grammar(self, task: str, row: CatalogRow, tokenizer) -> SlotGrammar | None:
        """The grammar holding a slotted completion's slots to the row's (None: ``task`` is not
        slotted, or the engine has no tokenizer to apply it with)."""
        if task not in self.settings.slots or tokenizer is None:
            return None
        return SlotGrammar(tokenizer, available_slots(row.facts, self.brand.catalog))

    def slot_fill(self, task: str, row: CatalogRow, text: str) -> SlotFill | None:
        """The model's slotted completion filled from the row (None: ``task`` is not slotted)."""
        if task not in self.settings.slots:
            return None
        return fill_slots(text, row.facts, self.slot_vocabulary, self.brand.catalog)

    @cached_property
    def cadences(self) -> dict[str, Cadence | None]:
        """The brand's cadence per task (measured once, on first use; None: the plain frames)."""
        return brand_cadences(self.brand, self.brand.tasks, self.settings.cadence)

    def cadence(self, task: str) -> Cadence | None:
        """The brand's cadence of ``task`` (generation.cadence ``brand``; None: the plain frames)."""
        return self.cadences.get(task)

    @cached_property
    def examples(self) -> ExampleIndex:
        """The brand's approved copy to draw few-shot examples from (built on first use)."""
        return ExampleIndex.of_brand(self.brand)

    def compose(self, task: str, row: CatalogRow, note: str | None) -> list:
        """The chat messages of one request: the arm's prompt builder, else the brand's task
        prompt, after the brand's copy of the most similar products when generation.examples is set."""
        if self.prompts is not None:
            return self.prompts(task, row, note)
        shots = self.examples.nearest(row.facts, task, self.settings.examples) if self.settings.examples else None
        return render_messages(self.brand, task, row.facts, feedback=note, examples=shots)

    def assembled_texts(self, row: CatalogRow, task: str) -> list[str]:
        """The distinct assembled texts of a (row, task): job ``index`` gets text ``index``.

        For the prose tasks of brand.yaml ``generation.compose``, descriptions composed from
        the brand phrasebook and the plain frames' variants alternate (a round takes the
        first ``candidates`` texts: both kinds are validated and ranked, and a row whose
        compositions all fail still has the frames that passed before).
        """
        kind = self.settings.tasks[task].kind
        plain = variants(row.facts, task, kind, self.settings.candidates, catalog=self.brand.catalog,
                         cadence=self.cadence(task))
        if task not in self.settings.compose or shape_of(task, kind) != "prose":
            return plain
        facts = facts_by_role(row.facts, self.brand.catalog)
        composed = brand_compositions(phrasebook_path(self.brand), facts, self.settings.candidates)
        mixed = [t for pair in zip_longest(composed, plain) for t in pair if t is not None]
        return list(dict.fromkeys(mixed))

    @property
    def in_scope(self) -> int:
        """Rows this lane covers: the rows to generate and the catalog rows quarantined."""
        return len(self.rows) + len(self.rejects)


@dataclass
class Lane:
    """One brand of a run: its inputs, its engine adapter, its validator and its request pool."""

    inputs: RunInputs
    name: str | None = None  # None: the only lane of a single-brand run
    adapter: str | None = None  # the engine's adapter name for this lane (None: the engine's own model)
    validator: Validator | None = None
    pool: RequestPool | None = None
    todo: list = field(default_factory=list)

    def key(self, row_key: str) -> str:
        """This lane's ledger key of a row (``<name>:<id>``; the id itself without a name)."""
        return brand_row_key(self.name, row_key)

    def tag(self, row: FinishedRow) -> FinishedRow:
        """A finished row of this lane as the ledger and the output files hold it."""
        if self.name is None:
            return row
        payload = json.dumps({"brand": self.name, **json.loads(row.payload)}, ensure_ascii=False)
        return dataclasses.replace(row, row_key=self.key(row.row_key), brand=self.name, payload=payload)

    def tag_attempt(self, attempt: dict) -> dict:
        """An attempt's ledger row with this lane's key and brand."""
        if self.name is None:
            return attempt
        return {**attempt, "row_key": self.key(attempt["row_key"]), "brand": self.name}

    def start(self, capacity: int) -> None:
        """A fresh request pool over the rows still to do, and the lane's validator."""
        settings, inputs = self.inputs.settings, self.inputs
        if self.validator is None:
            self.validator = Validator(inputs.brand)
        self.pool = RequestPool(self.todo, list(settings.tasks), settings.candidates, capacity,
                                assembled=settings.assemble,
                                variants=lambda row, task: len(inputs.assembled_texts(row, task)),
                                fallback=settings.fallback)


@dataclass
class RunPlan:
    """The lanes of one run and the run file they came from (None: ``--brand``)."""

    lanes: list[Lane]
    runs: Path | None = None

    @property
    def multi(self) -> bool:
        """A run of named lanes (a run file), as opposed to one ``--brand`` lane."""
        return self.runs is not None

    def in_scope(self) -> int:
        return sum(lane.inputs.in_scope for lane in self.lanes)

    def settings(self, engine: dict | None = None) -> dict:
        """``settings.json``: the lane's settings (a run file: every brand's) and the engine."""
        if not self.multi:
            return self.lanes[0].inputs.settings.replace(engine=engine or {}).to_dict()
        return {"runs": str(self.runs), "engine": engine or {},
                "brands": {lane.name: lane.inputs.settings.to_dict() for lane in self.lanes}}

    def identity(self) -> dict:
        """What a resumed run must share with the run that started the directory."""
        if not self.multi:
            return self.lanes[0].inputs.settings.identity()
        return {"brands": {lane.name: lane.inputs.settings.identity() for lane in self.lanes}}

    def seed(self) -> int:
        return self.lanes[0].inputs.settings.seed

    def capacity(self) -> int:
        """Jobs per engine call: the largest lane batch (rows) times the most tasks."""
        return (max(lane.inputs.settings.batch_size for lane in self.lanes)
                * max(len(lane.inputs.settings.tasks) for lane in self.lanes))


# --- building lanes ------------------------------------------------------------------


def brand_lane(options: GenerateOptions, check_adapter_files: bool = True) -> Lane:
    """The one lane of ``stylegen generate --brand``: kit, catalog rows in scope, settings, adapter."""
    brand = load_brand(options.brand)
    return _catalog_lane(brand, options, options.catalog, None, check_adapter_files)


def _catalog_lane(brand: BrandKit, options: GenerateOptions, catalog_path, name: str | None,
                  check: bool) -> Lane:
    settings = run_settings(brand, options)
    catalog = read_catalog(catalog_path, brand.catalog)
    rows, rejects = in_scope(catalog, options.limit)
    settings = settings.replace(catalog=str(catalog.path), catalog_sha256=catalog.sha256)
    rows, talking = quarantine_instructions(rows, brand.catalog)  # before the dry run too: its summary counts them
    if not options.dry_run:  # prompts do not depend on the adapter; the dry run shows every prompt
        adapter = adapter_dir(brand, options.adapter, options.no_adapter)
        settings = with_adapter(brand, settings, adapter, check=check)
    return Lane(RunInputs(brand, settings, rows, rejects + talking), name=name)


def in_scope(catalog, limit: int | None):
    """The catalog rows a lane covers: the first ``limit`` rows by line (all when None)."""
    if limit is None:
        return catalog.rows, catalog.rejects
    if limit < 0:
        raise ConfigError(f"--limit must be 0 or more (got {limit})")
    lines = sorted([r.line for r in catalog.rows] + [r.line for r in catalog.rejects])[:limit]
    last = lines[-1] if lines else 0
    return [r for r in catalog.rows if r.line <= last], [r for r in catalog.rejects if r.line <= last]


def adapter_dir(brand, adapter: str | None = None, no_adapter: bool = False) -> Path | None:
    """The adapter folder to use, or None for prompt-only; explains how to get a missing one.

    Args:
        brand: the brand kit (its ``model.adapter`` is the default).
        adapter: an explicit adapter folder (``--adapter``), taking precedence.
        no_adapter: prompt-only on the base model.
    """
    if no_adapter:
        return None
    if adapter:
        path, origin = Path(adapter), "--adapter"
    elif brand.model.adapter:
        path, origin = brand.resolve(brand.model.adapter), f"{brand.file}: model.adapter"
    else:
        return None
    if not path.is_dir():
        raise ConfigError(f"adapter folder not found: {path} (from {origin}). Train it with "
                          f"`stylegen train --brand {brand.root}` (it writes model.adapter), point --adapter at"
                          " a trained adapter, or run prompt-only with --no-adapter")
    return path.resolve()


def with_adapter(brand, settings: RunSettings, adapter: Path | None, check: bool) -> RunSettings:
    """The settings with the adapter's path, hash and data drift (checked before any model loads)."""
    drift = None
    if adapter is not None and check:
        check_adapter(adapter, settings.base_model)
        drift = adapter_data_drift(adapter, brand)
        if drift:  # a warning, not a refusal: the adapter still has the brand's voice
            warnings.warn(drift, stacklevel=2)
    return settings.replace(adapter=str(adapter) if adapter else None, adapter_sha256=adapter_sha256(adapter),
                            adapter_data_drift=drift)


def run_file_lanes(run: RunFile, options: GenerateOptions, check_adapters: bool = True) -> list[Lane]:
    """Every brand of ``run`` loaded and checked: kit, catalog rows in scope, settings, adapter.

    Raises:
        ConfigError: with every brand's problems at once, each naming its ``brands[i]``; or
            the brands do not share one base model.
    """
    lanes, problems = [], []
    for i, entry in enumerate(run.brands):
        try:
            lanes.append(_entry_lane(run, entry, options, check_adapters))
        except (ConfigError, DataError) as exc:
            lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            problems += [f"{run.path}: brands[{i}] ({entry.brand}): {line}" for line in lines]
    if problems:
        raise ConfigError(problems)
    _check_names(run, lanes)
    _check_base_model(run, lanes)
    _name_adapters(lanes)
    return lanes


def _entry_lane(run: RunFile, entry: BrandRun, options: GenerateOptions, check: bool) -> Lane:
    brand = load_brand(run.resolve(entry.brand))
    mine = dataclasses.replace(options, brand=str(run.resolve(entry.brand)), limit=entry.limit,
                               adapter=entry.adapter and str(run.resolve(entry.adapter)),
                               no_adapter=entry.no_adapter)
    return _catalog_lane(brand, mine, run.resolve(entry.catalog), entry.name or slug(brand.name), check)


def _check_names(run: RunFile, lanes: list[Lane]) -> None:
    first: dict[str, int] = {}
    problems = []
    for i, lane in enumerate(lanes):
        if lane.name in first:
            problems.append(f"{run.path}: brands[{i}]: brand name {lane.name!r} (from the kit's name) is also"
                            f" brands[{first[lane.name]}]'s; set brands[{i}].name")
        first.setdefault(lane.name, i)
    if problems:
        raise ConfigError(problems)


def _base_identity(lane: Lane) -> tuple:
    """What must be the same for every brand of a run: one model is loaded for all of them."""
    base = lane.inputs.settings.base_model
    path = Path(base).expanduser()
    model = lane.inputs.brand.model
    return str(path.resolve()) if path.is_dir() else base, model.dtype, model.trust_remote_code


def _check_base_model(run: RunFile, lanes: list[Lane]) -> None:
    groups: dict[tuple, list[str]] = {}
    for lane in lanes:
        groups.setdefault(_base_identity(lane), []).append(lane.name)
    if len(groups) > 1:
        described = "; ".join(f"{', '.join(names)}: base model {key[0]!r}, dtype {key[1]}"
                              + (", trust_remote_code" if key[2] else "") for key, names in groups.items())
        raise ConfigError(f"{run.path}: the brands of one run share one base model (it is loaded once, with every"
                          f" brand's adapter), but they differ: {described}. Set the same model.base_model and"
                          " model.dtype in their brand.yaml, or run them as separate runs")


def _name_adapters(lanes: list[Lane]) -> None:
    """Give each distinct adapter one engine name (the first brand's name that uses it)."""
    names: dict[str, str] = {}
    for lane in lanes:
        sha = lane.inputs.settings.adapter_sha256
        if sha is not None:
            lane.adapter = names.setdefault(sha, lane.name)


def take_mixed(lanes: list[Lane], capacity: int) -> list[tuple[Lane, list]]:
    """Jobs for one engine call, shared out over the lanes still in flight.

    Each lane's pool gives up to an even share of ``capacity`` (its retries first, then
    first rounds of new rows); room a nearly finished lane leaves goes to the others. With
    one lane this is simply its pool's next ``capacity`` jobs.
    """
    live = [lane for lane in lanes if lane.pool]
    taken: dict[int, list] = {}
    room = capacity
    while live and room > 0:
        share = max(1, -(-room // len(live)))
        full = []
        for lane in live:
            lane.pool.capacity = min(share, room)
            jobs = lane.pool.take() if room > 0 else []
            room -= len(jobs)
            taken.setdefault(id(lane), []).extend(jobs)
            if jobs and len(jobs) == lane.pool.capacity:
                full.append(lane)
        live = full
    return [(lane, taken[id(lane)]) for lane in lanes if taken.get(id(lane))]


# --- the engine a run loads ------------------------------------------------------------


def brand_engine(brand, settings: RunSettings):
    """The engine of a one-lane run: base model + the lane's adapter (transformers or vLLM)."""
    if brand.model.engine == "vllm":
        return _vllm_engine(brand, settings)
    return load_engine(settings.base_model, adapter=settings.adapter, dtype=brand.model.dtype,
                       batch_size=settings.batch_size, trust_remote_code=brand.model.trust_remote_code)


def _vllm_engine(brand, settings: RunSettings):
    """brand.yaml ``model.engine: vllm``: the GPU path, with the adapter as a LoRA request.

    Raises:
        ConfigError: vllm is not installed (exit 2, naming the extra).
    """
    import_vllm()  # before the model is resolved: the missing extra is the error to report
    adapters = {"brand": str(settings.adapter)} if settings.adapter else {}
    return VLLMEngine(str(resolve_model(settings.base_model)), adapters=adapters, dtype=brand.model.dtype)


def plan_engine(plan: RunPlan):
    """The engine of a run: one lane's own engine, or the base model once with every lane's adapter."""
    if not plan.multi:
        inputs = plan.lanes[0].inputs
        return brand_engine(inputs.brand, inputs.settings)
    first = plan.lanes[0].inputs
    if any(lane.inputs.brand.model.engine == "vllm" for lane in plan.lanes):
        raise ConfigError("--runs: several brands in one run use the transformers engine; a brand with "
                          "model.engine: vllm runs on its own (stylegen generate --brand ...)")
    adapters = {lane.adapter: lane.inputs.settings.adapter for lane in plan.lanes if lane.adapter is not None}
    return load_multi_engine(first.settings.base_model, adapters, dtype=first.brand.model.dtype,
                             batch_size=max(lane.inputs.settings.batch_size for lane in plan.lanes),
                             trust_remote_code=first.brand.model.trust_remote_code)
