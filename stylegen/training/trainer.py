"""``stylegen train``: a LoRA brand-style adapter from approved copy, with HF Trainer.

The data is rendered by :mod:`stylegen.kit.prompts` (the renderer generation uses), prepared
by :mod:`stylegen.training.data` (validated, deduplicated, split by record-id hash) and trained
with completion-only loss: prompt tokens are masked, every completion token carries loss,
including the end-of-turn token ``<|im_end|>`` even though SmolLM2 also pads with it
(masking pad positions by id would teach the model never to stop).

The adapter directory holds the PEFT adapter, the chat template, ``manifest.json``
(everything needed to reproduce and to check compatibility), ``training_curve.png`` and
a README model card. Checkpoints live in ``<out>/checkpoints`` while training (for
``--resume``) and are removed when the run ends, unless ``keep_checkpoints``.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from stylegen.plotting import pyplot
from stylegen.versions import package_versions
from stylegen.compat.transformers import early_stopping, renamed_training_args
from stylegen.errors import ConfigError
from stylegen.kit.brand import BrandKit, load_brand, TrainingSettings
from stylegen.kit.config import load_dataclass, Problems
from stylegen.models import load_tokenizer, model_info, pick_dtype
from stylegen.training.scoring import completion_perplexity
from stylegen.training.collate import CompletionCollator, padding_share
from stylegen.training.adapter import ADAPTER_FILES, FORMAT, portable_adapter_config, write_card
from stylegen.training.data import example_dict, excluded_by_rule, PreparedData, prepare_dataset, tokenize


CHECKPOINTS = "checkpoints"
RUN_FILE = "stylegen-run.json"      # identity of an interrupted run, checked on --resume
LORA_SHAPE_KEYS = ("r", "target_modules", "layers_to_transform")
TRAINING_PACKAGES = ("torch", "transformers", "peft", "accelerate", "safetensors", "tokenizers")  # in the manifest


# --- settings ------------------------------------------------------------------


def apply_overrides(settings: TrainingSettings, overrides: dict | None) -> TrainingSettings:
    """``brand.training`` with CLI overrides (PEFT / TrainingSettings names) applied strictly.

    Raises:
        ConfigError: an unknown key or a value of the wrong type, naming the option.
    """
    if not overrides:
        return settings
    merged = {**dataclasses.asdict(settings), **overrides}
    problems = Problems("command line")
    result = load_dataclass(TrainingSettings, merged, problems, keypath="training")
    if problems or result is None:
        raise ConfigError(problems)
    return result


# --- model --------------------------------------------------------------------


def lora_config(settings: TrainingSettings):
    """PEFT LoraConfig from the training settings (PEFT's own names)."""
    from peft import LoraConfig

    return LoraConfig(r=settings.r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=list(settings.target_modules), task_type="CAUSAL_LM",
                      layers_to_transform=list(settings.layers_to_transform) if settings.layers_to_transform else None)


def _base_for_training(model_path: Path, use_bf16: bool, trust_remote_code: bool):
    """Base model in bf16 when the hardware does bf16 (frozen weights; LoRA stays fp32)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if use_bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=trust_remote_code)
    model.config.use_cache = False  # no KV cache while training
    return model


# --- callbacks -------------------------------------------------------------------


def _best_adapter_callback():
    """A TrainerCallback that keeps (in memory) the LoRA weights of the best eval loss."""
    from peft import get_peft_model_state_dict
    from transformers import TrainerCallback

    class BestAdapter(TrainerCallback):
        def __init__(self):
            self.best = None
            self.best_step = None
            self.weights = None

        def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
            loss = (metrics or {}).get("eval_loss")
            if loss is not None and model is not None and (self.best is None or loss < self.best):
                self.best, self.best_step = loss, state.global_step
                self.weights = {k: v.detach().clone().cpu() for k, v in get_peft_model_state_dict(model).items()}

    return BestAdapter()


# --- the run ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingJob:
    """The inputs of one training run, resolved by :func:`train` from the brand kit and its arguments."""

    brand: BrandKit
    """The loaded brand kit (``model.trust_remote_code``; name and fingerprint for the manifest)."""
    settings: TrainingSettings
    """``brand.training`` with the CLI overrides and the seed applied."""
    info: dict
    """:func:`stylegen.models.model_info` of the base model (``id``, ``path``, ``weights_sha256``, ...)."""
    tokenizer: object
    """The base model's tokenizer (pad token id, chat template)."""
    prepared: PreparedData
    """The validated, deduplicated training data and its train/eval split."""
    out: Path
    """The adapter directory; checkpoints go to ``out/checkpoints`` while training."""
    use_bf16: bool
    """bf16 base weights and autocast (the hardware does bf16), else fp32."""
    resume: bool = False
    """Continue from the last checkpoint in ``out/checkpoints``."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (None: train every epoch)."""
    progress: bool = True
    """Show the Trainer's progress bar."""
    echo: Callable[[str], object] = print
    """Where one-line status messages go."""

    @property
    def checkpoints(self) -> Path:
        """The checkpoint folder of the run."""
        return self.out / CHECKPOINTS

    @property
    def identity(self) -> dict:
        """Base weights, data and LoRA shape: what ``--resume`` checks against the interrupted run."""
        return {"base_weights_sha256": self.info["weights_sha256"], "data_sha256": self.prepared.data_sha256,
                **{k: getattr(self.settings, k) for k in LORA_SHAPE_KEYS}}


@dataclass
class FitResult:
    """What :func:`_fit` hands to the adapter directory and its manifest."""

    model: object
    """The PEFT model; it holds the best eval-loss LoRA weights when ``restored_best``."""
    trainer: object
    """The HF Trainer (its ``state``: global step, epoch, tokens seen, log history)."""
    result: object
    """``Trainer.train``'s TrainOutput (``metrics``: train loss and runtime)."""
    train_rows: list[dict]
    """Token rows of the training split (their lengths give the padding share)."""
    eval_rows: list[dict]
    """Token rows of the eval split, scored for perplexity; empty when there is no eval split."""
    resumed_from: str | None
    """Name of the checkpoint folder the run resumed from; None for a fresh run."""
    best_step: int | None
    """Optimizer step of the lowest eval loss (None without an eval split)."""
    best_eval_loss: float | None
    """The lowest eval loss seen (None without an eval split)."""
    restored_best: bool
    """The best eval-loss weights were put back because they were not the last step's."""
    threads: int
    """torch threads the run trained with."""


def train(brand_dir: str | Path, out: str | Path, data: str | Path | None = None, base_model: str | None = None,
          resume: bool = False, seed: int | None = None, max_steps: int | None = None,
          overrides: dict | None = None, overwrite: bool = False, keep_checkpoints: bool = False,
          progress: bool = True, echo=print) -> dict:
    """Train a LoRA style adapter and write the adapter directory ``out``.

    Args:
        brand_dir: brand kit folder (its ``training`` and ``model`` sections are the defaults).
        out: adapter directory to write.
        data: training data file or folder (default: ``training.data`` of the brand kit).
        base_model: embedded alias, HF id or local dir (default: ``model.base_model``).
        resume: continue from the last checkpoint in ``out/checkpoints``.
        seed: overrides ``training.seed``.
        max_steps: stop after this many optimizer steps (quick runs).
        overrides: TrainingSettings / PEFT names -> values (e.g. ``{"r": 8}``).
        overwrite: replace an existing adapter in ``out``.
        keep_checkpoints: leave ``out/checkpoints`` in place after the run.
        progress: show the progress bar.
        echo: where one-line status messages go.

    Returns:
        The manifest (also written to ``out/manifest.json``).

    Raises:
        ConfigError: bad settings, a model that cannot be found, or an output folder in use.
        DataError: no usable training data (with the reasons per file:line).
    """

    started = time.time()
    brand = load_brand(brand_dir)
    settings = apply_overrides(brand.training, {**(overrides or {}), **({"seed": seed} if seed is not None else {})})
    out = Path(out)
    _check_out_dir(out, resume, overwrite)
    info = model_info(base_model or brand.model.base_model)
    tokenizer = load_tokenizer(info["path"], trust_remote_code=brand.model.trust_remote_code)
    prepared = prepare_dataset(brand, tokenizer, data, settings)
    echo(prepared.summary())
    job = TrainingJob(brand=brand, settings=settings, info=info, tokenizer=tokenizer, prepared=prepared, out=out,
                      use_bf16=str(pick_dtype(brand.model.dtype)) == "torch.bfloat16", resume=resume,
                      max_steps=max_steps, progress=progress, echo=echo)
    manifest = _write_adapter(job, _fit(job), time.time() - started)
    if not keep_checkpoints:
        shutil.rmtree(job.checkpoints, ignore_errors=True)
    return manifest


def _check_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    has_adapter = any((out / f).exists() for f in ADAPTER_FILES)
    has_checkpoints = (out / CHECKPOINTS).is_dir() and any((out / CHECKPOINTS).glob("checkpoint-*"))
    if resume and not has_checkpoints:
        raise ConfigError(f"--resume: no checkpoint in {out / CHECKPOINTS} (run without --resume to start over)")
    if not resume and (has_adapter or has_checkpoints) and not overwrite:
        what = "an adapter" if has_adapter else "checkpoints of an unfinished run"
        raise ConfigError(f"{out}: already holds {what}; pass --resume to continue or --overwrite to start over")
    if overwrite and not resume:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)


def _check_resume(ckdir: Path, identity: dict) -> None:
    """A resumed run must have the same base model, data and LoRA shape as the interrupted one."""
    saved = json.loads((ckdir / RUN_FILE).read_text()) if (ckdir / RUN_FILE).is_file() else {}
    diffs = [k for k, v in identity.items() if k in saved and saved[k] != v]
    if diffs:
        raise ConfigError([f"--resume: {k} differs from the interrupted run ({saved[k]!r} -> {identity[k]!r});"
                           " run without --resume (and with --overwrite) to start over" for k in diffs])


def _fit(job: TrainingJob) -> FitResult:
    """Build the PEFT model and the Trainer, train, and return what the manifest needs."""
    import torch
    from transformers import set_seed

    set_seed(job.settings.seed)
    last = _start_checkpoints(job)
    train_rows = [_row(tokenize(job.tokenizer, e)) for e in job.prepared.train]
    eval_rows = [_row(tokenize(job.tokenizer, e)) for e in job.prepared.eval]
    best = _best_adapter_callback()
    model, trainer = _peft_trainer(job, train_rows, eval_rows, best)
    if last:
        job.echo(f"resuming from {last}")
    result = trainer.train(resume_from_checkpoint=last)
    restored = _restore_best(model, trainer, best, bool(eval_rows))
    return FitResult(model=model, trainer=trainer, result=result, train_rows=train_rows, eval_rows=eval_rows,
                     resumed_from=Path(last).name if last else None, best_step=best.best_step,
                     best_eval_loss=best.best, restored_best=restored, threads=torch.get_num_threads())


def _start_checkpoints(job: TrainingJob) -> str | None:
    """Make the checkpoint folder, record the run's identity there, and find the checkpoint to resume from.

    Raises:
        ConfigError: ``--resume`` of a run with another base model, data or LoRA shape.
    """
    from transformers.trainer_utils import get_last_checkpoint

    ckdir = job.checkpoints
    ckdir.mkdir(parents=True, exist_ok=True)
    last = get_last_checkpoint(str(ckdir)) if job.resume else None
    if job.resume:
        _check_resume(ckdir, job.identity)
    (ckdir / RUN_FILE).write_text(json.dumps(job.identity, indent=2))
    return last


def _peft_trainer(job: TrainingJob, train_rows: list[dict], eval_rows: list[dict], best):
    """The LoRA model on the base weights and its Trainer; returns ``(model, trainer)``."""
    from peft import get_peft_model
    from transformers import Trainer

    settings = job.settings
    base = _base_for_training(Path(job.info["path"]), job.use_bf16, job.brand.model.trust_remote_code)
    _check_layers(settings, base.config, job.info["id"])
    model = get_peft_model(base, lora_config(settings))
    # early stopping on eval loss; the best weights come back through the BestAdapter callback
    callbacks = [best] + ([early_stopping(settings.early_stopping_patience)] if eval_rows else [])
    args = _training_args(settings, job.checkpoints, job.use_bf16, job.max_steps, bool(eval_rows), job.progress)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows or None,
                      data_collator=CompletionCollator(job.tokenizer.pad_token_id, settings.pad_to_multiple_of),
                      callbacks=callbacks)
    return model, trainer


def _restore_best(model, trainer, best, has_eval: bool) -> bool:
    """Score the last step, then put back the best eval-loss weights when they are not the last step's.

    Returns:
        Whether the weights were restored.
    """
    from peft import set_peft_model_state_dict

    final_eval = _final_eval(trainer) if has_eval else {}
    best.on_evaluate(None, trainer.state, None, model=model, metrics=final_eval)
    restored = best.weights is not None and best.best_step != trainer.state.global_step
    if restored:  # early stopping or a late rise: ship the best eval-loss weights
        set_peft_model_state_dict(model, best.weights)
    return restored


def _check_layers(settings, config, model_id: str) -> None:
    n = getattr(config, "num_hidden_layers", None)
    bad = [i for i in settings.layers_to_transform or [] if n is not None and not 0 <= i < n]
    if bad:
        raise ConfigError(f"training.layers_to_transform: layer(s) {bad} do not exist in {model_id} (it has {n}"
                          f" layers, 0..{n - 1}); set layers_to_transform to existing layers, or null for all")


def _final_eval(trainer) -> dict:
    """Eval metrics at the last step: reuse the epoch-end evaluation when it ran at that step."""
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry:
            if entry.get("step") == trainer.state.global_step:
                return entry
            break
    return trainer.evaluate()


def _row(tokens: dict) -> dict:
    return {k: tokens[k] for k in ("input_ids", "labels", "attention_mask")}


def _training_args(settings, ckdir: Path, use_bf16: bool, max_steps, has_eval: bool, progress: bool):
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(ckdir), seed=settings.seed, data_seed=settings.seed,
        num_train_epochs=settings.num_train_epochs, max_steps=max_steps or -1,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        per_device_eval_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate, weight_decay=settings.weight_decay, lr_scheduler_type="cosine",
        bf16=use_bf16, use_cpu=not torch.cuda.is_available(),
        # length-grouped batches cut padding (see benchmarks/bench_train.py)
        **renamed_training_args(group_by_length=True, warmup_ratio=settings.warmup_ratio),
        eval_strategy="epoch" if has_eval else "no", metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False, save_strategy="steps", save_steps=settings.save_steps, save_total_limit=2,
        logging_steps=5, logging_first_step=True, report_to="none", disable_tqdm=not progress,
        remove_unused_columns=False, dataloader_num_workers=0, prediction_loss_only=True,
        include_num_input_tokens_seen="non_padding",
    )


# --- the adapter directory ---------------------------------------------------------


def _write_adapter(job: TrainingJob, fit: FitResult, wall_s: float) -> dict:
    """Write the adapter, its chat template, manifest, held-out copy, curve and card to ``job.out``.

    Returns:
        The manifest.
    """
    out = job.out
    fit.model.save_pretrained(str(out))
    portable_adapter_config(out, job.info)
    (out / "chat_template.jinja").write_text(job.tokenizer.chat_template, encoding="utf-8")
    manifest = _manifest(job, fit, wall_s, _perplexities(job, fit))
    with open(out / "eval_examples.jsonl", "w", encoding="utf-8") as fh:  # the held-out copy, for eval
        for example in job.prepared.eval:
            fh.write(json.dumps(example_dict(example)) + "\n")
    plot_curve(fit.trainer.state.log_history, out / "training_curve.png")
    write_card(out, manifest)
    return manifest


def _perplexities(job: TrainingJob, fit: FitResult) -> dict:
    rows, model, pad_id = fit.eval_rows, fit.model, job.tokenizer.pad_token_id
    if not rows:
        return {"note": "no eval split (too few records)"}
    batch = job.settings.per_device_train_batch_size
    tuned = completion_perplexity(model, rows, pad_id, batch, job.use_bf16)
    with model.disable_adapter():
        base = completion_perplexity(model, rows, pad_id, batch, job.use_bf16)
    return {"base": base, "adapter": tuned, "examples": len(rows),
            "reduction": round(1 - tuned["perplexity"] / base["perplexity"], 4)}


def _manifest(job: TrainingJob, fit: FitResult, wall_s: float, perplexity: dict) -> dict:
    """manifest.json: everything needed to reproduce the run and to check compatibility."""
    brand, settings, prepared = job.brand, job.settings, job.prepared
    return {
        "format": FORMAT,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "brand": {"name": brand.name, "fingerprint": brand.fingerprint(), "path": str(brand.root.resolve())},
        "base_model": {k: v for k, v in job.info.items() if k != "path"},
        "data": _data_section(prepared),
        "split": {"method": "sha256(record id) < eval_fraction", "eval_fraction": settings.eval_fraction,
                  **prepared.split_ids()},
        "hyperparameters": _hyperparameters(job, fit),
        "training": _training_section(job, fit, wall_s),
        "eval": {"eval_loss": [{"epoch": h.get("epoch"), "step": h["step"], "loss": h["eval_loss"]}
                               for h in fit.trainer.state.log_history if "eval_loss" in h],
                 "best_eval_loss": fit.best_eval_loss, "perplexity": perplexity},
        "versions": package_versions(TRAINING_PACKAGES, runtime=True),
        "files": {"adapter": list(ADAPTER_FILES), "chat_template": "chat_template.jinja",
                  "eval_examples": "eval_examples.jsonl", "curve": "training_curve.png", "card": "README.md"},
    }


def _data_section(prepared: PreparedData) -> dict:
    return {"files": prepared.files, "sha256": prepared.data_sha256, **prepared.stats,
            "train_examples": len(prepared.train), "eval_examples": len(prepared.eval),
            "excluded": prepared.excluded, "excluded_by_rule": excluded_by_rule(prepared.excluded),
            "duplicates": prepared.duplicates, "too_long": prepared.too_long,
            "warnings": prepared.warnings}


def _hyperparameters(job: TrainingJob, fit: FitResult) -> dict:
    settings = job.settings
    return {**dataclasses.asdict(settings), "max_steps": job.max_steps, "lr_scheduler_type": "cosine",
            "precision": "bf16 autocast, bf16 base weights" if job.use_bf16 else "fp32",
            "batching": "length-grouped (transformers LengthGroupedSampler), widths rounded to"
                        f" multiples of {settings.pad_to_multiple_of}",
            "loss": _loss_text(settings), "torch_threads": fit.threads}


def _loss_text(settings: TrainingSettings) -> str:
    """What carries loss, as the manifest and the card say it."""
    if settings.on_invalid == "mask":
        return ("completion tokens only, end-of-turn token included, less the tokens over spans that"
                " error-level rules mark (on_invalid: mask; the held-out perplexity skips them too)")
    return "completion tokens only, end-of-turn token included"


def _training_section(job: TrainingJob, fit: FitResult, wall_s: float) -> dict:
    state, metrics = fit.trainer.state, fit.result.metrics
    tokens_seen = int(state.num_input_tokens_seen or 0)
    runtime = metrics.get("train_runtime")
    return {"global_step": state.global_step, "epochs": round(state.epoch or 0, 3),
            "resumed_from": fit.resumed_from, "train_loss": round(metrics.get("train_loss", 0), 5),
            "train_runtime_s": round(runtime or 0, 1), "tokens_seen": tokens_seen,
            "tokens_per_s": round(tokens_seen / runtime, 1) if runtime else None,
            "padding_share": _padding_share(fit.train_rows, job.settings),
            "early_stopped": bool(state.global_step < state.max_steps),
            "best_step": fit.best_step, "restored_best": fit.restored_best,
            "wall_time_s": round(wall_s, 1),
            "loss_log": [{"step": h["step"], "loss": h["loss"]} for h in state.log_history if "loss" in h]}


def _padding_share(rows: list[dict], settings: TrainingSettings) -> float | None:
    """Share of pad tokens in the run's length-grouped batches (None without training rows)."""
    lengths = [len(r["input_ids"]) for r in rows]
    if not lengths:
        return None
    return round(padding_share(lengths, settings.per_device_train_batch_size, seed=settings.seed,
                               pad_to_multiple_of=settings.pad_to_multiple_of), 4)


def plot_curve(history: list[dict], path: Path) -> None:
    """Train and eval loss against the optimizer step, as a PNG."""
    plt = pyplot()
    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "eval_loss" not in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss", color="#4c72b0")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", color="#dd8452")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (completion tokens)")
    ax.set_title("stylegen train: loss per step")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
