"""The adapter directory: what ``stylegen train`` writes and every other stage reads.

An adapter directory holds the PEFT files (``adapter_config.json``,
``adapter_model.safetensors``), the chat template, ``manifest.json`` (base model and
weights hash, data and brand-kit hashes, hyperparameters, versions, split, eval metrics),
``training_curve.png`` and a README model card. This module writes the parts that are
not PEFT's own, reads and checks them against a base model, and says when the brand's
approved copy has moved on since training (data drift).
"""
from __future__ import annotations

import json
from pathlib import Path

from stylegen.errors import ConfigError, DataError
from stylegen.models import model_info, weights_sha256
from stylegen.training.data import data_files, files_sha256

FORMAT = "stylegen-adapter/1"
MANIFEST = "manifest.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_sha256(adapter_dir: str | Path | None) -> str | None:
    """The identity of an adapter: one sha256 over its weight files (None: no adapter)."""
    return None if adapter_dir is None else weights_sha256(Path(adapter_dir))


def write_card(out: Path, manifest: dict) -> None:
    """Write ``manifest.json`` and the README model card into an adapter directory."""
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(manifest), encoding="utf-8")


def portable_adapter_config(out: Path, info: dict) -> None:
    """Name the upstream HF id as base model in adapter_config.json, not a local cache path,
    so PEFT and vLLM users elsewhere know which base to load (the manifest keeps the exact
    weights hash)."""
    path = out / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = info.get("upstream") or info["id"]
    path.write_text(json.dumps(config, indent=2) + "\n")
    for problem in vllm_problems(config):  # warn, not refuse: PEFT still loads it
        import warnings

        warnings.warn(f"{path}: {problem}", stacklevel=2)


VLLM_MAX_LORA_RANK = 16  # vLLM's default max_lora_rank (it accepts up to 512 when raised)


def vllm_problems(config: dict, max_rank: int = VLLM_MAX_LORA_RANK) -> list[str]:
    """Why vLLM could not serve an adapter with this ``adapter_config.json`` (empty: it can).

    vLLM refuses ``modules_to_save`` (full copies of layers) and ranks above its
    ``max_lora_rank`` (16 unless the server raises it, 512 at most).
    """
    problems = []
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save is {config['modules_to_save']!r}; vLLM serves LoRA weights only")
    ranks = [config.get("r", 0), *(config.get("rank_pattern") or {}).values()]
    if max(ranks) > max_rank:
        problems.append(f"LoRA rank {max(ranks)} is above vLLM's max_lora_rank {max_rank}")
    return problems


def model_card(manifest: dict) -> str:
    """The adapter's README: what it is, how it was made, how well it fits held-out copy."""
    ppl = manifest["eval"]["perplexity"]
    hp, tr, data = manifest["hyperparameters"], manifest["training"], manifest["data"]
    fit = (f"| base model | {ppl['base']['perplexity']} |\n| base + this adapter | {ppl['adapter']['perplexity']} |\n"
           if "base" in ppl else f"{ppl.get('note')}\n")
    upstream = f" (upstream: `{manifest['base_model']['upstream']}`)" if manifest["base_model"].get("upstream") else ""
    padding = f"{tr['padding_share']:.1%}" if tr["padding_share"] is not None else "n/a"
    return f"""# {manifest['brand']['name']} style adapter (stylegen)

A LoRA adapter that teaches `{manifest['base_model']['id']}` the written voice of
{manifest['brand']['name']}. Made by `stylegen train`; the task itself is asked for by a short
prompt at generation time (*fine-tune for style, prompt for task*).

## Use

```bash
stylegen generate --brand brand/ --catalog catalog.csv --out runs/nightly   # model.adapter in brand.yaml
```
In Python: `PeftModel.from_pretrained(base, "<this folder>")`. The prompts must be rendered
with `stylegen.kit.prompts` (short system line + task prompt) and the chat template in
`chat_template.jinja`, exactly as in training.

## Base model

- id: `{manifest['base_model']['id']}`{upstream}
- weights sha256: `{manifest['base_model']['weights_sha256']}`. `stylegen generate` refuses
  this adapter on any other base weights.

## Data

- {data['records']} records from {len(data['files'])} file(s) (sha256 `{data['sha256'][:16]}…`)
- {data['train_examples']} training / {data['eval_examples']} held-out examples (split by a hash
  of the record id), {len(data['excluded'])} excluded by the brand validators or as malformed,
  {len(data['duplicates'])} duplicates dropped.

## Training

- LoRA r={hp['r']}, alpha={hp['lora_alpha']}, dropout={hp['lora_dropout']}, modules
  {', '.join(hp['target_modules'])}, layers {hp['layers_to_transform'] or 'all'}
- {tr['global_step']} steps ({tr['epochs']} epochs), lr {hp['learning_rate']}, batch
  {hp['per_device_train_batch_size']}, {hp['precision']}, {hp['batching']} (padding
  {padding} of the tokens)
- loss: {hp['loss']}; wall time {tr['wall_time_s']} s; {tr['tokens_per_s']} tokens/s

![training curve](training_curve.png)

## Held-out fit (perplexity of the approved completion text, lower is better)

| model | perplexity |
|---|---|
{fit}
Everything else (every hyperparameter, library versions, the split, the excluded rows) is
in `manifest.json`.
"""


def read_manifest(adapter_dir: str | Path) -> dict:
    """The manifest of an adapter directory.

    Raises:
        ConfigError: the folder, its adapter files or its manifest are missing or unreadable.
    """
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise ConfigError(f"adapter {adapter_dir}: no such folder")
    missing = [f for f in ADAPTER_FILES + (MANIFEST,) if not (adapter_dir / f).is_file()]
    if missing:
        raise ConfigError(f"adapter {adapter_dir}: missing {', '.join(missing)} (train one with stylegen train)")
    try:
        manifest = json.loads((adapter_dir / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ConfigError(f"adapter {adapter_dir / MANIFEST}: not readable JSON: {exc}") from None
    if not isinstance(manifest, dict) or "base_model" not in manifest:
        raise ConfigError(f"adapter {adapter_dir / MANIFEST}: not a stylegen adapter manifest (no base_model)")
    return manifest


def check_adapter(adapter_dir: str | Path, base_model: str) -> dict:
    """Check that an adapter was trained on ``base_model``; return its manifest.

    Args:
        adapter_dir: the adapter folder.
        base_model: an embedded alias, HF id or local dir, or a weights sha256 (64 hex digits).

    Raises:
        ConfigError: the adapter was trained on other base weights (naming both).
    """
    manifest = read_manifest(adapter_dir)
    trained = manifest["base_model"]
    if _is_sha256(base_model):
        given = {"id": base_model, "weights_sha256": base_model.lower()}
    else:
        given = model_info(base_model)
    if given["weights_sha256"] != trained.get("weights_sha256"):
        raise ConfigError(
            f"adapter {adapter_dir} was trained on base model {trained.get('id')!r} (weights sha256"
            f" {str(trained.get('weights_sha256'))[:12]}…), but the base model is {given['id']!r} (weights sha256"
            f" {given['weights_sha256'][:12]}…); set model.base_model to {trained.get('id')!r} or train a new adapter"
            f" with stylegen train --base-model {given['id']}")
    return manifest


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def summary_line(manifest: dict, out: str | Path) -> str:
    """What ``stylegen train`` prints at the end: where the adapter is and how well it fits."""
    ppl, tr = manifest["eval"]["perplexity"], manifest["training"]
    fit = (f"held-out perplexity: base {ppl['base']['perplexity']} -> adapter {ppl['adapter']['perplexity']}"
           f" ({ppl['examples']} examples, {ppl['adapter']['tokens']} completion tokens)"
           if "base" in ppl else f"held-out perplexity: {ppl.get('note')}")
    return (f"adapter written to {out} ({tr['global_step']} steps, {tr['epochs']} epochs,"
            f" {tr['wall_time_s']} s)\n{fit}")


def adapter_data_drift(adapter_dir: str | Path, brand) -> str | None:
    """Say why an adapter no longer matches the brand's training data, or None when it does.

    The manifest records a sha256 of the files the adapter was trained on; a shipped
    adapter whose data has since changed still loads, but it no longer speaks for the
    approved copy, so the nightly job warns and says how to retrain.
    """
    trained = read_manifest(adapter_dir).get("data", {}).get("sha256")
    try:
        current = files_sha256(data_files(brand.resolve(brand.training.data)))
    except DataError:
        return None  # no training data next to the brand kit: nothing to compare with
    if not trained or trained == current:
        return None
    return (f"adapter {adapter_dir} was trained on other data (sha256 {trained[:12]}) than "
            f"{brand.training.data} holds now ({current[:12]}); retrain it with "
            f"`stylegen train --brand {brand.root} --out {adapter_dir} --overwrite`")
