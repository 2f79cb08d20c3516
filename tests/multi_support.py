"""Helpers for the multi-brand tests: small random LoRA adapters for the tiny model, with a
stylegen manifest (so ``check_adapter`` accepts them), built with PEFT on the spot."""
from __future__ import annotations

import json
from pathlib import Path


def make_adapter(out: Path, base_model_dir: Path, seed: int, targets=("q_proj", "v_proj")) -> Path:
    """A random-init LoRA adapter (``init_lora_weights=False``: it changes the output) in ``out``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stylegen.models import model_info

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_model_dir),
                           LoraConfig(r=4, lora_alpha=16, target_modules=list(targets), init_lora_weights=False))
    model.save_pretrained(out)
    info = {k: v for k, v in model_info(str(base_model_dir)).items() if k != "path"}
    (out / "manifest.json").write_text(json.dumps({"format": "stylegen-adapter/1", "base_model": info}))
    return out
