"""``stylegen generate --runs night.yaml``: several brands in one nightly run.

A *run file* lists the brands of the night; every row is generated with its own brand's
task prompts, sampling settings, adapter and validators, and the run directory keeps the
single-brand contract (one ledger, ``outputs.jsonl`` / ``rejects.jsonl``, every row exactly
once, a re-run resumes)::

    brands:
      - brand: brand                         # brand kit folder (or its brand.yaml)
        catalog: catalog/sample_catalog.csv  # CSV or JSONL, read with that kit's mapping
        name: kettle-cairn                   # optional; default: the kit's name, lower-cased, dashed
        limit: 100                           # optional: the first N catalog rows
        adapter: adapters/kettle-cairn       # optional: instead of brand.yaml model.adapter
        no_adapter: false                    # optional: prompt-only for this brand
      - brand: samples/halyard-hem/brand
        catalog: samples/halyard-hem/catalog/shopify_products.csv
    out: runs/night                          # optional (--out wins; default runs/nightly)

Relative paths are relative to the run file's folder. Unknown keys and bad values are
refused, every problem at once, each naming the key path (exit 2).

All brands share one base model (refused otherwise, naming the brands); it is loaded once
with every brand's adapter as a named, unmerged PEFT adapter
(:func:`~stylegen.generation.engine.load_multi_engine`), and each engine call mixes rows of
every brand still in flight, each request naming its adapter. In the ledger a row's key is
``<name>:<id>`` (two brands may share a SKU) and every attempt and finished row carries its
brand (migration ``m004_brand``) and, as in any run, its adapter's hash; each output line
starts with ``"brand"``. The Ray runner does not run a run file yet (a usage error).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from stylegen.errors import ConfigError, DataError
from stylegen.generation.catalog import quarantine_instructions, read_catalog
from stylegen.generation.engine import complete, derive_seed, load_multi_engine, prompt_hash
from stylegen.generation.ledger import brand_row_key, FinishedRow, Ledger, LEDGER_FILE
from stylegen.generation.pool import RequestPool
from stylegen.generation.rating import write_rating_sheet
from stylegen.generation.report import write_report
from stylegen.generation.run import (_absorb, _catalog_reject, _check_out_dir, _finish, _in_scope, _requests,
                                     _Sinks, _tokenizer_renderer, _with_adapter, adapter_dir, assembled_variants,
                                     locked_run_dir, PROMPTS_FILE, RunInputs, RunSummary, SETTINGS_FILE)
from stylegen.generation.settings import run_settings
from stylegen.kit._yaml import load_yaml
from stylegen.kit.brand import load_brand
from stylegen.kit.config import load_dataclass, Problems
from stylegen.validation.validator import Validator

DEFAULT_OUT = "runs/nightly"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # also a PEFT adapter name: no dots


# --- the run file --------------------------------------------------------------------


@dataclass(frozen=True)
class BrandRun:
    """One brand of a run file: its kit, its catalog and how to generate it."""

    brand: str
    catalog: str
    name: str | None = None
    limit: int | None = None
    adapter: str | None = None
    no_adapter: bool = False

    RANGES = {"limit": ">=0"}


@dataclass
class RunFile:
    """A night of several brands (``stylegen generate --runs FILE``)."""

    brands: list[BrandRun]
    out: str | None = None
    path: Path = field(default=Path("."), init=False, compare=False)  # the file itself (not a key)

    def resolve(self, value: str) -> Path:
        """A path from the run file, relative to its folder."""
        return (self.path.parent / Path(value).expanduser()).resolve()


def load_run_file(path: str | Path) -> RunFile:
    """Load and check a run file; every problem at once, each naming ``file:line: key.path``.

    Raises:
        ConfigError: the file is missing, not YAML, or has unknown keys or bad values.
    """
    path = Path(path)
    data = load_yaml(path)
    problems = Problems(str(path))
    run = load_dataclass(RunFile, data, problems)
    if isinstance(data, dict) and isinstance(data.get("brands"), list):
        _check_entries(data, problems)
    if problems or run is None:
        raise ConfigError(problems or [f"{path}: not a run file"])
    run.path = path.resolve()
    return run


def _check_entries(data: dict, problems: Problems) -> None:
    """Checks beyond types, on the file's own list (so ``brands[i]`` is the i-th entry as written)."""
    entries = data["brands"]
    if not entries:
        problems.add(data, "brands", "brands", "must list at least one brand")
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue  # already reported: must be a mapping
        if entry.get("adapter") and entry.get("no_adapter") is True:
            problems.add(entry, "no_adapter", f"brands[{i}].no_adapter",
                         f"excludes brands[{i}].adapter; give one of them")
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if not NAME.match(name):
            problems.add(entry, "name", f"brands[{i}].name", f"{name!r} is not a brand name (letters, digits,"
                         " '-' and '_', at most 64, starting with a letter or digit)")
        elif name in seen:
            problems.add(entry, "name", f"brands[{i}].name",
                         f"{name!r} is already brands[{seen[name]}]'s name; give each brand its own")
        else:
            seen[name] = i


def slug(text: str) -> str:
    """A brand name from a kit's display name: ``Kettle & Cairn`` -> ``kettle-cairn``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "brand"


# --- what a run of several brands generates from ---------------------------------------


@dataclass
class MultiOptions:
    """What ``stylegen generate --runs`` was asked to do (None: the run file's or the kits' value)."""

    runs: str
    out: str | None = None  # --out; wins over the run file's out
    dry_run: bool = False
    max_reject_rate: float = 1.0
    seed: int | None = None
    batch_size: int | None = None
    max_attempts: int | None = None
    candidates: int | None = None
    progress: bool = True
    runner: str | None = None  # only local (or None) is supported


@dataclass
class Lane:
    """One brand of a run: its inputs, the engine adapter it runs with, its validator and pool."""

    name: str
    inputs: RunInputs
    adapter: str | None = None  # the engine's adapter name (None: the base model)
    validator: Validator | None = None
    pool: RequestPool | None = None
    todo: list = field(default_factory=list)
    sinks: _Sinks | None = None

    def key(self, row_key: str) -> str:
        """This brand's ledger key of a row (``<name>:<id>``)."""
        return brand_row_key(self.name, row_key)

    def tag(self, row: FinishedRow) -> FinishedRow:
        """A finished row of this brand as the ledger and the output files hold it."""
        payload = json.dumps({"brand": self.name, **json.loads(row.payload)}, ensure_ascii=False)
        return dataclasses.replace(row, row_key=self.key(row.row_key), brand=self.name, payload=payload)


@dataclass
class MultiSummary(RunSummary):
    """A :class:`RunSummary` with a line per brand."""

    brands: dict = field(default_factory=dict)  # name -> report rows figures

    def lines(self) -> list[str]:
        out = super().lines()
        if not self.dry_run:
            out[1:1] = [f"  {name}: {b['finished']} rows, {b['accepted']} accepted, {b['rejected']} rejected"
                        for name, b in self.brands.items()]
        return out


class _BrandLedger:
    """The run's ledger as one brand's pipeline sees it: its attempts get its key and name."""

    def __init__(self, ledger: Ledger, lane: Lane):
        self.ledger, self.lane = ledger, lane

    def record_attempts(self, rows: list[dict]) -> None:
        self.ledger.record_attempts([{**a, "row_key": self.lane.key(a["row_key"]), "brand": self.lane.name}
                                     for a in rows])


class _Overrides(SimpleNamespace):
    """The command line's settings for one brand (``run_settings`` reads these attributes)."""


def load_lanes(run: RunFile, options: MultiOptions, check_adapters: bool = True) -> list[Lane]:
    """Every brand of ``run`` loaded and checked: kit, catalog rows in scope, settings, adapter.

    Raises:
        ConfigError: with every brand's problems at once, each naming its ``brands[i]``; or
            the brands do not share one base model.
    """
    lanes, problems = [], []
    for i, entry in enumerate(run.brands):
        try:
            lanes.append(_lane(run, entry, options, check_adapters))
        except (ConfigError, DataError) as exc:
            lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            problems += [f"{run.path}: brands[{i}] ({entry.brand}): {line}" for line in lines]
    if problems:
        raise ConfigError(problems)
    _check_names(run, lanes)
    _check_base_model(run, lanes)
    _check_runner(lanes, options)
    _name_adapters(lanes)
    return lanes


def _lane(run: RunFile, entry: BrandRun, options: MultiOptions, check: bool) -> Lane:
    brand = load_brand(run.resolve(entry.brand))
    overrides = _Overrides(seed=options.seed, max_attempts=options.max_attempts, candidates=options.candidates,
                           batch_size=options.batch_size, limit=entry.limit, max_reject_rate=options.max_reject_rate)
    settings = run_settings(brand, overrides)
    catalog = read_catalog(run.resolve(entry.catalog), brand.catalog)
    rows, rejects = _in_scope(catalog, entry.limit)
    settings = settings.replace(catalog=str(catalog.path), catalog_sha256=catalog.sha256)
    rows, talking = quarantine_instructions(rows)
    adapter = entry.adapter and str(run.resolve(entry.adapter))
    if not options.dry_run:
        settings = _with_adapter(brand, settings, adapter_dir(brand, adapter, entry.no_adapter), check=check)
    return Lane(entry.name or slug(brand.name), RunInputs(brand, settings, rows, rejects + talking))


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


def _check_runner(lanes: list[Lane], options: MultiOptions) -> None:
    if options.runner == "ray":
        raise ConfigError("--runs with --runner ray: the Ray runner does not run several brands yet; a run file"
                          " runs in one local process (drop --runner ray, or run each brand with --brand ...)")
    if options.runner is None:
        ray = [lane.name for lane in lanes if lane.inputs.brand.generation.runner == "ray"]
        if ray:
            raise ConfigError(f"brand.yaml of {', '.join(ray)} sets generation.runner: ray, but a run file runs"
                              " in one local process (the Ray runner does not run several brands yet); pass"
                              " --runner local")


def _name_adapters(lanes: list[Lane]) -> None:
    """Give each distinct adapter one engine name (the first brand's name that uses it)."""
    names: dict[str, str] = {}
    for lane in lanes:
        sha = lane.inputs.settings.adapter_sha256
        if sha is not None:
            lane.adapter = names.setdefault(sha, lane.name)


# --- running -------------------------------------------------------------------------


def run_multi(options: MultiOptions, engine=None) -> RunSummary:
    """Run (or resume) every brand of a run file into one run directory.

    Args:
        options: the CLI's options.
        engine: an engine to use instead of loading the base model with every adapter
            (tests); requests name their brand's adapter in ``GenRequest.adapter``.

    Raises:
        ConfigError / DataError: a bad run file, brand kit, catalog, adapter or run
            directory, or brands on different base models (exit 2).
        BusyError: another run holds the run directory.
    """
    run = load_run_file(options.runs)
    lanes = load_lanes(run, options, check_adapters=engine is None)
    out = Path(options.out) if options.out else (run.resolve(run.out) if run.out else Path(DEFAULT_OUT))
    if options.dry_run:
        return _dry_run(run, lanes, out, engine)
    for lane in lanes:  # rule problems surface before any work is done
        lane.validator = Validator(lane.inputs.brand)
    with locked_run_dir(out):
        return _run_locked(run, lanes, out, engine, options)


def _settings(run: RunFile, lanes: list[Lane], engine: dict | None = None) -> dict:
    return {"runs": str(run.path), "brands": {lane.name: lane.inputs.settings.to_dict() for lane in lanes},
            "engine": engine or {}}


def _write_settings(out: Path, settings: dict) -> None:
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _run_locked(run: RunFile, lanes: list[Lane], out: Path, engine, options: MultiOptions) -> RunSummary:
    ledger = Ledger(out / LEDGER_FILE)
    try:
        _check_identity(ledger, lanes, out)
        settings = _settings(run, lanes)
        ledger.start_session(settings)
        _write_settings(out, settings)
        resumed = _resume(ledger, out, lanes)
        todo = any(lane.todo for lane in lanes)
        if todo:
            engine = engine or _load_engine(lanes)
        if ledger.get_meta("identity") is None:  # only once the model and adapters loaded
            ledger.set_meta("identity", _identity(lanes))
        if todo:
            settings = _settings(run, lanes, engine.describe())
            _write_settings(out, settings)
            _generate(lanes, engine, ledger, out, options.progress)
        ledger.end_session()
        return _summarize(ledger, out, lanes, settings, resumed, options.max_reject_rate)
    finally:
        ledger.close()


def _identity(lanes: list[Lane]) -> dict:
    return {"brands": {lane.name: lane.inputs.settings.identity() for lane in lanes}}


def _check_identity(ledger: Ledger, lanes: list[Lane], out: Path) -> None:
    """Refuse to resume a run directory with other brands or other settings (naming them)."""
    stored = ledger.get_meta("identity")
    if stored is None:
        return
    if "brands" not in stored:
        raise ConfigError(f"{out}: this run directory holds a single-brand run (stylegen generate --brand);"
                          " use a new --out for the run file")
    before, now = list(stored["brands"]), [lane.name for lane in lanes]
    problems = []
    if sorted(before) != sorted(now):
        problems.append(f"{out}: this run directory was started with the brands {', '.join(before)}; the run file"
                        f" now lists {', '.join(now)}")
    for lane in lanes:
        if lane.name in stored["brands"]:
            changed = lane.inputs.settings.changed_from(stored["brands"][lane.name])
            if changed:
                problems.append(f"{out}: brand {lane.name}: started with different settings ({', '.join(changed)}"
                                " changed)")
    if problems:
        raise ConfigError(problems + ["resume it with the same run file, brand kits, catalogs, adapters and flags,"
                                      " or use a new --out"])


def _resume(ledger: Ledger, out: Path, lanes: list[Lane]) -> int:
    """Reconcile the files with the ledger, write the catalog rejects not yet written, set
    each brand's rows still to generate; return how many rows were already done."""
    ledger.reconcile(out)
    done = ledger.finished_keys()
    resumed, rejects = 0, []
    for lane in lanes:
        inputs = lane.inputs
        keys = [r.id for r in inputs.rows] + [r.key for r in inputs.rejects]
        resumed += sum(1 for key in keys if lane.key(key) in done)
        rejects += [lane.tag(_catalog_reject(r)) for r in inputs.rejects if lane.key(r.key) not in done]
        lane.todo = [r for r in inputs.rows if lane.key(r.id) not in done]
    _finish(ledger, out, rejects)
    return resumed


def _load_engine(lanes: list[Lane]):
    """The base model once, with every brand's adapter as a named PEFT adapter."""
    first = lanes[0].inputs
    if any(lane.inputs.brand.model.engine == "vllm" for lane in lanes):
        raise ConfigError("--runs: several brands in one run use the transformers engine; a brand with "
                          "model.engine: vllm runs on its own (stylegen generate --brand ...)")
    adapters = {lane.adapter: lane.inputs.settings.adapter for lane in lanes if lane.adapter is not None}
    return load_multi_engine(first.settings.base_model, adapters, dtype=first.brand.model.dtype,
                             batch_size=max(lane.inputs.settings.batch_size for lane in lanes),
                             trust_remote_code=first.brand.model.trust_remote_code)


def _capacity(lanes: list[Lane]) -> int:
    """Jobs per engine call: the largest brand batch (rows) times the most tasks."""
    return max(lane.inputs.settings.batch_size for lane in lanes) * max(len(lane.inputs.settings.tasks)
                                                                        for lane in lanes)


def _generate(lanes: list[Lane], engine, ledger: Ledger, out: Path, progress: bool) -> None:
    """Run every brand's pool through shared engine calls until every row is finished."""
    from tqdm import tqdm

    capacity = _capacity(lanes)
    for lane in lanes:
        settings = lane.inputs.settings
        lane.pool = RequestPool(lane.todo, list(settings.tasks), settings.candidates, capacity,
                                assembled=settings.assemble, variants=assembled_variants(settings),
                                fallback=settings.fallback)
        lane.sinks = _Sinks(_BrandLedger(ledger, lane), out, engine, lane.validator)
    passed = finished = 0
    with tqdm(total=sum(len(lane.todo) for lane in lanes), unit="row", desc="generate", disable=not progress,
              mininterval=1.0, dynamic_ncols=True) as bar:
        while True:
            taken = take_mixed(lanes, capacity)
            if not taken:
                break
            done = _step(taken, engine, ledger, out)
            finished += len(done)
            passed += sum(1 for f in done if f.status == "accepted")
            bar.set_postfix(accepted=f"{passed / max(1, finished):.0%}", refresh=False)
            bar.update(len(done))


def take_mixed(lanes: list[Lane], capacity: int) -> list[tuple[Lane, list]]:
    """Jobs for one engine call, shared out over the brands still in flight.

    Each brand's pool gives up to an even share of ``capacity`` (its retries first, then
    first rounds of new rows, as in a single-brand run); room a nearly finished brand leaves
    goes to the others.
    """
    live = [lane for lane in lanes if lane.pool]
    taken: dict[str, list] = {}
    room = capacity
    while live and room > 0:
        share = max(1, -(-room // len(live)))
        full = []
        for lane in live:
            lane.pool.capacity = min(share, room)
            jobs = lane.pool.take() if room > 0 else []
            room -= len(jobs)
            taken.setdefault(lane.name, []).extend(jobs)
            if jobs and len(jobs) == lane.pool.capacity:
                full.append(lane)
        live = full
    by_name = {lane.name: lane for lane in lanes}
    return [(by_name[name], jobs) for name, jobs in taken.items() if jobs]


def _step(taken: list[tuple[Lane, list]], engine, ledger: Ledger, out: Path) -> list[FinishedRow]:
    """One mixed engine call: every brand's requests together, then each brand's own validation."""
    parts = []
    for lane, jobs in taken:
        requests, notes = _requests(lane.inputs, lane.pool, jobs, engine, adapter=lane.adapter)
        parts.append((lane, jobs, requests, notes))
    results = complete(engine, [req for part in parts for req in part[2]])
    finished, start = [], 0
    for lane, jobs, requests, notes in parts:
        mine = results[start:start + len(requests)]
        start += len(requests)
        finished += [lane.tag(row) for row in _absorb(lane.inputs, lane.pool, jobs, requests, notes, mine,
                                                        lane.sinks)]
    _finish(ledger, out, finished)
    return finished


def _summarize(ledger: Ledger, out: Path, lanes: list[Lane], settings: dict, resumed: int,
               max_rate: float) -> MultiSummary:
    report = write_report(out, ledger, settings)
    sheet = SimpleNamespace(name=" + ".join(lane.inputs.brand.name for lane in lanes),
                            tasks=list(dict.fromkeys(t for lane in lanes for t in lane.inputs.brand.tasks)))
    facts = {lane.key(r.id): r.facts for lane in lanes for r in lane.inputs.rows}
    write_rating_sheet(out, ledger, sheet, facts, seed=lanes[0].inputs.settings.seed)
    accepted, rejected = report["rows"]["accepted"], report["rows"]["rejected"]
    total = accepted + rejected
    in_scope = sum(len(lane.inputs.rows) + len(lane.inputs.rejects) for lane in lanes)
    return MultiSummary(out=out, rows=in_scope, accepted=accepted, rejected=rejected, resumed=resumed,
                        reject_rate=rejected / total if total else 0.0, max_reject_rate=max_rate, report=report,
                        brands={name: b["rows"] for name, b in report.get("brands", {}).items()})


def _dry_run(run: RunFile, lanes: list[Lane], out: Path, engine) -> MultiSummary:
    """Every brand's first-attempt prompts in ``prompts.jsonl`` (a ``brand`` key a line); nothing generated."""
    from stylegen.generation.ledger import RunLock

    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    try:
        render = engine.render if engine is not None else _tokenizer_renderer(lanes[0].inputs.settings.base_model)
        lines, rejects = [], []
        for lane in lanes:
            inputs, settings = lane.inputs, lane.inputs.settings
            for row in inputs.rows:
                for task in settings.tasks:
                    prompt = render(inputs.compose(task, row, None))
                    lines.append({"brand": lane.name, "id": row.id, "task": task,
                                  "seed": derive_seed(settings.seed, row.id, task, 1),
                                  "prompt_hash": prompt_hash(prompt), "prompt": prompt})
            rejects += [lane.tag(_catalog_reject(r)).payload for r in inputs.rejects]
        (out / PROMPTS_FILE).write_text("".join(json.dumps(ln, ensure_ascii=False) + "\n" for ln in lines),
                                        encoding="utf-8")
        (out / "dry-run-rejects.jsonl").write_text("".join(r + "\n" for r in rejects), encoding="utf-8")
        (out / "dry-run-settings.json").write_text(json.dumps(_settings(run, lanes), indent=2, sort_keys=True)
                                                   + "\n", encoding="utf-8")
    finally:
        lock.release()
    return MultiSummary(out=out, rows=sum(len(lane.inputs.rows) + len(lane.inputs.rejects) for lane in lanes),
                        rejected=len(rejects), dry_run=True, prompts=len(lines))

