"""stylegen: keep a brand's written voice consistent at scale.

The public API is re-exported here. Names load lazily, so ``import stylegen`` does not
import torch, transformers or spaCy.
"""
from __future__ import annotations

import importlib
import os

# OpenMP threads that busy-wait make torch many times slower when the CPU is shared
# (measured: a bf16 decode step 2-3 s instead of 0.15-0.2 s at load 8 on 2 cores).
# libgomp reads this once, when torch is first imported (spaCy imports it too), so it is
# set when the package is imported, before any heavy import; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "StylegenError": "errors", "ConfigError": "errors", "DataError": "errors",
    "BrandKit": "brand", "load_brand": "brand",
    "Finding": "findings", "LEVELS": "findings", "Record": "records", "read_records": "records",
    "Rule": "rules", "load_rules": "rules", "check_brand_kit": "rules",
    "Validator": "validate", "ValidationReport": "validate", "validate_paths": "validate",
    "render_messages": "prompts", "render_prompt": "prompts", "render_example": "prompts",
    "parse_completion": "prompts",
    "load_model": "models", "resolve_model": "models", "prepare_model": "models",
    "prepare_dataset": "data", "train": "train", "read_manifest": "train", "check_adapter": "train",
    "Engine": "engine", "GenRequest": "engine", "GenResult": "engine", "TransformersEngine": "engine",
    "ScriptedEngine": "engine", "load_engine": "engine",
    "read_catalog": "catalog", "Catalog": "catalog",
    "GenerateOptions": "generate", "run_generate": "generate",
    "Claim": "grounding", "ClaimTerm": "grounding", "unsupported_claims": "grounding",
    "load_claim_terms": "grounding",
    "VoiceModel": "voice", "load_voice_model": "voice", "fit_voice": "voice", "generate_contrast": "voice",
    "score_paths": "voice",
    "EvalOptions": "evaluate", "run_eval": "evaluate", "prompt_only_system": "evaluate",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylegen' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
