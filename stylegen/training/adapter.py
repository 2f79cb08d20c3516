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
import re
from pathlib import Path

from stylegen.errors import ConfigError, DataError
from stylegen.models import model_info, weights_sha256
from stylegen.validation.corpus import data_files, files_sha256

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
{masked_line(data, hp.get('on_invalid'))}
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


def masked_line(data: dict, on_invalid: str | None) -> str:
    """The card's line on ``on_invalid`` (what happened to approved copy that failed a rule)."""
    masked = data.get("masked_tokens") or {}
    if on_invalid == "refuse":
        return "- on_invalid: refuse: no approved text had an error-level finding (training stops on one).\n"
    if on_invalid != "mask":
        return "- on_invalid: exclude: approved copy with an error-level finding was left out.\n"
    rules = ", ".join(f"{rule} {n}" for rule, n in masked.get("by_rule", {}).items()) or "none"
    return (f"- on_invalid: mask: {masked.get('total', 0)} completion tokens in"
            f" {len(masked.get('examples', []))} example(s) carried no loss (spans that error-level"
            f" rules mark, by rule: {rules}); copy with a finding without a span was left out.\n")


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
        verify_adapter_files(adapter_dir, _base_config(given))
    if given["weights_sha256"] != trained.get("weights_sha256"):
        raise ConfigError(
            f"adapter {adapter_dir} was trained on base model {trained.get('id')!r} (weights sha256"
            f" {str(trained.get('weights_sha256'))[:12]}…), but the base model is {given['id']!r} (weights sha256"
            f" {given['weights_sha256'][:12]}…); set model.base_model to {trained.get('id')!r} or train a new adapter"
            f" with stylegen train --base-model {given['id']}")
    return manifest


def verify_adapter_files(adapter_dir: str | Path, base_config: dict | None) -> None:
    """Check the adapter's files before any model loads: config readable, safetensors header
    parses, and every LoRA tensor's name and shape fit the base model's config.

    Args:
        adapter_dir: the adapter folder.
        base_config: the base model's ``config.json`` (None: shapes are not checked).

    Raises:
        ConfigError: naming the file and the tensor or key that is wrong.
    """
    adapter_dir = Path(adapter_dir)
    config = _json_file(adapter_dir / "adapter_config.json")
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ConfigError(f"adapter {adapter_dir / 'adapter_config.json'}: 'r' must be a positive integer,"
                          f" got {rank!r}")
    tensors = _safetensors_shapes(adapter_dir / "adapter_model.safetensors")
    if not any(".lora_" in name for name in tensors):
        raise ConfigError(f"adapter {adapter_dir / 'adapter_model.safetensors'}: holds no LoRA tensors")
    if base_config:
        expected = _module_dims(base_config)
        fixed_rank = None if config.get("rank_pattern") else rank
        for name, shape in tensors.items():
            _check_tensor(adapter_dir / "adapter_model.safetensors", name, shape, expected,
                          base_config.get("num_hidden_layers"), fixed_rank)


def _json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"adapter {path}: not readable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"adapter {path}: not a JSON object")
    return value


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors header (8-byte length + JSON), checked against the size."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 2 or 8 + length > size:
            raise ConfigError(f"adapter {path}: not a safetensors file (truncated or corrupt header)")
        try:
            header = json.loads(fh.read(length).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"adapter {path}: safetensors header is not valid JSON (corrupt file)") from None
    shapes, end = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            shapes[name], end = list(info["shape"]), max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise ConfigError(f"adapter {path}: tensor {name!r} has no shape/data_offsets (corrupt header)") from None
    if 8 + length + end > size:
        raise ConfigError(f"adapter {path}: truncated: the header describes {8 + length + end} bytes,"
                          f" the file has {size}")
    return shapes


def _base_config(info: dict) -> dict | None:
    path = Path(info.get("path") or "") / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (ValueError, OSError):
        return None


def _module_dims(cfg: dict) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each Llama-family projection from the base config."""
    hidden, inter = cfg.get("hidden_size"), cfg.get("intermediate_size")
    heads = cfg.get("num_attention_heads")
    if not (hidden and inter and heads):
        return {}
    head_dim = cfg.get("head_dim") or hidden // heads
    kv = (cfg.get("num_key_value_heads") or heads) * head_dim
    return {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv), "v_proj": (hidden, kv),
            "o_proj": (heads * head_dim, hidden), "gate_proj": (hidden, inter), "up_proj": (hidden, inter),
            "down_proj": (inter, hidden)}


_LORA_NAME = re.compile(r"\.layers\.(\d+)\..*?(\w+)\.lora_([AB])(?:\.\w+)?\.weight$")


def _check_tensor(path: Path, name: str, shape: list[int], dims: dict, layers, rank) -> None:
    match = _LORA_NAME.search(name)
    if not match:
        return  # embeddings/norms saved with the adapter: PEFT checks those at load
    layer, module, side = int(match.group(1)), match.group(2), match.group(3)
    if isinstance(layers, int) and layer >= layers:
        raise ConfigError(f"adapter {path}: tensor {name!r} is for layer {layer}, but the base model has"
                          f" {layers} layers (trained on another base model?)")
    if module not in dims or len(shape) != 2:
        return
    fan_in, fan_out = dims[module]
    want = [rank or shape[0], fan_in] if side == "A" else [fan_out, rank or shape[1]]
    if shape != want:
        raise ConfigError(f"adapter {path}: tensor {name!r} has shape {shape}, the base model's config needs"
                          f" {want} (hidden/intermediate size or r do not match)")


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
