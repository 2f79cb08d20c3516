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
    "BrandKit": "kit.brand", "load_brand": "kit.brand",
    "InitOptions": "init.kit", "InitResult": "init.kit", "init_brand": "init.kit",
    "Finding": "validation.findings", "LEVELS": "validation.findings",
    "Record": "validation.records", "read_records": "validation.records",
    "Rule": "validation.rules", "load_rules": "validation.rules", "check_brand_kit": "validation.rules",
    "Validator": "validation.validator", "ValidationReport": "validation.validator",
    "validate_paths": "validation.validator",
    "render_messages": "kit.prompts", "render_prompt": "kit.prompts", "render_example": "kit.prompts",
    "parse_completion": "kit.prompts",
    "load_model": "models", "resolve_model": "models", "prepare_model": "models",
    "prepare_dataset": "training.data", "train": "training.trainer",
    "read_manifest": "training.adapter", "check_adapter": "training.adapter",
    "Engine": "generation.engine", "GenRequest": "generation.engine", "GenResult": "generation.engine",
    "TransformersEngine": "generation.engine", "ScriptedEngine": "generation.engine",
    "load_engine": "generation.engine",
    "read_catalog": "catalog.rows", "Catalog": "catalog.rows",
    "GenerateOptions": "generation.run", "run_generate": "generation.run",
    "Claim": "validation.grounding", "ClaimTerm": "validation.grounding",
    "unsupported_claims": "validation.grounding", "load_claim_terms": "validation.grounding",
    "VoiceModel": "validation.voice", "load_voice_model": "validation.voice", "score_paths": "validation.voice",
    "fit_voice": "training.voice_fit", "generate_contrast": "generation.contrast",
    "load_corpus": "validation.corpus",
    "EvalOptions": "evaluation.evaluate", "run_eval": "evaluation.evaluate",
    "prompt_only_system": "evaluation.evaluate",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylegen' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
