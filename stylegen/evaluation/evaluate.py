"""``stylegen eval``: the style adapter against the best prompt, on held-out approved copy.

*Build the most complete prompt baseline first, fine-tune only where it falls short, and
measure the gap on your own data.* This module makes that measurement one command.

Arms (all on the same base model, the same records and the same seed):

* ``prompt-only``: the base model with the most complete prompt we can write: a system
  turn with the brand voice, the audience and every validator rule in words, and
  ``shots`` (default 3) few-shot examples per request drawn from the *training* split
  only (same category first, then a seeded order).
* ``adapter``: base + LoRA adapter with the brand's short task prompt (what ``generate``
  sends).
* ``adapter+few-shot`` (optional): the adapter with the short system line plus the same
  few-shot examples.
* ``base`` (optional): the base model with the short task prompt: the floor.

Every arm runs through the same code as the nightly job: prompts are rendered by
:mod:`stylegen.kit.prompts`, perplexity by :func:`stylegen.training.trainer.completion_perplexity`, and
generation, validation and retries by :func:`stylegen.generation.run.run_generate` (one run
directory per arm). Metrics per arm (docs/EVAL.md defines each):

* held-out perplexity of the approved reference copy, completion tokens only;
* validator pass rate on the first attempt and mean attempts (``max_attempts`` from the
  brand kit);
* brand-voice score of the outputs (:mod:`stylegen.validation.voice`);
* readability of the outputs against the references (the brand's readability metrics);
* prompt tokens per request, generation tokens/s, and tokens (and cost, for
  ``--price-per-1k-tokens``) per 1,000 products, retries included.

Same seed, same numbers: sampling is seeded per row, task and attempt, so every metric
except the wall-clock ones (tokens/s, seconds) repeats exactly.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from stylegen.errors import ConfigError, DataError
from stylegen.catalog.rows import CatalogRow
from stylegen.generation.engine import derive_seed, load_inference_model, TransformersEngine
from stylegen.plotting import pyplot
from stylegen.generation.ledger import Ledger, LEDGER_FILE
from stylegen.generation.report import failures_by_rule, rate
from stylegen.generation.run import GenerateOptions, run_rows, RunInputs
from stylegen.generation.settings import run_settings
from stylegen.kit.roles import role_value
from stylegen.kit.brand import BrandKit, load_brand
from stylegen.kit.prompts import format_completion, render_messages, split_conversation
from stylegen.training.data import Example, tokenize
from stylegen.training.scoring import PerplexityScorer
from stylegen.training.adapter import adapter_sha256, check_adapter
from stylegen.validation.readability import score
from stylegen.validation.rules import load_rules
from stylegen.training.voice_fit import held_out_ids
from stylegen.validation.corpus import task_records
from stylegen.validation.voice import load_voice_model, MODEL_FILE, record_texts, roc_auc, VoiceModel


DEFAULT_ARMS = ("prompt-only", "adapter")
DEFAULT_LIMIT = 12  # eval records: keeps the sample brand under 15 minutes on 2 CPU cores
EVAL_JSON, EVAL_MD, EVAL_PNG = "eval.json", "eval.md", "eval.png"


@dataclass(frozen=True)
class ArmSpec:
    """How one arm asks for copy."""

    adapter: bool        # base + adapter (else the base model alone)
    full_system: bool    # system turn = voice + audience + rules in words (else the short line)
    shots: bool          # few-shot examples from the training split
    about: str


ARMS = {
    "prompt-only": ArmSpec(False, True, True, "base model; system turn with the brand voice, audience and rules in"
                                              " words; few-shot examples from the training split"),
    "adapter": ArmSpec(True, False, False, "base model + adapter; short task prompt (what generate sends)"),
    "adapter+few-shot": ArmSpec(True, False, True, "base model + adapter; short task prompt plus the same few-shot"
                                                  " examples"),
    "base": ArmSpec(False, False, False, "base model; short task prompt (the floor)"),
}

# The verdict's metrics: key in an arm's metrics, label, True when higher is better.
VERDICT_METRICS = (
    ("perplexity", "held-out perplexity", False),
    ("first_pass_rate", "first-attempt pass rate", True),
    ("mean_attempts", "mean attempts", False),
    ("voice_score", "brand-voice score", True),
    ("readability_gap", "readability gap to references", False),
    ("tokens_per_product", "tokens per product", False),
)


@dataclass
class EvalOptions:
    """What ``stylegen eval`` was asked to do (None: take it from the brand kit)."""

    brand: str = "brand"
    adapter: str | None = None
    data: str | None = None
    out: str = "runs/eval"
    arms: tuple = DEFAULT_ARMS
    limit: int | None = DEFAULT_LIMIT
    shots: int = 3
    seed: int | None = None
    max_attempts: int | None = None
    batch_size: int | None = None
    price_per_1k_tokens: float | None = None
    voice_model: str | None = None
    base_model: str | None = None
    threads: int | None = None
    progress: bool = True


# --- the prompt-only arm's prompt ------------------------------------------------------


def prompt_only_system(brand, rules=None) -> str:
    """The system turn of the prompt-only arm: voice, audience and every rule in words.

    Args:
        brand: the loaded BrandKit.
        rules: the loaded validator rules (default: the brand's suites).
    """
    if rules is None:

        rules = load_rules(brand)
    lines = [f"You write product copy for {brand.name}.", "", f"Voice: {_one_line(brand.voice)}"]
    if brand.audience:
        lines.append(f"Audience: {_one_line(brand.audience)}")
    lines += ["", "Rules (every one is checked):"]
    lines += [f"- {text}" for text in _rule_lines(brand, rules)]
    lines.append("- Use only the facts you are given; never invent a number, a material or a claim.")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _rule_lines(brand, rules) -> list[str]:
    """The rules in words: the brand's terminology and targets spelled out, then every
    error/warning rule's description with its word list."""
    term = brand.terminology
    out = []
    if term.reject:
        out.append("Never use these words: " + ", ".join(term.reject) + ".")
    if term.swap:
        out.append("Preferred words: " + "; ".join(f"write '{v}', not '{k}'" for k, v in term.swap.items()) + ".")
    if term.accept:
        out.append("Spell these names exactly: " + ", ".join(term.accept) + ".")
    if term.competitors:
        out.append("Never name a competitor: " + ", ".join(term.competitors) + ".")
    for name, target in brand.readability.items():
        bounds = " and ".join(b for b in (f"at least {target.min:g}" if target.min is not None else "",
                                          f"at most {target.max:g}" if target.max is not None else "") if b)
        out.append(f"The {name.replace('_', ' ')} scores {bounds} on {target.metric.replace('_', ' ')}:"
                   " short sentences, plain words.")
    spelled = set(term.reject) | set(term.swap) | set(term.accept) | set(term.competitors)
    out += [_rule_text(rule, spelled) for rule in rules if rule.level in ("error", "warning")]
    return list(dict.fromkeys(o for o in out if o))


def _rule_text(rule, spelled: set) -> str | None:
    """One rule in words, or None when it has no description, only restates brand.yaml
    (spelled out above) or is the JSON Schema (the output format is the task prompt's job)."""
    desc = _one_line(rule.description or "")
    # Word lists of word-matching rules are spelled out; others (claims, patterns) stay described.
    terms = [t for t in getattr(rule.check, "terms", None) or {} if isinstance(t, str)] \
        if rule.extends in ("existence", "tone") else []
    if not desc or "brand.yaml" in desc or rule.extends == "schema" or (terms and set(terms) <= spelled):
        return None
    if desc.count("(") > desc.count(")"):  # cut short (e.g. by a YAML comment): drop the open aside
        desc = desc[:desc.rindex("(")]
    desc = desc.strip().rstrip(".,;:")
    extra = [t for t in terms if t not in spelled]
    return f"{desc}: {', '.join(extra)}." if extra else f"{desc}."


# --- records, split and few-shot examples -------------------------------------------------


@dataclass
class EvalSplit:
    """The records eval scores and the training records few-shot examples come from."""

    eval: list          # Record objects with facts and reference fields
    train: list
    source: str


def eval_split(brand, data: str | None, manifest: dict | None, limit: int | None) -> EvalSplit:
    """Held-out records (adapter manifest split, or ``data``) and the training pool.

    Raises:
        DataError: no held-out records, or an eval record is also a training record.
    """

    approved, _ = task_records(brand)
    if data is not None:
        held_records, _ = task_records(brand, data)
        held = {r.id for r in held_records}
        train = [r for r in approved if r.id not in held]
        source = f"--data {data}"
    else:
        if manifest is not None:
            held, train_ids = set(manifest["split"]["eval"]), set(manifest["split"]["train"])
            source = "adapter manifest split (eval record ids)"
        else:
            held, source = held_out_ids(brand, [r.id for r in approved])
            train_ids = {r.id for r in approved} - held
        held_records = [r for r in approved if r.id in held]
        train = [r for r in approved if r.id in train_ids]
    held_records = sorted((r for r in held_records if r.facts), key=lambda r: r.id)
    held_records = held_records[:limit] if limit is not None else held_records
    if not held_records:
        raise DataError(f"no held-out records with facts to evaluate ({source})")
    _check_no_leak(brand, held_records, train)
    return EvalSplit(eval=held_records, train=train, source=source)


def _check_no_leak(brand, held: list, train: list) -> None:
    """No eval record (by id, or by identical copy) may be a training record."""

    ids = {r.id for r in held} & {r.id for r in train}
    texts = {t for r in held for _, t in record_texts(r.fields, brand.tasks)}
    copied = [r.id for r in train if any(t in texts for _, t in record_texts(r.fields, brand.tasks))]
    if ids or copied:
        raise DataError(f"eval records leak into the training split: {', '.join(sorted(ids | set(copied)))}")


def choose_shots(brand, held: list, train: list, k: int, seed: int) -> dict:
    """Few-shot examples per eval record and task, from the training records only.

    Same category as the eval record first (the closest examples a writer would pick),
    then a seeded order. Returns ``{record id: {task: [example, ...]}}`` where an example
    is ``{"id", "facts", <task>: value}`` (what :func:`stylegen.kit.prompts.render_messages` takes).
    """

    held_ids = {r.id for r in held}
    shots: dict = {}
    for rec in held:
        category = role_value(rec.facts, "category", brand.catalog)
        for task in brand.tasks:
            pool = [p for p in train if task in p.fields and p.facts and p.id not in held_ids]
            pool.sort(key=lambda p: (role_value(p.facts, "category", brand.catalog) != category,
                                     derive_seed(seed, rec.id, task, p.id)))
            shots.setdefault(rec.id, {})[task] = [{"id": p.id, "facts": p.facts, task: p.fields[task]}
                                                  for p in pool[:k]]
    return shots


# --- the engine wrapper that gives the generate loop the arm's prompt ----------------------


def arm_messages(brand, shots: dict | None, system: str | None):
    """The prompt builder of an arm.

    The run loop (:class:`stylegen.generation.run.RunInputs` ``prompts``) calls it for each
    request (task, catalog row, feedback note);
    it renders the arm's system turn, the record's few-shot examples and the same
    feedback through :func:`stylegen.kit.prompts.render_messages`, so generation,
    validation and retries stay the run loop's own.
    """

    def compose(task: str, row, feedback: str | None) -> list[dict]:
        examples = (shots or {}).get(row.id, {}).get(task)
        return render_messages(brand, task, row.facts, feedback=feedback, examples=examples, system=system)

    return compose


# --- perplexity ----------------------------------------------------------------------


def reference_rows(brand, tokenizer, records: list, shots: dict | None, system: str | None) -> list[dict]:
    """Token rows (prompt masked) of every reference field under an arm's prompt."""

    rows = []
    for rec in records:
        for task in brand.tasks:
            if task not in rec.fields:
                continue
            examples = (shots or {}).get(rec.id, {}).get(task)
            messages = render_messages(brand, task, rec.facts, examples=examples, system=system)
            pair = split_conversation(tokenizer, messages, format_completion(brand, task, rec.fields[task]))
            tokens = tokenize(tokenizer, Example(id=f"{rec.id}/{task}", record_id=rec.id, task=task, source="",
                                                 **pair))
            rows.append({k: tokens[k] for k in ("input_ids", "labels", "attention_mask")})
    return rows


def reference_perplexity(scorer: PerplexityScorer, rows: list[dict], batch_size: int) -> dict:
    """Completion-only perplexity of the reference rows under the scorer's model."""
    return scorer.perplexity(rows, batch_size)


def eval_rows(records: list) -> list[CatalogRow]:
    """The held-out records as the rows a run generates from (their facts are the catalog)."""
    return [CatalogRow(id=rec.id, facts=rec.facts, line=i) for i, rec in enumerate(records, 1)]


def _rows_sha256(rows: list[CatalogRow]) -> str:
    data = json.dumps([[r.id, r.facts] for r in rows], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def run_arm(brand, name: str, arm: "ArmModels", split: EvalSplit, shots: dict, settings: dict, out: Path) -> dict:
    """Perplexity, then a generation run for one arm; returns its raw results."""
    spec = ARMS[name]
    system = settings["prompt_only_system"] if spec.full_system else None
    arm_shots = shots if spec.shots else None
    started = time.perf_counter()
    rows = reference_rows(brand, arm.tokenizer, split.eval, arm_shots, system)
    perplexity = reference_perplexity(arm.scorer, rows, settings["batch_size"])
    run_dir = out / name / "generate"
    _fresh_run_dir(run_dir)
    compose = arm_messages(brand, arm_shots, system)
    inputs = _arm_inputs(brand, settings, eval_rows(split.eval), compose, settings["adapter"] if spec.adapter else None)
    run_rows(inputs, run_dir, arm.engine, progress=settings["progress"])
    return {"perplexity": perplexity, "run_dir": run_dir, "seconds": time.perf_counter() - started,
            "example_prompt": arm.engine.render(compose(next(iter(brand.tasks)), inputs.rows[0], None))}


def _arm_inputs(brand, settings: dict, rows: list[CatalogRow], compose, adapter: str | None) -> RunInputs:
    """What an arm generates from: the held-out rows, the arm's prompts, eval's run settings."""
    overrides = GenerateOptions(seed=settings["seed"], batch_size=settings["batch_size"],
                                max_attempts=settings["max_attempts"])
    run = run_settings(brand, overrides).replace(
        base_model=settings["base_model"], catalog="eval: held-out approved records",
        catalog_sha256=_rows_sha256(rows), adapter=adapter,
        adapter_sha256=adapter_sha256(Path(adapter)) if adapter else None)
    return RunInputs(brand, run, rows, prompts=compose)


def _fresh_run_dir(path: Path) -> None:
    """Start an arm's generate run afresh; only a folder eval itself made is removed."""

    if path.exists():
        if not (path / LEDGER_FILE).is_file():
            raise ConfigError(f"{path} exists and is not a stylegen run directory; choose another --out")
        shutil.rmtree(path)


# --- metrics ----------------------------------------------------------------------------


def generation_metrics(run_dir: Path, brand, price_per_1k: float | None) -> dict:
    """Pass rates, attempts and token figures of one arm's run, from its ledger.

    Returns ``(metrics, outputs)`` where outputs maps record id -> the kept fields.

    Per output (one product's one task): passed on attempt 1 (no error-level finding),
    attempts used (the run loop stops at the first pass or at ``max_attempts``), and the
    attempt it first passed on. Tokens count every attempt, prompt and generated.
    """

    ledger = Ledger(run_dir / LEDGER_FILE)
    try:
        attempts, finished = ledger.attempt_rows(), ledger.finished_rows()
    finally:
        ledger.close()
    by_output: dict = {}
    for a in sorted(attempts, key=lambda a: a["attempt"]):
        by_output.setdefault((a["row_key"], a["task"]), []).append(a)
    passed_at = [next((a["attempt"] for a in tries if a["errors"] == 0), None) for tries in by_output.values()]
    products = [r for r in finished if r.source == "validation"]
    tokens = sum(a["prompt_tokens"] + a["new_tokens"] for a in attempts)
    new_tokens, gen_s = sum(a["new_tokens"] for a in attempts), sum(a["gen_seconds"] for a in attempts)
    per_product = tokens / len(products) if products else None
    return {
        "outputs": len(by_output), "products": len(products),
        "first_pass_rate": rate(sum(1 for p in passed_at if p == 1), len(passed_at)),
        "final_pass_rate": rate(sum(1 for p in passed_at if p is not None), len(passed_at)),
        "product_first_pass_rate": rate(sum(1 for r in products if r.first_pass), len(products)),
        "mean_attempts": _avg([len(t) for t in by_output.values()]),
        "mean_attempts_to_pass": _avg([p for p in passed_at if p is not None]),
        "prompt_tokens_per_request": _avg([a["prompt_tokens"] for a in attempts]),
        "new_tokens_per_request": _avg([a["new_tokens"] for a in attempts]),
        "tokens_per_second": round(new_tokens / gen_s, 1) if gen_s else None,
        "generate_seconds": round(gen_s, 1),
        "tokens_per_product": round(per_product, 1) if per_product is not None else None,
        "tokens_per_1k_products": round(per_product * 1000) if per_product is not None else None,
        "cost_per_1k_products": round(per_product * price_per_1k, 4)
        if per_product is not None and price_per_1k is not None else None,
        "failures_by_rule": failures_by_rule(attempts, top=8),
    }, {r.id: json.loads(r.payload).get("fields", {}) for r in products}


def _avg(values: list) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def text_metrics(brand, outputs: dict, references: dict, voice) -> dict:
    """Brand-voice score and readability of ``outputs`` (``{record id: fields}``), and the
    readability gap to ``references`` (same shape), per task and overall."""

    out_texts = [(task, text) for fields in outputs.values() for task, text in record_texts(fields, brand.tasks)]
    ref_texts = [(task, text) for fields in references.values() for task, text in record_texts(fields, brand.tasks)]
    result = {"readability": readability_summary(brand, out_texts, ref_texts)}
    gaps = [v["gap"] for v in result["readability"].values() if v.get("gap") is not None]
    result["readability_gap"] = _avg(gaps)
    if voice is not None:
        scores = voice.score([t for _, t in out_texts])
        ref_scores = voice.score([t for _, t in ref_texts])
        result["voice_score"] = _avg(scores)
        result["voice_by_task"] = {task: _avg([s for (t, _), s in zip(out_texts, scores) if t == task])
                                   for task in brand.tasks}
        result["voice_auc_vs_references"] = roc_auc(ref_scores, scores)
    return result


def readability_summary(brand, out_texts: list, ref_texts: list) -> dict:
    """Mean readability metric per task with a brand target: outputs, references, gap."""

    summary = {}
    for task, target in brand.readability.items():
        outs = [score(target.metric, t) for k, t in out_texts if k == task]
        refs = [score(target.metric, t) for k, t in ref_texts if k == task]
        mean_out, mean_ref = _avg(outs), _avg(refs)
        gap = round(abs(mean_out - mean_ref), 2) if mean_out is not None and mean_ref is not None else None
        summary[task] = {"metric": target.metric, "outputs": _round(mean_out), "references": _round(mean_ref),
                         "gap": gap}
    return summary


def _round(value, digits: int = 2):
    return round(value, digits) if value is not None else None


# --- the whole evaluation -------------------------------------------------------------------


@dataclass
class EvalResult:
    """What ``stylegen eval`` produced: the report dict and where it was written."""

    report: dict
    out: Path

    def lines(self) -> list[str]:
        """The CLI summary: the table and the verdict."""
        return [format_table(self.report), "", self.report["verdict"],
                f"report: {self.out / EVAL_MD} ({EVAL_JSON}, {EVAL_PNG})"]


def run_eval(options: EvalOptions) -> EvalResult:
    """Run every arm on the held-out records and write eval.json, eval.md and eval.png.

    Raises:
        ConfigError / DataError: bad brand kit, arms, adapter or data (exit 2).
    """

    started = time.perf_counter()
    brand = load_brand(options.brand)
    arms = _check_arms(options.arms)
    settings = _settings(brand, options, arms)
    manifest = _adapter_manifest(settings) if settings["adapter"] else None
    split = eval_split(brand, options.data, manifest, options.limit)
    shots = choose_shots(brand, split.eval, split.train, options.shots, settings["seed"])
    voice, voice_info = _voice(brand, options.voice_model)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = _run_arms(brand, arms, split, shots, settings, out)
    ctx = EvalContext(brand, arms, split, shots, settings, options, voice, voice_info)
    report = build_report(ctx, raw)
    report["timing"] = {"total_seconds": round(time.perf_counter() - started, 1)}
    write_report(report, out)
    return EvalResult(report, out)


def _check_arms(arms) -> list[str]:
    names = [a.strip() for a in arms if a.strip()]
    bad = [a for a in names if a not in ARMS]
    if bad or not names:
        raise ConfigError(f"--arms: unknown arm(s) {', '.join(bad) or '(none given)'} (valid: {', '.join(ARMS)})")
    return list(dict.fromkeys(names))


def _settings(brand, options: EvalOptions, arms: list[str]) -> dict:
    gen = brand.generation
    settings = {
        "base_model": options.base_model or brand.model.base_model, "dtype": brand.model.dtype,
        "seed": gen.seed if options.seed is None else options.seed,
        "max_attempts": options.max_attempts or gen.max_attempts, "batch_size": options.batch_size or gen.batch_size,
        "shots": options.shots, "limit": options.limit, "price_per_1k_tokens": options.price_per_1k_tokens,
        "threads": options.threads, "progress": options.progress,
        "adapter": _adapter_path(brand, options) if any(ARMS[a].adapter for a in arms) else None,
    }
    if options.shots < 3 and any(ARMS[a].shots and not ARMS[a].adapter for a in arms):
        raise ConfigError(f"--shots {options.shots}: the prompt-only arm needs at least 3 few-shot examples")
    settings["prompt_only_system"] = prompt_only_system(brand) if any(ARMS[a].full_system for a in arms) else None
    return settings


def _adapter_path(brand, options: EvalOptions) -> str:
    if options.adapter:
        path, origin = Path(options.adapter), "--adapter"
    elif brand.model.adapter:
        path, origin = brand.resolve(brand.model.adapter), f"{brand.file}: model.adapter"
    else:
        raise ConfigError("an adapter arm needs an adapter: give --adapter DIR or set model.adapter in brand.yaml")
    if not path.is_dir():
        raise ConfigError(f"adapter folder not found: {path} (from {origin}); train one with `stylegen train`, or"
                          " run --arms prompt-only,base")
    return str(path.resolve())


def _adapter_manifest(settings: dict) -> dict:

    return check_adapter(settings["adapter"], settings["base_model"])


def _voice(brand, path: str | None):
    """The brand-voice model (None when the brand kit has none and none was given)."""

    file = Path(path) if path else brand.root / MODEL_FILE
    if not path and not file.is_file():
        return None, {"note": f"no voice model at {file}: fit one with `stylegen voice fit`"}
    model = load_voice_model(file)
    held = model.metrics.get("held_out", {})
    return model, {"path": str(file), "held_out_roc_auc": held.get("roc_auc"), "held_out": {
        k: held.get(k) for k in ("approved", "contrast", "per_task", "mean_score")},
        "calibration": model.calibration, "contrast": model.info.get("data", {}).get("contrast_files")}


def _run_arms(brand, arms: list[str], split: EvalSplit, shots: dict, settings: dict, out: Path) -> dict:
    """Run the arms, loading each model once (base-model arms first, then adapter arms)."""
    raw = {}
    for with_adapter in (False, True):
        group = [a for a in arms if ARMS[a].adapter == with_adapter]
        if not group:
            continue
        arm = _load_arm_models(brand, settings, settings["adapter"] if with_adapter else None)
        for name in group:
            raw[name] = run_arm(brand, name, arm, split, shots, settings, out)
            raw[name]["engine"] = arm.engine.describe()
        del arm  # free the model before the next one loads
    return raw


@dataclass
class ArmModels:
    """One loaded model as an arm uses it: an engine to generate, a scorer for perplexity."""

    engine: TransformersEngine
    scorer: PerplexityScorer
    tokenizer: object


def _load_arm_models(brand, settings: dict, adapter: str | None) -> ArmModels:
    """Load the base model (+ adapter, merged) once, for both generating and scoring."""
    model, tokenizer = load_inference_model(settings["base_model"], adapter, settings["dtype"],
                                            brand.model.trust_remote_code)
    # Fewer threads than CPUs (settings["threads"]) for a shared machine: the engine splits
    # them between its worker batches.
    engine = TransformersEngine(model, tokenizer, batch_size=settings["batch_size"],
                                threads=settings["threads"] or None,
                                info={"base_model": settings["base_model"], "adapter": adapter})
    return ArmModels(engine, PerplexityScorer(model, tokenizer), tokenizer)


# --- report --------------------------------------------------------------------------------


@dataclass
class EvalContext:
    """What one ``stylegen eval`` run shares across its arms and describes in its report."""

    brand: BrandKit
    """The loaded brand kit."""
    arms: list[str]
    """The arms to run, in order (names in :data:`ARMS`)."""
    split: EvalSplit
    """The held-out records and the training pool."""
    shots: dict
    """Few-shot examples per eval record and task (:func:`choose_shots`)."""
    settings: dict
    """The resolved eval settings (base model, seed, attempts, batch size, adapter, ...)."""
    options: EvalOptions
    """What ``stylegen eval`` was asked to do."""
    voice: VoiceModel | None
    """The brand-voice model, None when there is none."""
    voice_info: dict
    """What the report says about the voice model (path, held-out AUC, calibration) or why there is none."""

    @property
    def references(self) -> dict:
        """The approved copy of the held-out records: ``{record id: fields}``."""
        return {r.id: r.fields for r in self.split.eval}


def build_report(ctx: EvalContext, raw: dict) -> dict:
    """Every figure of eval.json (``metrics`` repeat exactly for a seed; ``timing`` does not).

    Args:
        ctx: the run's brand, arms, split, few-shot examples, settings and voice model.
        raw: each arm's raw results (``run_arm``, plus its engine description).
    """
    brand, settings, references = ctx.brand, ctx.settings, ctx.references
    arm_reports = {name: _arm_report(ctx, name, raw[name], references) for name in ctx.arms}
    ref = text_metrics(brand, references, references, ctx.voice)
    report = {
        "format": "stylegen-eval/1",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "brand": {"name": brand.name, "path": str(brand.root.resolve()), "fingerprint": brand.fingerprint()},
        "settings": {k: v for k, v in settings.items() if k not in ("progress", "prompt_only_system")},
        "data": _data_summary(ctx),
        "prompt_only_system": settings["prompt_only_system"],
        "voice_model": ctx.voice_info,
        "references": {"voice_score": ref.get("voice_score"), "voice_by_task": ref.get("voice_by_task"),
                       "readability": {t: v["references"] for t, v in ref["readability"].items()}},
        "arms": arm_reports,
    }
    report["verdict"] = verdict(report)
    return report


def _arm_report(ctx: EvalContext, name: str, raw: dict, references: dict) -> dict:
    """One arm's part of the report: its metrics (repeatable) and its timing (wall clock)."""
    gen, outputs = generation_metrics(raw["run_dir"], ctx.brand, ctx.settings["price_per_1k_tokens"])
    timing = {k: gen.pop(k) for k in ("tokens_per_second", "generate_seconds")}
    timing["arm_seconds"] = round(raw["seconds"], 1)
    metrics = {"perplexity": raw["perplexity"]["perplexity"], "perplexity_detail": raw["perplexity"],
               **gen, **text_metrics(ctx.brand, outputs, references, ctx.voice)}
    return {"about": ARMS[name].about, "metrics": metrics, "timing": timing, "engine": raw["engine"],
            "run_dir": str(raw["run_dir"]), "example_prompt": raw["example_prompt"]}


def _data_summary(ctx: EvalContext) -> dict:
    """The records the report covers: eval ids, training pool size, few-shot example ids."""
    split, shots = ctx.split, ctx.shots
    return {"split": split.source, "eval_records": [r.id for r in split.eval], "train_records": len(split.train),
            "few_shot_ids": sorted({e["id"] for per in shots.values() for ex in per.values() for e in ex})}


def verdict(report: dict) -> str:
    """One line: how the adapter arm compares with the prompt-only arm."""
    arms = report["arms"]
    challenger = next((a for a in ("adapter", "adapter+few-shot") if a in arms), None)
    if challenger is None or "prompt-only" not in arms:
        return f"no verdict: it needs the prompt-only arm and an adapter arm (ran: {', '.join(arms)})"
    a, b = arms[challenger]["metrics"], arms["prompt-only"]["metrics"]
    compared = [(k, higher) for k, _, higher in VERDICT_METRICS if a.get(k) is not None and b.get(k) is not None]
    wins = sum(1 for k, higher in compared if (a[k] > b[k] if higher else a[k] < b[k]))
    share = (a["prompt_tokens_per_request"] / b["prompt_tokens_per_request"]
             if a.get("prompt_tokens_per_request") and b.get("prompt_tokens_per_request") else None)
    tokens = f" at {share:.0%} of the prompt tokens" if share is not None else ""
    return f"{challenger} beats prompt-only on {wins} of {len(compared)} metrics{tokens}"


# Table columns: metrics key, header, format.
COLUMNS = (
    ("perplexity", "perplexity ↓", "{:.2f}"),
    ("first_pass_rate", "1st-attempt pass ↑", "{:.0%}"),
    ("mean_attempts", "mean attempts ↓", "{:.2f}"),
    ("voice_score", "voice score ↑", "{:.2f}"),
    ("readability_gap", "readability gap ↓", "{:.1f}"),
    ("prompt_tokens_per_request", "prompt tokens/request ↓", "{:.0f}"),
    ("tokens_per_second", "gen tokens/s ↑", "{:.1f}"),
    ("tokens_per_1k_products", "tokens per 1k products ↓", "{:,.0f}"),
    ("cost_per_1k_products", "cost per 1k products ↓", "{:.2f}"),
)


def _cell(value, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def _arm_values(arm: dict) -> dict:
    return {**arm["metrics"], **arm["timing"]}


def format_table(report: dict) -> str:
    """The arms x metrics table (markdown)."""
    head = "| arm | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rows = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, arm in report["arms"].items():
        values = _arm_values(arm)
        rows.append(f"| {name} | " + " | ".join(_cell(values.get(k), f) for k, _, f in COLUMNS) + " |")
    ref = report["references"]
    rows.append("| approved copy (references) | n/a | n/a | n/a | " + _cell(ref.get("voice_score"), "{:.2f}")
                + " | 0.0 |" + " n/a |" * (len(COLUMNS) - 5))
    return "\n".join(rows)


def format_markdown(report: dict) -> str:
    """eval.md: settings, verdict, the table, the voice score's calibration, the method."""
    s, voice = report["settings"], report["voice_model"]
    lines = [f"# stylegen eval: {report['brand']['name']}", "", f"**Verdict: {report['verdict']}.**", "",
             format_table(report), "",
             f"- base model `{s['base_model']}`, adapter `{s['adapter']}`; seed {s['seed']}, max_attempts"
             f" {s['max_attempts']}, {s['shots']} few-shot examples, price per 1k tokens {s['price_per_1k_tokens']}",
             f"- {len(report['data']['eval_records'])} held-out records ({report['data']['split']}, --limit"
             f" {s['limit']}); few-shot pool: {report['data']['train_records']} training records",
             f"- total time {report['timing']['total_seconds']} s"]
    lines += ["", "## Arms", ""] + [f"- **{n}**: {a['about']}" for n, a in report["arms"].items()]
    lines += ["", "## Readability (mean per field: outputs / references)", "",
              "| arm | " + " | ".join(report["references"]["readability"]) + " |",
              "|---|" + "---|" * len(report["references"]["readability"])]
    for name, arm in report["arms"].items():
        read = arm["metrics"]["readability"]
        lines.append(f"| {name} | " + " | ".join(f"{_cell(v['outputs'], '{:.1f}')} / {_cell(v['references'], '{:.1f}')}"
                                                 for v in read.values()) + " |")
    lines += ["", "## Brand-voice score", ""] + _voice_lines(report, voice)
    lines += ["", "## Most frequent error-level findings (all attempts)", ""]
    for name, arm in report["arms"].items():
        fails = ", ".join(f"{r} ({n})" for r, n in arm["metrics"]["failures_by_rule"].items()) or "none"
        lines.append(f"- {name}: {fails}")
    lines += ["", "## The prompt-only arm's system turn", "", "```", report["prompt_only_system"] or "(not run)", "```",
              "", "How each metric is computed: docs/EVAL.md. Every figure is in eval.json; each arm's generate"
              " run (ledger, outputs, rejects, report) is in its folder.", ""]
    return "\n".join(lines)


def _voice_lines(report: dict, voice: dict) -> list[str]:
    if "path" not in voice:
        return [voice.get("note", "no voice model")]
    held = voice["held_out"]
    lines = [f"Model `{voice['path']}`: ROC AUC {voice['held_out_roc_auc']} separating held-out approved copy"
             f" ({held['approved']} texts) from contrast text ({held['contrast']} texts:"
             f" {', '.join(voice['contrast'] or [])}),"
             f" calibrated on {voice['calibration'].get('fitted_on')}.", "",
             "ROC AUC of references vs each arm's outputs (0.5: the score cannot tell them apart):", ""]
    for name, arm in report["arms"].items():
        lines.append(f"- {name}: {_cell(arm['metrics'].get('voice_auc_vs_references'), '{:.3f}')}")
    return lines


def write_chart(report: dict, path: Path) -> None:
    """eval.png: one small bar chart per metric, the arms side by side."""
    plt = pyplot()
    names = list(report["arms"])
    columns = [c for c in COLUMNS if any(_arm_values(a).get(c[0]) is not None for a in report["arms"].values())]
    fig, axes = plt.subplots(2, (len(columns) + 1) // 2, figsize=(3 * ((len(columns) + 1) // 2), 6), dpi=100)
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for ax, (key, title, fmt) in zip(axes.flat, columns):
        values = [_arm_values(report["arms"][n]).get(key) or 0 for n in names]
        bars = ax.bar(range(len(names)), values, color=colors[:len(names)])
        ax.bar_label(bars, labels=[_cell(v, fmt) for v in values], fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.suptitle(f"stylegen eval: {report['verdict']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(report: dict, out: Path) -> None:
    """eval.json, eval.md and eval.png in ``out``."""
    (out / EVAL_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n",
                                 encoding="utf-8")
    (out / EVAL_MD).write_text(format_markdown(report), encoding="utf-8")
    write_chart(report, out / EVAL_PNG)
