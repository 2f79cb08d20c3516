"""The brand kit: one YAML file plus side files that drive train, generate and validate.

``load_brand("brand/")`` reads ``brand/brand.yaml`` strictly (unknown keys rejected, every
problem reported at once with file, line and key path) and checks its side files: the
JSON Schema of the output record and the list of claimable terms.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from stylegen.kit.yaml_lines import load_yaml, short
from stylegen.kit.config import Problems, load_dataclass
from stylegen.kit.roles import ROLES
from stylegen.errors import ConfigError

BRAND_FILE = "brand.yaml"
LEVEL_CHOICES = ("suggestion", "warning", "error", "off")
ReadabilityMetric = Literal[
    "flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index",
    "coleman_liau_index", "automated_readability_index", "dale_chall_readability_score",
    "linsear_write_formula",
]
RoleName = Literal[tuple(ROLES)]  # stylegen.kit.roles: what a fact is, whatever its column is called
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Terminology:
    """Case-exact brand spellings, rejected terms (term -> reason), swaps (term -> preferred)."""

    accept: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    swap: dict[str, str] = field(default_factory=dict)
    competitors: list[str] = field(default_factory=list)


@dataclass
class ReadabilityTarget:
    """A textstat metric with bounds for one field; skipped below ``min_words`` words."""

    RANGES: ClassVar[dict] = {"min_words": ">=0", "min": "finite", "max": "finite"}
    ORDER: ClassVar[tuple] = (("min", "max"),)

    metric: ReadabilityMetric = "flesch_reading_ease"
    min: float | None = None
    max: float | None = None
    min_words: int = 30


@dataclass
class Task:
    """One output field and the short prompt template that asks for it."""

    RANGES: ClassVar[dict] = {"max_new_tokens": ">=1"}

    prompt: str
    kind: Literal["text", "list"] = "text"
    max_new_tokens: int = 128


@dataclass
class CatalogField:
    """How one prompt variable is read from a catalog column."""

    RANGES: ClassVar[dict] = {"max_chars": ">=1"}

    column: str
    required: bool = False
    list: bool = False
    max_chars: int | None = None
    # what the fact is (stylegen.kit.roles); None: the variable's own name when it is a
    # role ("features", "materials", ...), else "text"
    role: RoleName | None = None


@dataclass
class CatalogMap:
    """Catalog column mapping: the id column and the prompt variables."""

    RANGES: ClassVar[dict] = {"max_field_chars": ">=1"}

    id: str = "sku"
    fields: dict[str, CatalogField] = field(default_factory=dict)
    max_field_chars: int = 2000
    list_separator: str = ";"
    # Platform exports (see stylegen/catalog/formats.py): how the file is laid out, the
    # list separator of single columns (Magento puts newlines in one cell), and the columns
    # holding HTML bodies (their text in the column, their <li> items in "COLUMN [list]").
    format: Literal["auto", "csv", "jsonl", "shopify-csv", "magento-csv"] = "auto"
    separators: dict[str, str] = field(default_factory=dict)
    html_columns: list[str] = field(default_factory=list)


@dataclass
class ModelSettings:
    """Base model (embedded alias, HF id or local dir) and the adapter to use."""

    base_model: str = "smollm2-135m-instruct"
    adapter: str | None = None
    # int8: the engine's weights (stylegen.generation.precision); training runs in float32
    dtype: Literal["auto", "bfloat16", "float32", "int8"] = "auto"
    trust_remote_code: bool = False
    # transformers: this CPU path (and any torch device); vllm: a GPU machine with the
    # vllm extra (stylegen.generation.vllm_engine): LoRA per request, prefix caching
    engine: Literal["transformers", "vllm"] = "transformers"


@dataclass
class TrainingSettings:
    """LoRA and trainer settings; LoRA keys reuse PEFT's names."""

    RANGES: ClassVar[dict] = {
        "r": ">=1", "lora_alpha": ">0", "lora_dropout": "[0,1)", "num_train_epochs": ">0",
        "learning_rate": ">0", "per_device_train_batch_size": ">=1", "pad_to_multiple_of": ">=1",
        "gradient_accumulation_steps": ">=1", "warmup_ratio": "[0,1)", "weight_decay": ">=0",
        "max_length": ">=1", "eval_fraction": "(0,1)", "early_stopping_patience": ">=0", "save_steps": ">=1",
        "seed": ">=0", "min_examples": ">=1", "near_duplicate_threshold": "(0,1]", "max_excluded_share": "[0,1]",
    }

    data: str = "../training_data/approved"
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    layers_to_transform: list[int] | None = None
    num_train_epochs: float = 2.0
    learning_rate: float = 3e-4
    per_device_train_batch_size: int = 8
    pad_to_multiple_of: int = 16   # batch widths rounded up: a few fixed shapes keep memory flat
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 512
    eval_fraction: float = 0.1
    early_stopping_patience: int = 2
    save_steps: int = 50
    seed: int = 17
    # exclude: copy failing an error-level rule is left out; mask: the characters such a rule
    # marks carry no loss, copy is left out only for findings without a span; refuse: stop.
    on_invalid: Literal["exclude", "mask", "refuse"] = "exclude"
    # exclude and mask stop when more than this share of the approved examples would be
    # left out: then the rules, not the copy, are probably wrong (the stop names the rules).
    max_excluded_share: float = 0.2
    min_examples: int = 300
    near_duplicate_threshold: float = 0.85   # word 3-gram Jaccard of two completions of one task


@dataclass
class GenerationSettings:
    """Sampling and retry settings for the nightly job."""

    RANGES: ClassVar[dict] = {
        "temperature": ">=0", "top_p": "(0,1]", "repetition_penalty": ">0", "max_attempts": ">=1",
        "candidates": ">=1", "batch_size": ">=1", "seed": ">=0", "examples": ">=0",
    }

    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    do_sample: bool = True
    max_attempts: int = 3  # rounds per field
    candidates: int = 1  # samples per field per round
    batch_size: int = 16
    seed: int = 0
    feedback: bool = True  # corrective note from the findings in the next round's prompt
    fixes: bool = True  # apply the rules' deterministic fixes before a round is spent
    runner: Literal["local", "ray"] = "local"  # one process, or a Ray Data actor pool (--runner)
    # words a completion may use, held at decode time (stylegen.generation.lexicon):
    # the row's facts + the brand's approved copy for its category + function words
    lexicon: Literal["category", "open"] = "open"
    # tasks whose first round is copy assembled from the facts (stylegen.generation.assemble);
    # the model writes the field only when no assembled candidate passes
    assemble: list[str] = field(default_factory=list)
    # what a field gets when all its assembled candidates fail: the model's rounds, or
    # none (the product is quarantined with the assembled copy's findings, for a person)
    fallback: Literal["model", "none"] = "model"
    # tasks whose assembled candidates also include descriptions composed from the brand
    # phrasebook (stylegen.generation.phrasebook; issue 21), before the plain frames
    compose: list[str] = field(default_factory=list)
    phrasebook: str = "phrasebook.tsv"  # the phrasebook file, relative to the kit
    # approved copy of the K most similar products (training split) as few-shot turns in
    # every model prompt (stylegen.generation.retrieval): for larger base models; 0 = off
    examples: int = 0
    # tasks the model writes with typed slots ("{weight}", "{feature:pocket}") in place of
    # fact values, filled from the row's facts (stylegen.generation.slots; issue 21,
    # approach 3); the adapter must be trained on slotted copy (benchmarks/slot_kit.py)
    slots: list[str] = field(default_factory=list)
    # assembled prose in the brand's cadence (stylegen.validation.cadence: its fact order,
    # its "you", its sentence length, measured on the approved copy), or the plain frames
    cadence: Literal["brand", "plain"] = "brand"


@dataclass
class ValidatorSettings:
    """Which validator suites apply, and per-rule level overrides (or ``off``)."""

    path: str = "../validators"
    suites: list[str] = field(default_factory=lambda: ["Default"])
    levels: dict[str, str] = field(default_factory=dict)


@dataclass
class BrandKit:
    """A loaded, checked brand kit. Paths in it are relative to ``root``."""

    name: str
    voice: str
    tasks: dict[str, Task]
    audience: str = ""
    terminology: Terminology = field(default_factory=Terminology)
    readability: dict[str, ReadabilityTarget] = field(default_factory=dict)
    schema: str = "schema.json"
    claims: str | None = None
    catalog: CatalogMap = field(default_factory=CatalogMap)
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    validators: ValidatorSettings = field(default_factory=ValidatorSettings)
    root: Path = field(default=Path("."), init=False)
    schema_doc: dict = field(default_factory=dict, init=False)
    claim_terms: list[str] = field(default_factory=list, init=False)

    def resolve(self, relpath: str | Path) -> Path:
        """A path from the brand kit, relative to the brand folder."""
        return (self.root / relpath).resolve()

    @property
    def file(self) -> Path:
        return self.root / BRAND_FILE

    def fingerprint(self) -> str:
        """sha256 over the brand file and its side files (for manifests and ledgers)."""
        digest = hashlib.sha256()
        for path in [self.file, self.resolve(self.schema)] + ([self.resolve(self.claims)] if self.claims else []):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


def load_brand(path: str | Path) -> BrandKit:
    """Load and check a brand kit folder (or its ``brand.yaml``).

    Raises:
        ConfigError: with every problem found, each naming file, line and key path.
    """
    path = Path(path)
    file = path / BRAND_FILE if path.is_dir() else path
    data = load_yaml(file)
    _off_is_a_level(data)
    problems = Problems(str(file))
    brand = load_dataclass(BrandKit, data, problems)
    if brand is not None:
        brand.root = file.parent
        _check_semantics(brand, data, problems)
    if problems or brand is None:
        raise ConfigError(problems or [f"{file}: not a brand kit"])
    return brand


def _off_is_a_level(data) -> None:
    """YAML 1.1 reads an unquoted ``off`` as ``False``; in ``validators.levels`` it means "off"."""
    validators = data.get("validators") if isinstance(data, dict) else None
    levels = validators.get("levels") if isinstance(validators, dict) else None
    if isinstance(levels, dict):
        for rule, level in levels.items():
            if level is False:
                levels[rule] = "off"


def _check_semantics(brand: BrandKit, data: dict, problems: Problems) -> None:
    """Checks beyond types: side files, placeholders, level names, cross references."""
    _check_schema(brand, data, problems)
    _check_claims(brand, data, problems)
    known = set(brand.catalog.fields) | {"facts", "task", "id"}
    for name, task in brand.tasks.items():
        for var in _PLACEHOLDER.findall(task.prompt):
            if var not in known:
                problems.add(data.get("tasks", {}).get(name), "prompt", f"tasks.{name}.prompt",
                             f"unknown placeholder {{{var}}} (valid: {', '.join(sorted(known))})")
        if brand.schema_doc and name not in brand.schema_doc.get("properties", {}):
            problems.add(data.get("tasks"), name, f"tasks.{name}", f"task field is not a property of {brand.schema}")
    for key in ("assemble", "compose", "slots"):
        for i, task in enumerate(getattr(brand.generation, key)):
            if task not in brand.tasks:
                problems.add(data.get("generation"), key, f"generation.{key}[{i}]",
                             f"not a task (valid: {', '.join(brand.tasks)})")
    for fieldname in brand.readability:
        if fieldname not in brand.tasks:
            problems.add(data.get("readability"), fieldname, f"readability.{fieldname}",
                         f"not a task field (valid: {', '.join(brand.tasks)})")
    levels = data.get("validators", {}).get("levels", {}) if isinstance(data.get("validators"), dict) else {}
    for rule, level in brand.validators.levels.items():
        if level not in LEVEL_CHOICES:
            problems.add(levels, rule, f"validators.levels.{rule}",
                         f"must be one of {', '.join(LEVEL_CHOICES)} (got {short(level)})")
    vpath = brand.resolve(brand.validators.path)
    # The default path may be missing (built-in suites need no folder); a path the kit sets must exist.
    explicit = isinstance(data.get("validators"), dict) and "path" in data["validators"]
    if explicit and not vpath.is_dir():
        problems.add(data.get("validators"), "path", "validators.path", f"folder not found: {vpath}")


def _check_schema(brand: BrandKit, data: dict, problems: Problems) -> None:
    import jsonschema  # light enough, but only needed here

    spath = brand.resolve(brand.schema)
    try:
        doc = json.loads(spath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return problems.add(data, "schema", "schema", f"file not found: {spath}")
    except (ValueError, OSError) as exc:
        return problems.add(data, "schema", "schema", f"{spath}: not valid JSON: {exc}")
    try:
        jsonschema.validators.validator_for(doc).check_schema(doc)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<root>"
        return problems.add(data, "schema", "schema", f"{spath}: not a valid JSON Schema at {where}: {exc.message}")
    brand.schema_doc = doc


def _check_claims(brand: BrandKit, data: dict, problems: Problems) -> None:
    if not brand.claims:
        return
    cpath = brand.resolve(brand.claims)
    try:
        lines = cpath.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, OSError, UnicodeDecodeError) as exc:
        return problems.add(data, "claims", "claims", f"cannot read {cpath}: {exc.__class__.__name__}")
    brand.claim_terms = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
